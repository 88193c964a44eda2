"""The ``spillover`` command line. Heavy libraries are imported inside commands so --help is instant."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from spillover.commands.options import DbOption, FormatOption, JsonOption, check_choice
from spillover.analyses import ANALYSES, ANALYSIS_NAMES
from spillover.errors import InputError

app = typer.Typer(
    help="Bulk oxygen spillover at Ru/TiO2: build models, run studies, query results.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
build_app = typer.Typer(help="Build bulk, slab and interface structures.", no_args_is_help=True)
table_app = typer.Typer(help="Print the tables a paper shows, from the results database.", no_args_is_help=True)
plot_app = typer.Typer(help="Plot results from the database (png or svg).", no_args_is_help=True)
app.add_typer(build_app, name="build")
app.add_typer(table_app, name="table")
app.add_typer(plot_app, name="plot")

OutputOption = Annotated[
    Optional[Path], typer.Option("--output", "-o", help="Write the structure here; format from the extension.")
]


def _write_structure(atoms, output: Path | None) -> None:
    if output is None:
        return
    from ase.io import write
    from ase.io.formats import UnknownFileTypeError

    if not output.parent.exists():
        raise InputError("--output", f"directory {output.parent} does not exist")
    try:
        write(output, atoms)
    except UnknownFileTypeError:
        raise InputError("--output", f"unknown structure format for {output.name}", "e.g. .cif, .xyz, .vasp, .traj") from None


def _emit(report: dict, as_json: bool, title: str) -> None:
    if as_json:
        typer.echo(json.dumps(report))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_header=False)
    for key, value in report.items():
        table.add_row(key, str(value))
    Console().print(table)


@build_app.command("bulk")
def build_bulk(
    name: Annotated[str, typer.Argument(help="rutile, anatase, RuO2, Ru or Ti.")],
    output: OutputOption = None,
    as_json: JsonOption = False,
) -> None:
    """A bulk crystal at the experimental lattice (structures/*.cif)."""
    from spillover.build.bulk import load_bulk
    from spillover.build.reports import bulk_report

    atoms = load_bulk(name)
    _write_structure(atoms, output)
    _emit(bulk_report(name, atoms), as_json, f"bulk {name}")


@build_app.command("slab")
def build_slab(
    name: Annotated[str, typer.Argument(help="rutile-110, anatase-101, RuO2-110, Ru-0001 or <bulk>-<hkl>.")],
    output: OutputOption = None,
    repeat: Annotated[tuple[int, int], typer.Option(help="In-plane repeat of the surface cell.")] = (1, 1),
    layers: Annotated[int, typer.Option(help="Layers (trilayers for the oxides).")] = 3,
    vacuum: Annotated[float, typer.Option(help="Vacuum thickness (Å).")] = 12.0,
    fixed_layers: Annotated[int, typer.Option(help="Bottom layers held fixed.")] = 1,
    as_json: JsonOption = False,
) -> None:
    """A slab with a layer index on every atom and fixed bottom layers."""
    from spillover.build.reports import slab_report
    from spillover.build.slabs import make_slab

    atoms = make_slab(name, repeat=repeat, layers=layers, vacuum=vacuum, fixed_layers=fixed_layers)
    _write_structure(atoms, output)
    _emit(slab_report(name, atoms), as_json, f"slab {name}")


@build_app.command("interface")
def build_interface(
    support: Annotated[str, typer.Argument(help="rutile-110 or anatase-101.")],
    films: Annotated[list[str], typer.Argument(help="Film(s) from the support outwards: Ru-0001, RuO2-110.")],
    output: OutputOption = None,
    max_area: Annotated[float, typer.Option(help="Largest matched area (Å²).")] = 120.0,
    max_strain: Annotated[float, typer.Option(help="Largest |strain| along either direction (%).")] = 6.0,
    support_layers: Annotated[int, typer.Option(help="Support trilayers.")] = 3,
    vacuum: Annotated[float, typer.Option(help="Vacuum thickness (Å).")] = 12.0,
    gap: Annotated[
        Optional[float], typer.Option(help="Distance between parts (Å) [default: lattice continuation for RuO2, else 2].")
    ] = None,
    fixed_layers: Annotated[int, typer.Option(help="Bottom support layers held fixed.")] = 1,
    as_json: JsonOption = False,
) -> None:
    """A lattice-matched interface (pymatgen ZSL) with its match report."""
    from spillover.build.interfaces import make_interface

    if max_area <= 0:
        raise InputError("--max-area", f"must be > 0, got {max_area}")
    if max_strain <= 0:
        raise InputError("--max-strain", f"must be > 0, got {max_strain}")
    atoms, report = make_interface(
        support,
        films,
        max_area=max_area,
        max_strain_percent=max_strain,
        support_layers=support_layers,
        vacuum=vacuum,
        gap=gap,
        fixed_layers=fixed_layers,
    )
    _write_structure(atoms, output)
    _emit(report.to_dict(), as_json, f"interface {'/'.join([support, *films])}")


@build_app.command("scan")
def build_scan(
    max_area: Annotated[float, typer.Option(help="Largest coincidence area (Å²).")] = 120.0,
    max_strain: Annotated[float, typer.Option(help="Largest |strain| along either direction (%).")] = 6.0,
    fmt: FormatOption = "md",
) -> None:
    """The lattice-match scan at the experimental lattices: every film facet on every support facet."""
    from spillover.analysis.lattice_match import SCAN_COLUMNS, scan_rows
    from spillover.analysis.tables import FORMATS, render
    from spillover.build.scan import lattice_scan

    check_choice("--format", fmt, FORMATS)
    rows = [r.to_dict() for r in lattice_scan(max_area=max_area, max_strain_percent=max_strain)]
    typer.echo(render(scan_rows(rows, max_area, {"lattices": "experimental"}), SCAN_COLUMNS, fmt))


@app.command("run")
def run(
    study_file: Annotated[Path, typer.Argument(metavar="STUDY", help="Study file, e.g. workflows/ru_tio2_spillover.yaml.")],
    preset: Annotated[Optional[str], typer.Option(help="Calculator preset [default: the study's].")] = None,
    db: DbOption = None,
    only: Annotated[Optional[str], typer.Option(help="Run only this analysis (and the shared jobs it needs): "
                                                 + ", ".join(ANALYSIS_NAMES) + ".")] = None,
    scratch: Annotated[Optional[Path], typer.Option(help="Directory for job folders [default: $SPILLOVER_SCRATCH].")] = None,
) -> None:
    """Run a study locally with jobflow, store every result, print each analysis's tables."""
    from spillover.plan import preflight
    from spillover.study import load_study

    study = load_study(study_file)
    if only is not None:
        check_choice("--only", only, ANALYSIS_NAMES)
        study = study.model_copy(update={"analyses": [only]})
    preset_name = preset or study.preset
    preflight(study, preset_name, scratch)

    from spillover.runner import run_study

    code = run_study(study, preset_name, db=db, scratch=scratch)
    raise typer.Exit(code)


@app.command("results")
def results(
    db: DbOption = None,
    limit: Annotated[int, typer.Option(help="Show the newest N results (0 = all).")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List what is stored: job name, preset, energy, when."""
    from spillover.analysis.listing import result_rows
    from spillover.store import connect

    if limit < 0:
        raise InputError("--limit", f"must be >= 0, got {limit}")
    rows = result_rows(connect(db, create=False), limit=limit)
    if as_json:
        typer.echo(json.dumps(rows))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(rows)} stored results (newest first)")
    for header in ("completed", "job", "model", "preset", "energy (eV)", "fmax (eV/Å)", "job id"):
        table.add_column(header)
    for r in rows:
        energy = "-" if r["energy_eV"] is None else f"{r['energy_eV']:.4f}"
        fmax = "-" if r["max_force_eV_per_A"] is None else f"{r['max_force_eV_per_A']:.3f}"
        table.add_row(r["completed_at"][:19], r["name"], r["label"], r["preset"], energy, fmax, r["job_id"][:8])
    Console(width=160).print(table)


@app.command("presets")
def presets(name: Annotated[Optional[str], typer.Argument(help="Show this preset fully resolved.")] = None) -> None:
    """List calculator presets, or print one resolved (after parent inheritance) as JSON."""
    from spillover.calculators import available_presets, load_preset

    if name is None:
        for preset_name in available_presets():
            typer.echo(f"{preset_name:18s} {load_preset(preset_name).description}")
        return
    typer.echo(json.dumps(load_preset(name).model_dump(), indent=2))


# Each analysis of the registry adds its commands (spillover.commands.<analysis>), then the queue commands.
def _register_commands() -> None:
    import importlib

    for analysis in ANALYSES.values():
        importlib.import_module(analysis.commands).register(app, table_app, plot_app)
    from spillover.commands import queue

    queue.register(app, table_app, plot_app)


_register_commands()


def main() -> None:
    """Entry point: bad input becomes one line on stderr and exit code 2."""
    try:
        app()
    except InputError as exc:
        typer.echo(f"spillover: error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
