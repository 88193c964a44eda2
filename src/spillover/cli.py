"""The ``spillover`` command line. Heavy libraries are imported inside commands so --help is instant."""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from spillover.commands.options import (
    DbOption,
    FormatOption,
    JsonOption,
    MpiOption,
    check_choice,
    check_directory,
    check_preset_name,
    check_range,
)
from spillover.analyses import ANALYSES, ANALYSIS_NAMES
from spillover.errors import InputError, UnsafeDocumentError
from spillover.workers import MAX_WORKERS, WORKERS_ENV, worker_count
from spillover.sections.base import AREA, GAP, LAYERS, RANKS, REPEAT, SEARCH_TEXT, STRAIN, VACUUM, check_search

if TYPE_CHECKING:
    from spillover.study import Study

# rich_markup_mode=None: help texts are plain text, so "[default: ...]" is printed, not taken for markup
HELP = {"rich_markup_mode": None, "context_settings": {"help_option_names": ["-h", "--help"]}}
app = typer.Typer(
    help="Bulk oxygen spillover at Ru/TiO2: build models, run studies, query results.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    **HELP,
)
build_app = typer.Typer(help="Build bulk, slab and interface structures.", no_args_is_help=True, **HELP)
table_app = typer.Typer(help="Print the tables a paper shows, from the results database.", no_args_is_help=True,
                        **HELP)
plot_app = typer.Typer(help="Plot results from the database (png, svg or pdf).", no_args_is_help=True, **HELP)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"spillover {version('spillover')}")
        raise typer.Exit(0)


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Bulk oxygen spillover at Ru/TiO2: build models, run studies, query results."""
app.add_typer(build_app, name="build")
app.add_typer(table_app, name="table")
app.add_typer(plot_app, name="plot")

OutputOption = Annotated[
    Optional[Path], typer.Option("--output", "-o", help="Write the structure here; format from the extension.")
]


#: The vacuum convention: ASE's, per side (periodic images of the slab are twice this apart).
VACUUM_HELP = (f"Vacuum on each side of the slab, as ASE's vacuum ({VACUUM.text}); "
               "the periodic images are twice this apart.")


def _write_structure(atoms, output: Path | None) -> None:
    if output is None:
        return
    from spillover.structure_io import write_structure

    lost = write_structure(atoms, output)
    kept = (f"without {', '.join(lost)}: .extxyz and .traj keep them" if lost
            else "layers, parts and fixed atoms kept")
    typer.echo(f"wrote {output} ({len(atoms)} atoms; {kept})", err=True)  # stdout stays the report (--json)


def _repeat(text: str) -> tuple[int, int]:
    """``2,2``, ``2x2`` or ASE's ``2,2,1`` (a slab repeats in plane only) as two repeats within :data:`REPEAT`."""
    parts = [p.strip() for p in text.replace("x", ",").split(",")]
    if len(parts) == 3 and parts[2] == "1":
        parts = parts[:2]
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise InputError("--repeat", f"{text[:40]!r} is not two whole numbers", f"a,b e.g. 2,2, each {REPEAT.text}")
    values = (int(parts[0]), int(parts[1]))
    for value in values:
        check_range("--repeat", value, REPEAT)
    return values


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
    repeat: Annotated[str, typer.Option(
        help=f"In-plane repeat of the surface cell, a,b as ASE writes it (2,2 or 2x2; each {REPEAT.text}).")] = "1,1",
    layers: Annotated[int, typer.Option(help=f"Layers (trilayers for the oxides; {LAYERS.text}).")] = 3,
    vacuum: Annotated[float, typer.Option(help=VACUUM_HELP)] = 6.0,
    fixed_layers: Annotated[int, typer.Option(help="Bottom layers held fixed (0..layers-1).")] = 1,
    as_json: JsonOption = False,
) -> None:
    """A slab with a layer index on every atom and fixed bottom layers."""
    repeat = _repeat(repeat)
    check_range("--layers", layers, LAYERS)
    check_range("--vacuum", vacuum, VACUUM)  # --fixed-layers: make_slab's check names it fixed_layers

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
    max_area: Annotated[float, typer.Option(help=f"Largest matched area ({AREA.text}; {SEARCH_TEXT}).")] = 120.0,
    max_strain: Annotated[float, typer.Option(help=f"Largest |strain| along either direction ({STRAIN.text}).")] = 6.0,
    support_layers: Annotated[int, typer.Option(help=f"Support trilayers ({LAYERS.text}).")] = 3,
    vacuum: Annotated[float, typer.Option(help=VACUUM_HELP)] = 6.0,
    gap: Annotated[
        Optional[float], typer.Option(help=f"Distance between parts ({GAP.text}) [default: lattice continuation for "
                                      "RuO2, else 2].")
    ] = None,
    fixed_layers: Annotated[int, typer.Option(help="Bottom support layers held fixed (0..support-layers-1).")] = 1,
    as_json: JsonOption = False,
) -> None:
    """A lattice-matched interface (pymatgen ZSL) with its match report."""
    check_range("--max-area", max_area, AREA)
    check_range("--max-strain", max_strain, STRAIN)
    check_search(max_area, max_strain, "--max-area")
    check_range("--support-layers", support_layers, LAYERS)
    check_range("--vacuum", vacuum, VACUUM)
    if gap is not None:
        check_range("--gap", gap, GAP)  # --fixed-layers: make_interface's check names it fixed_layers

    from spillover.build.interfaces import make_interface

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
    shown = report.to_dict()
    for match in shown["matches"]:  # every film is strained onto the support's supercell, not onto the film below
        match["strained_onto"] = f"{support} supercell"
    _emit(shown, as_json, f"interface {'/'.join([support, *films])}")


@build_app.command("scan")
def build_scan(
    max_area: Annotated[float, typer.Option(help=f"Largest coincidence area ({AREA.text}; {SEARCH_TEXT}).")] = 120.0,
    max_strain: Annotated[float, typer.Option(help=f"Largest |strain| along either direction ({STRAIN.text}).")] = 6.0,
    fmt: FormatOption = "md",
) -> None:
    """The lattice-match scan at the experimental lattices: every film facet on every support facet."""
    check_range("--max-area", max_area, AREA)
    check_range("--max-strain", max_strain, STRAIN)
    check_search(max_area, max_strain, "--max-area")

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
    workers: Annotated[Optional[int], typer.Option(
        help=f"Worker processes for the independent calculations of a job, one thread each (1..{MAX_WORKERS}) "
        "[default: $SPILLOVER_WORKERS, else one per core].")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan (jobs per analysis and system, what is "
                                          "stored, the last run's cost); compute and write nothing.")] = False,
    mpi: MpiOption = 1,
) -> None:
    """Run a study locally with jobflow, store every result, print each analysis's tables.

    With --mpi N every GPAW calculation runs in N local MPI ranks, and the default worker count
    becomes cores // N, so that workers times ranks fit the cores.
    """
    check_preset_name("--preset", preset)
    check_directory("--scratch", scratch)
    if workers is not None and (isinstance(workers, bool) or not 1 <= workers <= MAX_WORKERS):
        raise InputError("--workers", f"{workers} is out of range", f"1..{MAX_WORKERS}")
    check_range("--mpi", mpi, RANKS)

    from spillover.plan import preflight
    from spillover.study import load_study

    study = load_study(study_file)
    if only is not None:
        check_choice("--only", only, ANALYSIS_NAMES)
        study = study.model_copy(update={"analyses": [only]})
    preset_name = preset or study.preset
    from spillover.runner import run_study

    # relaxation and band checkpoints go below --scratch too, for the jobs made at run time as well
    changes = {"SPILLOVER_SCRATCH": str(scratch.resolve()) if scratch is not None else None,
               WORKERS_ENV: str(workers) if workers is not None else None}
    if mpi > 1:
        changes.update(_mpi_changes(study, preset_name, mpi, workers))
    saved = {k: os.environ.get(k) for k in changes}
    os.environ.update({k: v for k, v in changes.items() if v is not None})
    try:
        worker_count()  # a bad $SPILLOVER_WORKERS: one line, before anything runs
        preflight(study, preset_name, scratch)
        if dry_run:
            from spillover.dry_run import dry_run_report, render_dry_run

            typer.echo(render_dry_run(dry_run_report(study, preset_name, db=db, scratch=scratch)))
            raise typer.Exit(0)
        code = run_study(study, preset_name, db=db, scratch=scratch)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    raise typer.Exit(code)


def _mpi_changes(study: Study, preset_name: str, mpi: int, workers: int | None) -> dict[str, str | None]:
    """The environment of ``spillover run --mpi N``: GPAW's MPI command, and workers that fit the cores.

    Raises
    ------
    InputError
        No calculation of the study runs GPAW (neither its preset nor a funnel's DFT stage).
    """
    from spillover.calculators import load_preset, local_mpi_environment

    stages = [getattr(study, section).funnel.dft_preset for section in ("oxidation", "mu_profile")]
    calculators = {load_preset(preset_name, study.preset_overrides or None).calculator,
                   *(load_preset(name).calculator for name in stages if name)}
    if "gpaw" not in calculators:
        raise InputError("--mpi", f"preset {preset_name} runs {', '.join(sorted(calculators))} and no funnel has a GPAW "
                         "DFT stage, so nothing uses MPI ranks", "1, or a GPAW preset")
    changes: dict[str, str | None] = dict(local_mpi_environment(mpi))
    if workers is None and not os.environ.get(WORKERS_ENV):
        changes[WORKERS_ENV] = str(max(1, (os.cpu_count() or 1) // mpi))
    return changes


@app.command("presets")
def presets(name: Annotated[Optional[str], typer.Argument(help="Show this preset fully resolved.")] = None) -> None:
    """List calculator presets, or print one resolved (after parent inheritance) as JSON."""
    check_preset_name("NAME", name)

    from spillover.calculators import load_preset, preset_listing

    if name is None:
        for row in preset_listing():  # a broken user preset is listed with its reason
            text = f"BROKEN: {row['problem']}" if row["problem"] else row["description"]
            source = "" if row["source"] == "built-in" else f"  [{row['source']}]"
            typer.echo(f"{row['name']:18s} {text}{source}")
        return
    typer.echo(json.dumps(load_preset(name).model_dump(), indent=2))


# Each analysis of the registry adds its commands (spillover.commands.<analysis>), then the queue commands.
def _register_commands() -> None:
    import importlib

    for analysis in ANALYSES.values():
        importlib.import_module(analysis.commands).register(app, table_app, plot_app)
    from spillover.commands import calc, fidelity, queue, results

    fidelity.register(app, table_app, plot_app)
    calc.register(app, table_app, plot_app)
    queue.register(app, table_app, plot_app)
    results.register(app, table_app, plot_app)


_register_commands()


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


@functools.cache
def _click_command():
    """The click command of :data:`app`, built once (typer rebuilds it from every signature on each call)."""
    from typer.main import get_command

    return get_command(app)


def _click_exceptions():
    """Click's exception classes: typer >= 0.2x vendors click as ``typer._click``."""
    try:
        from typer._click import exceptions
    except ImportError:  # older typer on the real click
        from click import exceptions
    return exceptions


def _usage_line(exc) -> str:  # noqa: ANN001 - a click UsageError
    """A click usage error (unknown option or command, a value that is not a number, ...) as one line."""
    errors = _click_exceptions()
    field, problem = "usage", _one_line(exc.format_message())
    param = getattr(exc, "param", None)
    if isinstance(exc, errors.MissingParameter) and param is not None:
        field, problem = _param_name(param), "missing"
    elif isinstance(exc, errors.BadParameter) and param is not None:
        field, problem = _param_name(param), _one_line(exc.message)
    elif isinstance(exc, (errors.NoSuchOption, errors.BadOptionUsage)):
        field = exc.option_name
    elif problem.startswith("No such command"):
        field = "COMMAND"
    ctx = getattr(exc, "ctx", None)
    command = ctx.command_path if ctx is not None else "spillover"
    allowed = f"see '{command} --help'"
    if field == "COMMAND" and ctx is not None and hasattr(ctx.command, "list_commands"):
        allowed = ", ".join(ctx.command.list_commands(ctx))
    return f"{field}: {problem.rstrip('.')} (allowed: {allowed})"


def _param_name(param) -> str:  # noqa: ANN001 - a click Parameter
    """``--long-option`` of an option, the metavar of an argument."""
    opts = list(getattr(param, "opts", None) or [])
    if getattr(param, "param_type_name", "") == "option" and opts:
        return next((o for o in opts if o.startswith("--")), opts[0])
    return str(getattr(param, "display_name_raw", None) or getattr(param, "name", "argument"))


def main() -> None:
    """Entry point: bad input, usage errors included, becomes one line on stderr and exit code 2.

    Typer runs without click's standalone mode, so that click's usage errors (an unknown option
    or command, a value that is not a number) reach this function instead of being printed in a
    multi-line box.
    """
    errors = _click_exceptions()
    try:
        code = _click_command()(standalone_mode=False, prog_name="spillover")
    except (InputError, UnsafeDocumentError) as exc:  # a crafted stored document: one line too
        typer.echo(f"spillover: error: {_one_line(exc)}", err=True)
        sys.exit(2)
    except errors.NoArgsIsHelpError as exc:  # a bare group: its help, as click prints it
        if exc.format_message().strip():
            exc.show()
        sys.exit(exc.exit_code)
    except errors.UsageError as exc:
        typer.echo(f"spillover: error: {_usage_line(exc)}", err=True)
        sys.exit(2)
    except errors.ClickException as exc:
        typer.echo(f"spillover: error: {_one_line(exc.format_message())}", err=True)
        sys.exit(exc.exit_code)
    except OSError as exc:
        if exc.filename is None:
            raise
        # a path the user gave that the system refuses (too long, not a directory, no permission)
        typer.echo(f"spillover: error: {_one_line(exc.filename)}: {exc.strerror or exc.__class__.__name__}", err=True)
        sys.exit(2)
    except (typer.Abort, getattr(errors, "Abort", typer.Abort)):  # click's own Abort where click is not vendored
        typer.echo("spillover: aborted", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
