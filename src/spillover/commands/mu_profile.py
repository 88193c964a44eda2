"""``spillover table mu-profile`` and ``spillover plot mu-profile``."""

from __future__ import annotations

import typer

from spillover.commands.options import (
    DbOption,
    FormatOption,
    PlotOutput,
    PresetFilter,
    check_choice,
    check_preset_name,
    check_plot_output,
)
from spillover.errors import InputError


def _rows(db: str | None, preset: str | None) -> list[dict]:
    from spillover.analysis.mu_profile import profile_rows
    from spillover.store import connect

    rows = profile_rows(connect(db, create=False), preset=preset)
    if not rows:
        raise InputError("--db", "no O chemical-potential profile stored", "run 'spillover run STUDY --only mu-profile' first")
    return rows


def register(app: typer.Typer, table_app: typer.Typer, plot_app: typer.Typer) -> None:
    """Add the profile commands to the CLI."""

    @table_app.command("mu-profile")
    def table_mu_profile(db: DbOption = None, fmt: FormatOption = "md", preset: PresetFilter = None) -> None:
        """Table 4: O binding energy E_b per region, layer and site, with the spillover verdict per support."""
        check_preset_name("--preset", preset)

        from spillover.analysis.mu_profile import COLUMNS, summary_lines
        from spillover.analysis.tables import FORMATS, render

        check_choice("--format", fmt, FORMATS)
        rows = _rows(db, preset)
        typer.echo(render(rows, COLUMNS, fmt))
        if fmt == "md":
            typer.echo("\nE_b = E(with O) - E(without O) - 1/2 E(O2); 'corr.' adds the fitted O2 correction when stored.")
            for line in summary_lines(rows):
                typer.echo(line)

    @plot_app.command("mu-profile")
    def plot_mu_profile(output: PlotOutput, db: DbOption = None, preset: PresetFilter = None) -> None:
        """E_b along surface -> support layers -> interface -> Ru bulk -> Ru surface, both supports."""
        check_preset_name("--preset", preset)

        from spillover.analysis.mu_profile import plot_profile

        check_plot_output(output)
        plot_profile(_rows(db, preset), str(output))
        typer.echo(str(output))
