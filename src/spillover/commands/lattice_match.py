"""``spillover table lattice-match`` and ``spillover table lattice-scan``."""

from __future__ import annotations

import typer

from spillover.commands.options import (
    DbOption,
    FormatOption,
    PresetFilter,
    check_choice,
    check_preset_name,
    print_table,
)


def register(app: typer.Typer, table_app: typer.Typer, plot_app: typer.Typer) -> None:
    """Add the lattice-match tables to the CLI."""

    @table_app.command("lattice-match")
    def table_lattice_match(db: DbOption = None, fmt: FormatOption = "md", preset: PresetFilter = None) -> None:
        """Table 1: each system cell's supercell, area, strains and von Mises strain per film, with job ids."""
        check_preset_name("--preset", preset)

        from spillover.analysis.lattice_match import COLUMNS, lattice_match_rows
        from spillover.analysis.tables import FORMATS
        from spillover.store import connect

        check_choice("--format", fmt, FORMATS)
        print_table(lattice_match_rows(connect(db, create=False), preset=preset), COLUMNS, fmt,
                    ("--db", "no system cells stored", "run 'spillover run STUDY' first"), preset=preset)

    @table_app.command("lattice-scan")
    def table_lattice_scan(db: DbOption = None, fmt: FormatOption = "md", preset: PresetFilter = None) -> None:
        """The best coincidence of each film facet on each support facet, at the stored relaxed lattices."""
        check_preset_name("--preset", preset)

        from spillover.analysis.lattice_match import SCAN_COLUMNS, stored_scan_rows
        from spillover.analysis.tables import FORMATS
        from spillover.store import connect

        check_choice("--format", fmt, FORMATS)
        print_table(stored_scan_rows(connect(db, create=False), preset=preset), SCAN_COLUMNS, fmt,
                    ("--db", "no lattice scan stored", "run 'spillover run STUDY', or 'spillover build scan'"), preset=preset)
