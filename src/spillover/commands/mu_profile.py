"""``spillover table mu-profile``, ``table transfer``, ``verdict``, ``plot mu-profile`` and ``plot transfer``."""

from __future__ import annotations

import json

import typer

from spillover.commands.options import (
    DbOption,
    FormatOption,
    PlotOutput,
    PresetFilter,
    SystemFilter,
    check_choice,
    check_plot_output,
    check_preset_name,
    no_rows,
)
from spillover.errors import InputError

NO_PROFILE = ("--db", "no O level along the path stored", "run 'spillover run STUDY --only mu-profile' first")
NO_TRANSFER = ("--db", "no transfer energies stored", "run 'spillover run STUDY --only mu-profile' first")


def _check_system(store, system: str | None) -> None:
    """An unknown --system is an input error naming the stored systems."""
    if system is None:
        return
    from spillover.analysis.query import newest_documents

    known = sorted({d["output"]["system"] for d in newest_documents(store, "mu-profile", lambda o: o["system"],
                                                                   properties=["output.system"])})
    if system not in known:
        raise InputError("--system", f"no profile of {system!r} stored", ", ".join(known) or "none stored")


def _store(db: str | None, preset: str | None, system: str | None):
    from spillover.store import connect

    check_preset_name("--preset", preset)
    store = connect(db, create=False)
    _check_system(store, system)
    return store


def register(app: typer.Typer, table_app: typer.Typer, plot_app: typer.Typer) -> None:
    """Add the profile, transfer and verdict commands to the CLI."""

    @table_app.command("mu-profile")
    def table_mu_profile(db: DbOption = None, fmt: FormatOption = "md", preset: PresetFilter = None,
                         system: SystemFilter = None) -> None:
        """O level E_b of every computed site along support bulk -> interface -> Ru, per system, with job ids."""
        from spillover.analysis.mu_profile import COLUMNS, PROFILE_JSON_KEYS, notes, profile_rows
        from spillover.analysis.tables import FORMATS, render

        check_choice("--format", fmt, FORMATS)
        store = _store(db, preset, system)
        rows = profile_rows(store, preset=preset, system=system)
        if not rows:
            no_rows(NO_PROFILE, COLUMNS, fmt, preset=preset, system=system)
        if fmt == "json":
            typer.echo(json.dumps([{k: r[k] for k in PROFILE_JSON_KEYS} for r in rows], indent=2))
            return
        typer.echo(render(rows, COLUMNS, fmt))
        if fmt == "md":
            typer.echo("")
            for line in notes(store, rows, preset):
                typer.echo(line)

    @table_app.command("transfer")
    def table_transfer(db: DbOption = None, fmt: FormatOption = "md", preset: PresetFilter = None,
                       system: SystemFilter = None) -> None:
        """Transfer energies dE(k -> j) of lattice O of support layer k into site j, per system (no O2 reference)."""
        from spillover.analysis.mu_profile import TRANSFER_COLUMNS, TRANSFER_JSON_KEYS, transfer_rows
        from spillover.analysis.tables import FORMATS, render

        check_choice("--format", fmt, FORMATS)
        rows = transfer_rows(_store(db, preset, system), preset=preset, system=system)
        if not rows:
            no_rows(NO_TRANSFER, TRANSFER_COLUMNS, fmt, preset=preset, system=system)
        if fmt == "json":
            typer.echo(json.dumps([{k: r[k] for k in TRANSFER_JSON_KEYS} for r in rows], indent=2))
            return
        typer.echo(render(rows, TRANSFER_COLUMNS, fmt))

    @app.command("verdict")
    def verdict(db: DbOption = None, fmt: FormatOption = "md", preset: PresetFilter = None,
                system: SystemFilter = None) -> None:
        """Per system: does it show bulk O spillover? Deep transfer, barrier, thresholds and the numbers behind it."""
        from spillover.analysis.mu_profile import VERDICT_COLUMNS, verdicts
        from spillover.analysis.tables import render
        from spillover.analysis.verdict import thresholds_line, verdict_line
        from spillover.sections.mu_profile import VerdictSettings

        check_choice("--format", fmt, ("md", "json"))
        rows = verdicts(_store(db, preset, system), preset=preset, system=system)
        if not rows:
            no_rows(NO_PROFILE, VERDICT_COLUMNS, fmt, preset=preset, system=system)
        if fmt == "json":
            keys = ("system", "transfer_dE_eV", "E_eff_eV", "signature", "reason", "deep_transfer_eV",
                    "deep_from_layer", "deep_to_site", "rate_per_s", "thresholds", "job_ids", "preset")
            typer.echo(json.dumps([{k: r[k] for k in keys} for r in rows], indent=2))
            return
        typer.echo(render(rows, VERDICT_COLUMNS, "md"))
        typer.echo("")
        for settings in {json.dumps({k: v for k, v in r["thresholds"].items() if k in VerdictSettings.model_fields},
                                    sort_keys=True) for r in rows}:
            typer.echo(thresholds_line(VerdictSettings(**json.loads(settings))))
        for r in rows:
            typer.echo(verdict_line(r) + ("; job ids " + " ".join(u[:8] for u in r["job_ids"]) if r["job_ids"] else ""))

    @plot_app.command("mu-profile")
    def plot_mu_profile(output: PlotOutput, db: DbOption = None, preset: PresetFilter = None,
                        system: SystemFilter = None) -> None:
        """Every computed site's E_b along the path, the systems side by side, occupied and empty marked apart."""
        from spillover.analysis.mu_profile import plot_profile, profile_rows

        check_plot_output(output)
        rows = profile_rows(_store(db, preset, system), preset=preset, system=system)
        if not any(r["E_b_eV"] is not None for r in rows):
            raise InputError(*NO_PROFILE)
        plot_profile(rows, str(output))
        typer.echo(str(output))

    @plot_app.command("transfer")
    def plot_transfer(output: PlotOutput, db: DbOption = None, preset: PresetFilter = None,
                      system: SystemFilter = None) -> None:
        """dE(k -> j) versus the depth k of the moved O, per system."""
        from spillover.analysis.mu_profile import plot_transfer as draw
        from spillover.analysis.mu_profile import transfer_rows

        check_plot_output(output)
        rows = transfer_rows(_store(db, preset, system), preset=preset, system=system)
        if not any(r["dE_eV"] is not None for r in rows):
            raise InputError(*NO_TRANSFER)
        draw(rows, str(output))
        typer.echo(str(output))
