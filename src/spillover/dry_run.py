"""``spillover run STUDY --dry-run``: the plan of a study, what of it is stored, and what it cost last time.

Nothing is computed and nothing is written. The plan is the jobflow Flow ``make_plan`` builds. Its
jobs are counted per analysis and system. A relaxation whose input structure is known before the
run (bulks, O2) is looked up by its content hash, as the run itself would look it up. The other
jobs get their inputs from earlier jobs, and the jobs that analyses add at run time (funnel
candidates, network nodes, bands) are not in the plan yet. So the estimate comes from the database:
the newest run of the same study at the same preset, its jobs, force calls and calculation time.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from spillover.study import Study


def plan_jobs(flow: Any) -> list[dict[str, Any]]:
    """Every job of a Flow: name, analysis, system, and the content hash of a relaxation with known input.

    Returns
    -------
    list of dict
        ``name``, ``analysis`` (``shared`` for the jobs every analysis uses), ``system`` (or ``-``),
        ``content_hash`` (None where the input comes from another job).
    """
    from jobflow import Job
    from jobflow.core.reference import OutputReference

    from spillover.jobs.relax import RelaxMaker

    import warnings

    rows = []
    with warnings.catch_warnings():  # "some jobs are not connected": independent analyses, in any order
        warnings.simplefilter("ignore", UserWarning)
        walked = [job for job, _parents in flow.iterflow()]
    for job in walked:
        if not isinstance(job, Job):
            continue
        digest = None
        maker = job.maker
        args = list(job.function_args) + list(job.function_kwargs.values())
        if isinstance(maker, RelaxMaker) and args and not isinstance(args[0], OutputReference):
            digest = maker.content_hash(args[0])
        rows.append({"name": job.name, "analysis": job.metadata.get("analysis", "shared"),
                     "system": job.metadata.get("system", "-"), "content_hash": digest})
    return rows


def _stored(store: Any, digest: str) -> bool:
    from spillover.jobs.reuse import stored_calculation

    return stored_calculation(digest, store) is not None


def last_run(store: Any, study: str, preset: str) -> dict[str, Any] | None:
    """The newest run of ``study`` at ``preset`` in ``store``: id, date, jobs, computed jobs, force calls, elapsed s."""
    docs = list(store.query({"metadata.study": study, "metadata.preset": preset},
                            properties=["metadata.run_id", "completed_at", "output.force_calls", "output.wall_time_s",
                                        "output.reused_from_job_id"]))
    if not docs:
        return None
    newest = max(docs, key=lambda d: str(d.get("completed_at", "")))
    run_id = newest["metadata"].get("run_id")
    run = [d for d in docs if d["metadata"].get("run_id") == run_id]
    computed = [d for d in run if not (d.get("output") or {}).get("reused_from_job_id")]
    return {
        "run_id": run_id,
        "completed_at": str(newest.get("completed_at", ""))[:19],
        "jobs": len(run),
        "computed": len(computed),
        "force_calls": sum(int((d.get("output") or {}).get("force_calls") or 0) for d in computed),
        "elapsed_s": _elapsed([str(d.get("completed_at", "")) for d in run]),
    }


def _elapsed(stamps: list[str]) -> float:
    """Seconds between the first and the last of ISO time stamps (jobflow's ``completed_at``)."""
    from datetime import datetime

    times = []
    for stamp in stamps:
        try:
            times.append(datetime.fromisoformat(stamp))
        except ValueError:
            continue
    return (max(times) - min(times)).total_seconds() if times else 0.0


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def dry_run_report(study: Study, preset: str, db: str | None = None, scratch: Path | None = None) -> dict[str, Any]:
    """The plan of ``study`` at ``preset`` with what ``db`` already holds; computes and writes nothing.

    Returns
    -------
    dict
        ``groups`` (rows: analysis, system, jobs, checkable, stored), ``jobs`` (the plan's total),
        ``last_run`` (see :func:`last_run`, or None), ``database`` (whether ``db`` exists).
    """
    from spillover.errors import InputError
    from spillover.plan import make_plan
    from spillover.store import connect

    jobs = plan_jobs(make_plan(study, preset, run_id="dry-run", scratch=scratch))
    try:
        store = connect(db, create=False)
    except InputError as exc:
        if "no spillover database" not in exc.problem:
            raise
        store = None
    stored = {j["content_hash"] for j in jobs if j["content_hash"] and store is not None and _stored(store, j["content_hash"])}
    counts: Counter = Counter()
    for j in jobs:
        key = (j["analysis"], j["system"])
        counts[key + ("jobs",)] += 1
        counts[key + ("checkable",)] += j["content_hash"] is not None
        counts[key + ("stored",)] += j["content_hash"] in stored
    keys = sorted(dict.fromkeys((j["analysis"], j["system"]) for j in jobs), key=lambda k: (k[0] != "shared", k[0], k[1]))
    groups = [{"analysis": a, "system": s, "jobs": counts[(a, s, "jobs")], "checkable": counts[(a, s, "checkable")],
               "stored": counts[(a, s, "stored")]} for a, s in keys]
    return {"study": study.name, "preset": preset, "jobs": len(jobs), "groups": groups,
            "database": store is not None, "last_run": last_run(store, study.name, preset) if store is not None else None}


def render_dry_run(report: dict[str, Any]) -> str:
    """The dry run as a Markdown table and a few lines of notes."""
    from spillover.analysis.tables import Column, render

    columns = [Column("analysis", "analysis"), Column("system", "system"), Column("jobs", "jobs in the plan"),
               Column("known", "stored (input known before the run)")]
    rows = [{**g, "known": f"{g['stored']} of {g['checkable']}" if g["checkable"] else "-"} for g in report["groups"]]
    lines = [f"dry run: study {report['study']} at {report['preset']}; nothing computed, nothing written", "",
             render(rows, columns, "md"), "",
             f"{report['jobs']} jobs in the plan; the analyses add more while they run (funnel candidates, "
             "network nodes, bands), and every job is looked up by its content hash then."]
    run = report["last_run"]
    if run is None:
        where = "in the database" if report["database"] else "(no database yet)"
        lines.append(f"estimate: no timings yet: no run of this study at {report['preset']} {where}")
    else:
        lines.append(
            f"estimate: the last run of this study at {report['preset']} (run {run['run_id']}, {run['completed_at']}) "
            f"made {run['jobs']} jobs, {run['computed']} of them computed, {run['force_calls']} force calls; "
            f"{_duration(run['elapsed_s'])} from its first to its last stored job. A rerun with nothing changed "
            "reuses them.")
    return "\n".join(lines)
