"""``spillover table fidelity``: the screen ranking of each funnel's survivors against its DFT stage."""

from __future__ import annotations

import typer

from spillover.commands.options import (
    DbOption,
    FormatOption,
    PresetFilter,
    SystemFilter,
    check_choice,
    check_preset_name,
    print_table,
)

NO_FIDELITY = ("--db", "no funnel with a DFT stage stored",
               "set funnel.dft_preset in the study (e.g. oxidation.funnel.dft_preset: gpaw-test) and run it")


def register(app: typer.Typer, table_app: typer.Typer, plot_app: typer.Typer) -> None:
    """Add ``table fidelity`` to the CLI."""

    @table_app.command("fidelity")
    def table_fidelity(db: DbOption = None, fmt: FormatOption = "md", preset: PresetFilter = None,
                       system: SystemFilter = None) -> None:
        """Per funnel with a DFT stage: screen vs DFT energies of its survivors, same best, Spearman rho, max diff."""
        check_preset_name("--preset", preset)

        from spillover.analysis.fidelity import COLUMNS, FIDELITY_JSON_KEYS, fidelity_rows
        from spillover.analysis.tables import FORMATS
        from spillover.store import connect

        check_choice("--format", fmt, FORMATS)
        rows = fidelity_rows(connect(db, create=False), preset=preset, system=system)
        if fmt == "json":
            rows = [{k: r[k] for k in FIDELITY_JSON_KEYS} for r in rows]
        print_table(rows, COLUMNS, fmt, NO_FIDELITY, preset=preset, system=system)
