"""Options and checks shared by every command module."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from spillover.errors import InputError
from spillover.sections.base import PRESET_NAME_PATTERN, RANKS, Bound

DbOption = Annotated[
    Optional[str],
    typer.Option("--db", help="Database directory or JobStore config file [default: $SPILLOVER_DB or ./spillover-db]."),
]
FormatOption = Annotated[str, typer.Option("--format", "-f", help="md, csv, latex or json.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print exactly one JSON object to stdout.")]
PresetFilter = Annotated[Optional[str], typer.Option("--preset", help="Only results of this preset.")]
PlotOutput = Annotated[Path, typer.Option("--output", "-o", help="Figure file, .png or .svg.")]
PLOT_SUFFIXES = (".png", ".svg", ".pdf")
MpiOption = Annotated[int, typer.Option(
    help=f"GPAW in this many local MPI ranks ({RANKS.text}; mpiexec, the queue jobs' path).")]


def check_choice(field: str, value: str, allowed: tuple[str, ...]) -> None:
    """Raise InputError unless ``value`` is one of ``allowed``."""
    if value not in allowed:
        raise InputError(field, f"unknown value {value!r}", ", ".join(allowed))


def check_range(field: str, value: object, bound: Bound) -> None:
    """Raise InputError naming the option ``field`` unless ``value`` lies in ``bound`` (finite, right kind)."""
    bound.check(value, field)


def check_preset_name(field: str, value: str | None) -> None:
    """Raise InputError unless ``value`` (if given) can be a preset name: a file stem, no path."""
    import re

    if value is not None and not re.match(PRESET_NAME_PATTERN, value):
        raise InputError(field, f"{value!r} is not a preset name",
                         "letters, digits, '.', '_' and '-', at most 64 characters; see 'spillover presets'")


def check_directory(field: str, path: Path | None) -> None:
    """Raise InputError unless ``path`` (if given) is a directory or can become one."""
    if path is None:
        return
    try:
        is_file = path.exists() and not path.is_dir()
    except OSError as exc:
        raise InputError(field, f"cannot use {str(path)[:200]}: {exc.strerror or exc.__class__.__name__}") from None
    if is_file:
        raise InputError(field, f"{path} exists and is not a directory", "a directory (created if missing)")


def check_plot_output(output: Path) -> None:
    """Raise InputError for a figure path with an unknown suffix or a missing directory."""
    if output.suffix.lower() not in PLOT_SUFFIXES:
        raise InputError("--output", f"unknown figure format {output.suffix or '(none)'!r}", ", ".join(PLOT_SUFFIXES))
    if not output.parent.exists():
        raise InputError("--output", f"directory {output.parent} does not exist")


SystemFilter = Annotated[Optional[str], typer.Option("--system", help="Only this system, e.g. rutile-110/Ru-0001.")]

def no_rows(missing: tuple[str, str, str], columns: list, fmt: str, **filters: str | None) -> None:
    """End a table command that found no rows.

    With a filter set (``--system``, ``--preset``, ...) an empty table is the answer: its header is
    printed, stderr says which filters matched nothing, exit 0. Without one nothing is stored, and that
    is the InputError ``missing`` (field, problem, what to do).
    """
    from spillover.analysis.tables import render

    given = {k: v for k, v in filters.items() if v is not None}
    if not given:
        raise InputError(*missing)
    typer.echo(render([], columns, fmt))
    where = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in given.items())
    typer.echo(f"no stored rows match {where}", err=True)
    raise typer.Exit(0)


def print_table(rows: list[dict], columns: list, fmt: str, missing: tuple[str, str, str], **filters: str | None) -> None:
    """Print ``rows`` in ``fmt``; no rows: :func:`no_rows`."""
    from spillover.analysis.tables import render

    if not rows:
        no_rows(missing, columns, fmt, **filters)
    typer.echo(render(rows, columns, fmt))


def run_one_job(job, db: str | None, root: Path, what: str):  # noqa: ANN001, ANN201 - a jobflow Job and Response
    """Run one jobflow job locally into the database ``db`` with its folder below ``root``; its Response.

    The job looks stored results up by content hash (``expose_store``, as every job of a study's
    plan). A job that fails is one line on stderr and exit code 1.
    """
    import warnings

    from jobflow import run_locally

    from spillover.store import connect

    job.update_config({"expose_store": True})
    store = connect(db)
    root.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # the same harmless, repeated warnings the runner hides
        warnings.filterwarnings("ignore", message="cd is deprecated", category=FutureWarning)
        warnings.filterwarnings("ignore", message="Converting a tensor with requires_grad", category=UserWarning)
        responses = run_locally(job, store=store, root_dir=root, create_folders=True, log=False)
    if job.uuid not in responses:
        typer.echo(f"spillover: the {what} job {job.uuid} failed; its folder is below {root}", err=True)
        raise typer.Exit(1)
    return responses[job.uuid][1]
