"""``spillover submit | launch | status | rerun``: a study on a cluster through FireWorks.

FireWorks, jobflow and the calculators are imported inside the commands only. Each command lets go of
the LaunchPad (:func:`spillover.submit.release_launchpad`) as soon as it is done with it, so that a
mongomock file is written back and the next process waiting for it goes on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from spillover.commands.options import JsonOption
from spillover.errors import InputError

LaunchpadOption = Annotated[
    Optional[Path],
    typer.Option(
        "--launchpad",
        help="LaunchPad YAML (FireWorks format; ${VAR} from the environment) "
        "[default: $SPILLOVER_LAUNCHPAD, then FireWorks' my_launchpad.yaml].",
        show_default=False,
    ),
]
WorkflowOption = Annotated[
    Optional[int], typer.Option("--workflow", help="Only this workflow (the id 'spillover submit' printed).")
]
STATE_STYLE = {"completed": "green", "fizzled": "red", "running": "cyan", "ready": "yellow", "reserved": "yellow"}


def submit(
    study_file: Annotated[Path, typer.Argument(metavar="STUDY", help="Study file, e.g. workflows/ru_tio2_spillover.yaml.")],
    preset: Annotated[Optional[str], typer.Option(help="Calculator preset [default: the study's].")] = None,
    launchpad: LaunchpadOption = None,
    name: Annotated[Optional[str], typer.Option(help="Workflow name [default: 'STUDY (PRESET)'].")] = None,
    db: Annotated[
        Optional[str],
        typer.Option("--db", help="Results JobStore: directory or config [default: $SPILLOVER_DB or ./spillover-db]."),
    ] = None,
    as_json: JsonOption = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan and what is stored; touch no LaunchPad.")] = False,
) -> None:
    """Add a study to the LaunchPad as one FireWorks workflow (nothing runs yet: see 'spillover launch')."""
    from spillover.plan import preflight
    from spillover.study import load_study

    study = load_study(study_file)
    preset_name = preset or study.preset
    preflight(study, preset_name)
    if name is not None and not name.strip():
        raise InputError("--name", "must not be empty")

    from spillover.submit import check_db_config, load_launchpad, release_launchpad, submit as submit_study

    check_db_config(db)
    if dry_run:
        from spillover.dry_run import dry_run_report, render_dry_run

        report = dry_run_report(study, preset_name, db=db)
        if as_json:
            typer.echo(json.dumps({"dry_run": True, **report}))
            return
        typer.echo(render_dry_run(report))
        typer.echo(f"submit would add one workflow of {report['jobs']} Fireworks (one per job of the plan) to the "
                   "LaunchPad; nothing was added")
        return
    lp = load_launchpad(launchpad)
    try:
        result = submit_study(study, preset_name, lp, name=name, db=db)
    finally:
        release_launchpad(lp)  # a mongomock file: written back now, and the next process may go on
    if as_json:
        typer.echo(
            json.dumps(
                {"workflow_id": result.workflow_id, "name": result.name, "n_jobs": result.n_jobs, "jobs": result.fw_ids, "db": result.db}
            )
        )
        return
    typer.echo(f"submitted workflow {result.workflow_id} '{result.name}': {result.n_jobs} jobs")
    typer.echo(f"  LaunchPad {result.launchpad}; results -> {result.db}")
    typer.echo("  next: spillover launch --qadapter configs/qadapter-slurm.yaml; spillover status")


#: Stands for the LaunchPad file in a queue script rendered without one.
NO_LAUNCHPAD = Path("LAUNCHPAD.yaml")


def _launch_dry_run(qadapter: Path | None, launchpad: str | None, folder: Path, as_json: bool) -> None:
    """The queue script ``launch`` would submit, and how many jobs are ready when a LaunchPad is known."""
    from fireworks import FWorker

    from spillover.submit import load_launchpad, load_qadapter, release_launchpad, render_script, resolve_config_file

    try:
        lp_file = resolve_config_file(launchpad, "--launchpad", "SPILLOVER_LAUNCHPAD", "LAUNCHPAD_LOC")
    except InputError:
        if launchpad is not None:  # a LaunchPad named but missing is still bad input
            raise
        lp_file = None
    adapter = load_qadapter(qadapter, lp_file or NO_LAUNCHPAD)
    script = render_script(adapter, folder / "block_DATE" / "launcher_DATE")
    ready, unreachable = None, None
    if lp_file is not None:
        try:
            lp = load_launchpad(lp_file, timeout_ms=2000)
        except InputError as exc:  # the script is still what launch would submit
            unreachable = exc.problem
        else:
            try:
                ready = lp.fireworks.count_documents({"state": "READY", **FWorker().query})
            finally:
                release_launchpad(lp)
    if as_json:
        typer.echo(json.dumps({"dry_run": True, "queue": adapter.q_type, "script": script, "ready_jobs": ready,
                               "launchpad_problem": unreachable}))
        return
    typer.echo(script)
    if lp_file is None:
        typer.echo(f"# no LaunchPad given: the script names {NO_LAUNCHPAD}; nothing submitted", err=True)
    elif ready is None:
        typer.echo(f"# ready jobs not counted: {unreachable}; nothing submitted", err=True)
    else:
        typer.echo(f"# {ready} job(s) ready on {lp_file}; launch would submit up to that many queue jobs; "
                   "nothing submitted", err=True)


def launch(
    qadapter: Annotated[
        Optional[Path],
        typer.Option(help="Queue adapter YAML (configs/qadapter-slurm.yaml, -pbs.yaml) [default: $SPILLOVER_QADAPTER]."),
    ] = None,
    max_jobs: Annotated[int, typer.Option("--max", help="Submit at most N queue jobs; each runs jobs until none is ready.")] = 1,
    launchpad: LaunchpadOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the queue script (a LaunchPad is optional: given, "
                                          "the ready jobs are counted); submit nothing.")] = False,
    launch_dir: Annotated[
        Optional[Path], typer.Option(help="Where FireWorks writes job folders [default: $SPILLOVER_SCRATCH/fireworks].")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Submit queue jobs that run the LaunchPad's ready jobs (FireWorks queue launcher, SLURM or PBS)."""
    from spillover.settings import get_settings
    from spillover.submit import launch as launch_jobs
    from spillover.submit import load_launchpad, load_qadapter, release_launchpad, resolve_config_file

    if max_jobs < 1:
        raise InputError("--max", f"must be >= 1, got {max_jobs}")
    folder = Path(launch_dir or Path(get_settings().scratch) / "fireworks")
    if dry_run:
        _launch_dry_run(qadapter, launchpad, folder, as_json)
        return
    lp_file = resolve_config_file(launchpad, "--launchpad", "SPILLOVER_LAUNCHPAD", "LAUNCHPAD_LOC")
    adapter = load_qadapter(qadapter, lp_file)
    lp = load_launchpad(lp_file)
    try:
        ids = launch_jobs(lp, adapter, max_jobs=max_jobs, launch_dir=folder)
    finally:
        # before the queue job's rocket asks for a mongomock file
        release_launchpad(lp)
    if as_json:
        typer.echo(json.dumps({"queue": adapter.q_type, "queue_job_ids": ids, "launch_dir": str(folder.resolve())}))
        return
    if not ids:
        typer.echo("nothing ready to launch (see 'spillover status')")
        return
    typer.echo(f"submitted {len(ids)} {adapter.q_type} job(s): {', '.join(ids)} (folders under {folder})")


def status(
    workflow: WorkflowOption = None,
    launchpad: LaunchpadOption = None,
    as_json: JsonOption = False,
) -> None:
    """Per-job states (waiting, ready, running, completed, fizzled) with counts."""
    from spillover.submit import load_launchpad, release_launchpad, status_rows

    lp = load_launchpad(launchpad)
    try:
        report = status_rows(lp, workflow)
    finally:
        release_launchpad(lp)
    if as_json:
        typer.echo(json.dumps(report))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console(width=160)
    if not report["jobs"]:
        console.print("no workflows on the LaunchPad")
        return
    names = {w["workflow"]: w["name"] for w in report["workflows"]}
    table = Table(title=f"{len(report['jobs'])} jobs in {len(report['workflows'])} workflow(s)")
    for header in ("workflow", "fw_id", "job id", "job", "state", "updated", "reason"):
        table.add_column(header)
    for job in report["jobs"]:
        style = STATE_STYLE.get(job["state"], "")
        state = f"[{style}]{job['state']}[/]" if style else job["state"]
        table.add_row(
            f"{job['workflow']} {names[job['workflow']]}", str(job["fw_id"]), job["job_id"][:8], job["name"], state,
            job["updated"], job["reason"],
        )
    console.print(table)
    console.print("  ".join(f"{state} {n}" for state, n in report["counts"].items() if n))


def rerun(
    job: Annotated[Optional[str], typer.Argument(metavar="[JOB_ID]", help="Job id (uuid or 8+ characters of it) or fw_id.")] = None,
    fizzled: Annotated[bool, typer.Option("--fizzled", help="Rerun every fizzled job.")] = False,
    workflow: WorkflowOption = None,
    launchpad: LaunchpadOption = None,
) -> None:
    """Set a job (or every fizzled one) to run again; its waiting children follow. Then 'spillover launch'."""
    from spillover.submit import load_launchpad, release_launchpad, rerun as rerun_jobs

    if job is not None and fizzled:
        raise InputError("JOB_ID", "give either a job id or --fizzled, not both")
    if job is None and not fizzled:
        raise InputError("JOB_ID", "missing", "a job id from 'spillover status', or --fizzled")
    lp = load_launchpad(launchpad)
    try:
        fw_ids = rerun_jobs(lp, job=job, fizzled=fizzled, workflow=workflow)
    finally:
        release_launchpad(lp)
    if not fw_ids:
        typer.echo("no fizzled jobs")
        return
    typer.echo(f"set {len(fw_ids)} job(s) to run again: fw_id {', '.join(map(str, fw_ids))}; next: spillover launch")


def register(app: typer.Typer, table_app: typer.Typer, plot_app: typer.Typer) -> None:
    """Add ``submit``, ``launch``, ``status`` and ``rerun`` to the top-level app."""
    app.command("submit")(submit)
    app.command("launch")(launch)
    app.command("status")(status)
    app.command("rerun")(rerun)
