"""``spillover table oxidation``, ``table o2-reference`` and ``plot oxidation``."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from spillover.commands.options import (
    DbOption,
    FormatOption,
    PlotOutput,
    PresetFilter,
    check_choice,
    check_preset_name,
    check_plot_output,
    check_range,
    no_rows,
    print_table,
)
from spillover.sections.base import PRESSURE, TEMPERATURE

SUPPORTS = ("rutile-110", "anatase-101", "rutile-110/RuO2-110", "anatase-101/RuO2-110")
REFERENCE_HELP = "O reference: stored (the study's choice), raw (1/2 E(O2)) or corrected (fitted shift)."


def check_filters(T: float, p: float, support: Optional[str], reference: str,
                  fields: tuple[str, str, str, str] = ("--temperature", "--pressure", "--support", "--reference"),
                  ) -> None:
    """Raise InputError naming the option (``fields``: T, p, support, reference) that is out of range or unknown."""
    from spillover.analysis.oxidation import REFERENCES

    check_range(fields[0], T, TEMPERATURE)
    check_range(fields[1], p, PRESSURE)
    if support is not None:
        check_choice(fields[2], support, SUPPORTS)
    check_choice(fields[3], reference, REFERENCES)


def register(app: typer.Typer, table_app: typer.Typer, plot_app: typer.Typer) -> None:
    """Add the oxidation commands to the CLI."""

    @table_app.command("oxidation")
    def table_oxidation(
        db: DbOption = None,
        fmt: FormatOption = "md",
        T: Annotated[float, typer.Option("--temperature", "-T", "--T", help=f"Temperature that sets dmu_O ({TEMPERATURE.text}).")] = 300.0,
        p: Annotated[float, typer.Option("--pressure", "-p", "--p", help=f"O2 pressure that sets dmu_O ({PRESSURE.text}).")] = 1.0,
        preset: PresetFilter = None,
        support: Annotated[Optional[str], typer.Option(help="Only this support: " + ", ".join(SUPPORTS) + ".")] = None,
        reference: Annotated[str, typer.Option(help=REFERENCE_HELP)] = "stored",
    ) -> None:
        """Table 2: gamma(interfacial), gamma(surface) and dgamma per support and n O, with job ids."""
        check_preset_name("--preset", preset)

        from spillover.analysis.oxidation import COLUMNS, ONSET_COLUMNS, onset_rows, oxidation_rows
        from spillover.analysis.tables import FORMATS, render
        from spillover.store import connect

        check_choice("--format", fmt, FORMATS)
        check_filters(T, p, support, reference)
        store = connect(db, create=False)
        rows = oxidation_rows(store, T=T, p_bar=p, preset=preset, support=support, reference=reference)
        if not rows:
            no_rows(("--db", "no oxidation results stored", "run 'spillover run STUDY --only oxidation' first"),
                    COLUMNS, fmt, preset=preset, support=support)
        typer.echo(render(rows, COLUMNS, fmt))
        if fmt == "md":
            notes = sorted({(r["support"], r["dmu_O_eV"], r["o2_reference"], r["o2_shift_eV_per_O"]) for r in rows})
            text = "; ".join(f"{sup}: dmu_O = {dmu:+.3f} eV, O reference {ref} (shift {shift:+.3f} eV/O)"
                             for sup, dmu, ref, shift in notes)
            flags = list({r["job_ids"][k]: r["converged"][k] for r in rows for k in ("clean", "interface", "surface")
                          if r["job_ids"][k]}.values())
            unconverged = f" {flags.count(False)} of {len(flags)} relaxations behind these rows stopped at the step " \
                "limit before reaching fmax." if False in flags else ""
            typer.echo(f"\nT = {T:g} K, p(O2) = {p:g} bar. {text}. Δγ < 0: oxidation starts at the buried interface."
                       f"{unconverged}\n")
            typer.echo(render(onset_rows(store, preset=preset, support=support, reference=reference), ONSET_COLUMNS, "md"))

    @table_app.command("o2-reference")
    def table_o2_reference(
        db: DbOption = None,
        fmt: FormatOption = "md",
        preset: PresetFilter = None,
    ) -> None:
        """The O2 correction: computed (raw, corrected) and experimental formation energies of the oxides."""
        check_preset_name("--preset", preset)

        from spillover.analysis.oxidation import O2_COLUMNS, o2_reference_rows
        from spillover.analysis.tables import FORMATS
        from spillover.store import connect

        check_choice("--format", fmt, FORMATS)
        print_table(o2_reference_rows(connect(db, create=False), preset=preset), O2_COLUMNS, fmt,
                    ("--db", "no O2 correction stored", "run a study with oxygen.correction: true"))

    @plot_app.command("oxidation")
    def plot_oxidation(
        output: PlotOutput,
        db: DbOption = None,
        preset: PresetFilter = None,
        support: Annotated[Optional[str], typer.Option(help="Only this support: " + ", ".join(SUPPORTS) + ".")] = None,
        reference: Annotated[str, typer.Option(help=REFERENCE_HELP)] = "stored",
    ) -> None:
        """gamma versus dmu_O for each support, interfacial and surface O, with T at 1 bar on top."""
        check_preset_name("--preset", preset)

        from spillover.analysis.oxidation import plot_oxidation as plot
        from spillover.store import connect

        check_filters(300.0, 1.0, support, reference)
        check_plot_output(output)
        path = plot(connect(db, create=False), output, preset=preset, support=support, reference=reference)
        typer.echo(str(path))
