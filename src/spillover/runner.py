"""Run a study locally with jobflow, with a rich progress bar fed by jobflow's own log lines."""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from spillover.settings import get_settings
from spillover.store import DatabaseUnavailable, connect, describe
from spillover.analyses import ANALYSES
from spillover.plan import make_plan, new_run_id
from spillover.study import Study

_STARTED = re.compile(r"Starting job - (.+) \(")
_FINISHED = re.compile(r"Finished job - (.+) \(")
_EXCEPTION_LINE = re.compile(r"^[\w.]*(?:Error|Failed|Exception)\w*: ")


def _failure_reason(message: str) -> str:
    """The exception line of a jobflow failure log record (and the line after it, for pydantic)."""
    lines = message.splitlines()
    hits = [i for i, line in enumerate(lines) if _EXCEPTION_LINE.match(line)]
    if not hits:
        return lines[-1]
    i = hits[-1]
    return " ".join(part.strip() for part in lines[i : i + 3] if part.strip() and "errors.pydantic" not in part)


class _ProgressHandler(logging.Handler):
    """Advance a rich progress bar on jobflow's 'Starting/Finished job' log records."""

    def __init__(self, progress: Progress, task_id: int) -> None:
        super().__init__(logging.INFO)
        self.progress, self.task_id = progress, task_id
        self.failures: list[tuple[str, str]] = []
        self.started = 0

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if match := _STARTED.match(message):
            self.started += 1
            # jobs a job adds at run time (e.g. one per oxidation configuration) raise the total
            task = next(t for t in self.progress.tasks if t.id == self.task_id)
            total = max(task.total or 0, self.started)
            self.progress.update(self.task_id, description=match.group(1), total=total)
        elif _FINISHED.match(message):
            self.progress.advance(self.task_id)
        elif " failed with exception" in message:
            name = message.split(" failed with exception")[0]
            self.failures.append((name, _failure_reason(message)))
            self.progress.advance(self.task_id)


def reuse_counts(store, run_id: str) -> tuple[int, int]:
    """Jobs of a run that computed their result, and those that returned a stored one (``reused_from_job_id``)."""
    docs = list(store.query({"metadata.run_id": run_id}, properties=["output.reused_from_job_id", "output.doc_type"]))
    reused = sum(1 for d in docs if (d.get("output") or {}).get("reused_from_job_id"))
    return len(docs) - reused, reused


def run_study(study: Study, preset: str, db: str | None = None, scratch: Path | None = None) -> int:
    """Run ``study`` at ``preset`` into the database and print each analysis's tables.

    Returns
    -------
    int
        Exit code: 0 when every job finished, 1 when some failed (they are listed), 3 when the
        database disappeared or broke during the run (the run stops at once, with one line).

    Raises
    ------
    InputError
        The database cannot be used (not a directory, corrupt, not writable), found before any job runs.
    """
    from jobflow import run_locally

    console = Console(stderr=True)
    run_id = new_run_id()
    flow = make_plan(study, preset, run_id=run_id, scratch=scratch)  # bad input: nothing written yet
    store = connect(db)  # checks the database: a bad one fails here, before any job runs
    root = Path(scratch or get_settings().scratch) / run_id
    root.mkdir(parents=True, exist_ok=True)
    console.print(f"study [bold]{study.name}[/] preset [bold]{preset}[/] run {run_id}: {len(flow.jobs)} jobs -> {describe(db)}")

    columns = [TextColumn("{task.description:<32}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TimeRemainingColumn()]  # estimated from the jobs known so far
    jobflow_logger = logging.getLogger("jobflow")
    with Progress(*columns, console=console) as progress:
        task_id = progress.add_task("starting", total=len(flow.jobs))
        handler = _ProgressHandler(progress, task_id)
        jobflow_logger.addHandler(handler)
        old_level = jobflow_logger.level
        jobflow_logger.setLevel(logging.INFO)
        lost = None
        try:
            with warnings.catch_warnings():
                # Harmless and repeated once per job: jobflow's use of monty's cd, a CHGNet tensor cast.
                warnings.filterwarnings("ignore", message="cd is deprecated", category=FutureWarning)
                warnings.filterwarnings("ignore", message="Converting a tensor with requires_grad", category=UserWarning)
                run_locally(flow, store=store, root_dir=root, create_folders=True, log=False)
        except DatabaseUnavailable as exc:
            # Not an Exception, so that run_locally does not log it as one job's failure and go on.
            lost = exc
        finally:
            jobflow_logger.removeHandler(handler)
            jobflow_logger.setLevel(old_level)

    for name, reason in handler.failures:
        console.print(f"[red]failed[/] {name}: {reason}")
    try:
        if lost is not None:
            raise lost
        for name in study.analyses:
            text = ANALYSES[name].load("summary")(store, run_id, preset)
            if text:
                print(f"\n{text.rstrip()}")
    except DatabaseUnavailable as exc:
        console.print(f"[red]stopped[/]: {escape(str(exc))}; run {run_id} stores nothing more", soft_wrap=True)
        return 3
    computed, reused = reuse_counts(store, run_id)
    print(f"\nrun {run_id}, preset {preset}, database {describe(db)}: {computed} jobs computed, "
          f"{reused} reused from stored results (same content hash)")
    return 1 if handler.failures else 0
