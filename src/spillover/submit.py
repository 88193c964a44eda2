"""HPC submission through FireWorks: the only module that knows LaunchPads and queue adapters.

A study becomes one FireWorks Workflow (jobflow's ``flow_to_workflow``) on a LaunchPad;
FireWorks' queue launcher writes a SLURM or PBS script from a ``CommonAdapter`` config and
submits it; the script runs FireWorks' rocket launcher (``python -m spillover.submit rapidfire``,
a thin wrapper that only adds ``${VAR}`` expansion of the LaunchPad file), which runs the
jobs and writes their outputs to the study's JobStore, serialised into every Firework.

LaunchPad files are FireWorks' format plus two spillover additions: ``${VAR}`` is taken from the
environment (credentials never sit in the file), and ``mongomock_file`` points FireWorks at a
mongomock-persistence JSON file instead of a server (local trials and tests).
"""

from __future__ import annotations

import ast
import contextlib
import io
import os
import re
import stat
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from spillover.errors import InputError

if TYPE_CHECKING:
    from fireworks import LaunchPad

    from spillover.study import Study

# FireWorks' own LaunchPad keys (LaunchPad.from_dict), plus spillover's mongomock_file.
LAUNCHPAD_KEYS = (
    "host", "port", "name", "username", "password", "logdir", "strm_lvl", "user_indices",
    "wf_user_indices", "authsource", "uri_mode", "mongoclient_kwargs", "mongomock_file",
)
# Queue types spillover ships configs for, and the keys a script cannot do without.
QUEUE_TYPES = ("SLURM", "PBS")
REQUIRED_QUEUE_KEYS = {"SLURM": ("nodes", "ntasks", "walltime"), "PBS": ("nnodes", "ppnode", "walltime")}
# spillover's own qadapter keys ("_" keys are ignored by FireWorks' template check).
MPI_LAUNCHERS = ("srun", "mpiexec", "mpirun")
SPILLOVER_QUEUE_KEYS = ("_mpi_launcher",)
# FireWorks states, in the order status shows them.
STATES = ("waiting", "ready", "reserved", "running", "completed", "fizzled", "defused", "paused", "archived")
SERVER_TIMEOUT_MS = 3000
_VAR = re.compile(r"\$\{(\w+)\}")
_URI_CREDENTIALS = re.compile(r"(mongodb(?:\+srv)?://)[^@/]+@")


@dataclass
class Submitted:
    """What ``spillover submit`` added to the LaunchPad."""

    workflow_id: int
    name: str
    n_jobs: int
    fw_ids: dict[str, int]  # jobflow uuid -> fw_id
    launchpad: str
    db: str


# ----------------------------------------------------------------------------- LaunchPad


def _redact(text: str) -> str:
    return _URI_CREDENTIALS.sub(r"\1***@", text)


def resolve_config_file(path: str | Path | None, field: str, env: str, fw_default: str) -> Path:
    """An explicit path, else ``$env``, else FireWorks' own default location (my_*.yaml)."""
    if path is None:
        path = os.environ.get(env)
    if path is None:
        _use_mongomock_from_env()
        from fireworks import fw_config

        path = getattr(fw_config, fw_default, None)
    if path is None:
        raise InputError(field, "no file given", f"{field} FILE or ${env}")
    path = Path(path).expanduser()
    if not path.is_file():
        raise InputError(field, f"file {path} does not exist")
    return path.resolve()


def _use_mongomock_from_env() -> None:
    """FireWorks reads ``MONGOMOCK_SERVERSTORE_FILE`` on import; the file must exist by then.

    When FireWorks was imported before the variable was set (a library user, a test), its
    client class is switched the way its own config does it on import.
    """
    store_file = os.environ.get("MONGOMOCK_SERVERSTORE_FILE")
    if not store_file:
        return
    if not Path(store_file).exists():
        Path(store_file).parent.mkdir(parents=True, exist_ok=True)
        Path(store_file).write_text("{}")
    if "fireworks.core.launchpad" in sys.modules:
        from fireworks import fw_config
        from fireworks.core import launchpad

        if fw_config.MONGOMOCK_SERVERSTORE_FILE != store_file:
            fw_config.override_user_settings()
        launchpad.MongoClient = fw_config.MongoClient


def read_launchpad_spec(path: str | Path) -> dict[str, Any]:
    """A LaunchPad file as a dict: ``${VAR}`` expanded from the environment, keys checked.

    Raises
    ------
    InputError
        Missing file, unset variable, bad YAML, an unknown key, or a password written into a
        file that others can read.
    """
    from spillover.config import read_config

    path = Path(path)
    spec, raw = read_config(path, "--launchpad")
    if not isinstance(spec, dict):
        raise InputError("--launchpad", f"{path} must hold a mapping", ", ".join(LAUNCHPAD_KEYS))
    unknown = sorted(set(spec) - set(LAUNCHPAD_KEYS))
    if unknown:
        raise InputError(f"--launchpad {path.name}: {unknown[0]}", "unknown key", ", ".join(LAUNCHPAD_KEYS))
    if "host" not in spec:
        raise InputError(f"--launchpad {path.name}: host", "required key is missing", "hostname or mongodb:// URI")
    literal_password = raw.get("password") and not _VAR.search(str(raw["password"]))
    uri_password = raw.get("uri_mode") and re.search(r"://[^@/]*:(?!\$\{)[^@/]+@", str(raw.get("host", "")))
    if (literal_password or uri_password) and path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InputError(
            "--launchpad", f"{path} holds a password but others can read it", f"chmod 600 {path}, or ${{VAR}} in the file"
        )
    store_file = spec.pop("mongomock_file", None)
    if store_file and not os.environ.get("MONGOMOCK_SERVERSTORE_FILE"):
        # Exported, so the queue jobs launched from here use the same file.
        os.environ["MONGOMOCK_SERVERSTORE_FILE"] = str(Path(store_file).expanduser().resolve())
    return spec


def describe_launchpad(spec: dict[str, Any]) -> str:
    """``host:port/name`` without credentials."""
    if os.environ.get("MONGOMOCK_SERVERSTORE_FILE"):
        return f"mongomock {os.environ['MONGOMOCK_SERVERSTORE_FILE']} /{spec.get('name') or 'fireworks'}"
    if spec.get("uri_mode"):
        return f"{_redact(str(spec['host']))}/{spec.get('name')}"
    return f"{spec['host']}:{spec.get('port') or 27017}/{spec.get('name') or 'fireworks'}"


def load_launchpad(path: str | Path | None = None, check: bool = True, timeout_ms: int = SERVER_TIMEOUT_MS) -> LaunchPad:
    """Open the LaunchPad a file describes and check that its database answers.

    Parameters
    ----------
    path
        LaunchPad YAML; ``None`` takes ``$SPILLOVER_LAUNCHPAD``, then FireWorks' ``my_launchpad.yaml``.
    check
        Make one cheap query (``serverSelectionTimeoutMS=timeout_ms``) so that an unreachable
        server or wrong credentials are reported here, before anything is submitted.

    Raises
    ------
    InputError
        Bad file, or the database does not answer.
    """
    path = resolve_config_file(path, "--launchpad", "SPILLOVER_LAUNCHPAD", "LAUNCHPAD_LOC")
    spec = read_launchpad_spec(path)
    _use_mongomock_from_env()
    from fireworks import LaunchPad
    from pymongo.errors import PyMongoError

    kwargs = dict(spec.get("mongoclient_kwargs") or {})
    kwargs.setdefault("serverSelectionTimeoutMS", timeout_ms)
    spec["mongoclient_kwargs"] = kwargs
    spec.setdefault("strm_lvl", "ERROR")
    where = describe_launchpad(spec)
    try:
        launchpad = LaunchPad.from_dict(spec)
        if check:
            launchpad.fireworks.find_one({}, {"_id": 1})
    except PyMongoError as exc:
        reason = _redact(str(exc).split(",")[0].split("\n")[0])[:160]
        raise InputError("--launchpad", f"cannot reach the LaunchPad database {where} ({exc.__class__.__name__}: {reason})") from None
    except (TypeError, ValueError) as exc:
        raise InputError("--launchpad", f"{path}: {_redact(str(exc))}") from None
    launchpad.spillover_where = where  # for messages
    return launchpad


# ----------------------------------------------------------------------------- submit


def submit(
    study: Study, preset: str, launchpad: LaunchPad, name: str | None = None, db: str | Path | None = None
) -> Submitted:
    """Add a study's Flow to the LaunchPad as one Workflow.

    The JobStore of ``db`` (embedded directory, absolute path; or a store config) is
    serialised into every Firework, so the jobs write where ``spillover table`` reads.

    Returns
    -------
    Submitted
        Workflow id (its first fw_id), name, number of jobs and the uuid -> fw_id map.
    """
    from jobflow.managers.fireworks import flow_to_workflow

    from spillover.store import connect, describe
    from spillover.plan import make_plan

    flow = make_plan(study, preset)
    store = connect(db)
    workflow = flow_to_workflow(flow, store=store, name=name or flow.name)
    uuids = {fw.fw_id: fw.tasks[0]["job"].uuid for fw in workflow.fws}
    if launchpad.fw_id_assigner.count_documents({}) == 0 and launchpad.workflows.count_documents({}) == 0:
        # A brand-new database: what `lpad reset` does, with nothing to delete.
        launchpad.reset("", require_password=False, max_reset_wo_password=0)
    mapping = launchpad.add_wf(workflow)
    fw_ids = {uuids[old]: new for old, new in mapping.items()}
    return Submitted(
        workflow_id=min(fw_ids.values()),
        name=workflow.name,
        n_jobs=len(workflow.fws),
        fw_ids=fw_ids,
        launchpad=getattr(launchpad, "spillover_where", launchpad.host),
        db=describe(db),
    )


# ----------------------------------------------------------------------------- queue adapters


def rocket_command(launchpad_file: str | Path) -> str:
    """The command a queue job runs: FireWorks' rocket launcher on this LaunchPad, until no job is ready."""
    return f"{sys.executable} -m spillover.submit rapidfire --launchpad {Path(launchpad_file).resolve()}"


def mpi_command(adapter: dict[str, Any]) -> str | None:
    """``srun --ntasks=N`` / ``mpiexec -n N`` for a qadapter with several tasks, else None.

    The job exports it as ``SPILLOVER_MPI_COMMAND``; a GPAW calculation started under that
    variable runs as ``$SPILLOVER_MPI_COMMAND python -m gpaw python -m ase.calculators.subprocesscalculator``
    (ASE's subprocess calculator), with ``gpaw: parallel: {kpt, domain, band}`` from the preset.
    """
    launcher = adapter.get("_mpi_launcher")
    if not launcher:
        return None
    if adapter["_fw_q_type"] == "SLURM":
        ntasks = int(adapter["ntasks"])
    else:
        ntasks = int(adapter["nnodes"]) * int(adapter["ppnode"])
    if ntasks < 2:
        return None
    if launcher == "srun":
        return f"srun --ntasks={ntasks} --cpus-per-task={int(adapter.get('cpus_per_task') or 1)}"
    return f"{launcher} -n {ntasks}"


def _template_keys(q_type: str) -> set[str]:
    import string

    from fireworks.user_objects.queue_adapters.common_adapter import CommonAdapter

    text = Path(CommonAdapter._get_default_template_file(q_type)).read_text()
    return {k for _, k, _, _ in string.Formatter().parse(text.replace("$${", "{")) if k}


def load_qadapter(path: str | Path | None, launchpad_file: str | Path):
    """A FireWorks ``CommonAdapter`` from a qadapter YAML, checked and with the rocket filled in.

    ``rocket_launch`` defaults to :func:`rocket_command`; ``_mpi_launcher`` (srun, mpiexec)
    appends ``export SPILLOVER_MPI_COMMAND=...`` to ``pre_rocket``.

    Raises
    ------
    InputError
        Missing file, unsupported queue type, a required key missing, an unknown key, or a
        number that is not a positive integer.
    """
    path = resolve_config_file(path, "--qadapter", "SPILLOVER_QADAPTER", "QUEUEADAPTER_LOC")
    try:
        spec = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError:
        raise InputError("--qadapter", f"{path} is not valid YAML") from None
    if not isinstance(spec, dict):
        raise InputError("--qadapter", f"{path} must hold a mapping")
    field = f"--qadapter {path.name}"
    if spec.get("_fw_name", "CommonAdapter") != "CommonAdapter":
        raise InputError(f"{field}: _fw_name", f"unsupported adapter {spec['_fw_name']!r}", "CommonAdapter")
    q_type = spec.get("_fw_q_type")
    if q_type not in QUEUE_TYPES:
        raise InputError(f"{field}: _fw_q_type", "missing" if q_type is None else f"unknown queue type {q_type!r}", ", ".join(QUEUE_TYPES))
    spec = {k: v for k, v in spec.items() if v is not None}
    for key in REQUIRED_QUEUE_KEYS[q_type]:
        if key not in spec:
            raise InputError(f"{field}: {key}", "required key is missing")
    for key in ("nodes", "ntasks", "cpus_per_task", "nnodes", "ppnode"):
        if key in spec and not (isinstance(spec[key], int) and spec[key] > 0):
            raise InputError(f"{field}: {key}", f"must be a positive integer, got {spec[key]!r}")
    allowed = _template_keys(q_type) | {"_fw_name", "_fw_q_type", "_fw_template_file", "rocket_launch", "logdir", *SPILLOVER_QUEUE_KEYS}
    unknown = sorted(k for k in spec if k not in allowed)
    if unknown:
        raise InputError(f"{field}: {unknown[0]}", f"not a {q_type} template key", ", ".join(sorted(allowed)))
    if spec.get("_mpi_launcher") not in (None, *MPI_LAUNCHERS):
        raise InputError(f"{field}: _mpi_launcher", f"unknown launcher {spec['_mpi_launcher']!r}", ", ".join(MPI_LAUNCHERS))

    spec.setdefault("rocket_launch", rocket_command(launchpad_file))
    mpi = mpi_command(spec)
    if mpi:
        pre = str(spec.get("pre_rocket", "")).rstrip("\n")
        spec["pre_rocket"] = "\n".join(p for p in (pre, f'export SPILLOVER_MPI_COMMAND="{mpi}"') if p)
    from fireworks.utilities.fw_serializers import load_object

    spec["_fw_name"] = "CommonAdapter"
    return load_object(spec)


def render_script(qadapter, launch_dir: str | Path = ".") -> str:
    """The queue script FireWorks would submit from ``launch_dir``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return qadapter.get_script_str(str(Path(launch_dir).resolve()))


def launch(launchpad: LaunchPad, qadapter, max_jobs: int = 1, launch_dir: str | Path = ".") -> list[str]:
    """Submit up to ``max_jobs`` queue jobs (no more than jobs are ready) with FireWorks' queue launcher.

    Each queue job runs the rocket launcher until no job is ready, so one queue job can run
    a whole study; more queue jobs run independent branches side by side (MongoDB LaunchPads;
    a mongomock file takes one process at a time).

    Returns
    -------
    list of str
        Queue job ids; empty when the LaunchPad has nothing ready.

    Raises
    ------
    InputError
        The queue refused the script (its message is quoted).
    """
    from fireworks import FWorker
    from fireworks.queue.queue_launcher import launch_rocket_to_queue
    from fireworks.utilities.fw_utilities import create_datestamp_dir, get_fw_logger

    launch_dir = Path(launch_dir).resolve()
    launch_dir.mkdir(parents=True, exist_ok=True)
    fworker = FWorker()
    # A plain query, not run_exists(): that one deserialises a Firework, i.e. imports every job's code.
    ready = launchpad.fireworks.count_documents({"state": "READY", **fworker.query})
    if not ready:
        return []
    block = create_datestamp_dir(str(launch_dir), get_fw_logger("queue.launcher", stream_level="CRITICAL"))
    qadapter["logdir"] = block  # FireWorks logs the queue's refusal there
    ids = []
    for _ in range(min(max_jobs, ready)):
        # FireWorks' queue logger prints to stdout: keep the CLI's output to spillover's own lines.
        out = io.StringIO()
        with warnings.catch_warnings(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            warnings.simplefilter("ignore")
            job_id = launch_rocket_to_queue(
                launchpad, fworker, qadapter, block, strm_lvl="CRITICAL", create_launcher_dir=True, fill_mode=True
            )
        if not job_id:
            log = Path(block) / f"qadapter_{qadapter.q_name}-error.log"
            text = log.read_text() if log.is_file() else out.getvalue()
            hint = f"; see {block}"
            if match := re.search(r"The error response reads: (b?'.*?')\s*$", text, re.S | re.M):
                with contextlib.suppress(ValueError, SyntaxError):
                    response = ast.literal_eval(match.group(1))
                    response = response.decode(errors="replace") if isinstance(response, bytes) else response
                    hint = ": " + " ".join(response.split())[:240]
            raise InputError("--qadapter", f"the queue refused the job script ({qadapter.q_type}){hint}")
        ids.append(str(job_id))
    return ids


# ----------------------------------------------------------------------------- status and rerun


def _fizzle_reason(launchpad: LaunchPad, fw: dict) -> str:
    if not fw.get("launches"):
        return ""
    launch = launchpad.launches.find_one({"launch_id": fw["launches"][-1]}, {"action": 1})
    data = ((launch or {}).get("action") or {}).get("stored_data") or {}
    trace = (data.get("_exception") or {}).get("_stacktrace") or ""
    lines = [line.strip() for line in trace.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


def _workflows(launchpad: LaunchPad, workflow: int | None) -> list[dict]:
    query = {} if workflow is None else {"nodes": workflow}
    wfs = list(launchpad.workflows.find(query, {"nodes": 1, "name": 1, "state": 1, "_id": 0}))
    if workflow is not None and not wfs:
        known = sorted(min(w["nodes"]) for w in launchpad.workflows.find({}, {"nodes": 1}))
        raise InputError("--workflow", f"no workflow with id {workflow}", ", ".join(map(str, known[-20:])) or "none submitted")
    return sorted(wfs, key=lambda w: min(w["nodes"]))


def status_rows(launchpad: LaunchPad, workflow: int | None = None) -> dict[str, Any]:
    """Per-job states from the LaunchPad.

    Returns
    -------
    dict
        ``workflows`` (id, name, state, jobs), ``jobs`` (fw_id, job_id, name, state, workflow,
        reason for fizzled ones) and ``counts`` per state.
    """
    wfs = _workflows(launchpad, workflow)
    jobs, workflows = [], []
    for wf in wfs:
        wf_id = min(wf["nodes"])
        fws = launchpad.fireworks.find(
            {"fw_id": {"$in": wf["nodes"]}},
            {"fw_id": 1, "name": 1, "state": 1, "spec._tasks.job.uuid": 1, "updated_on": 1, "launches": 1, "_id": 0},
        )
        for fw in sorted(fws, key=lambda f: f["fw_id"]):
            state = fw["state"].lower()
            tasks = (fw.get("spec") or {}).get("_tasks") or [{}]
            jobs.append(
                {
                    "fw_id": fw["fw_id"],
                    "job_id": (tasks[0].get("job") or {}).get("uuid", ""),
                    "name": fw.get("name", ""),
                    "state": state,
                    "workflow": wf_id,
                    "updated": str(fw.get("updated_on", ""))[:19],
                    "reason": _fizzle_reason(launchpad, fw) if state == "fizzled" else "",
                }
            )
        workflows.append({"workflow": wf_id, "name": wf.get("name", ""), "state": wf.get("state", "").lower(), "jobs": len(wf["nodes"])})
    counts = {s: 0 for s in STATES}
    for job in jobs:
        counts[job["state"]] = counts.get(job["state"], 0) + 1
    return {"workflows": workflows, "jobs": jobs, "counts": counts}


def find_fw_id(launchpad: LaunchPad, job: str) -> int:
    """The fw_id of a job given by jobflow uuid (or a unique prefix of 8+ characters) or fw_id.

    Raises
    ------
    InputError
        No job, or several, match.
    """
    if job.isdigit():
        if launchpad.fireworks.count_documents({"fw_id": int(job)}) == 1:
            return int(job)
        raise InputError("JOB_ID", f"no job with fw_id {job}", "a job id or fw_id from 'spillover status'")
    if len(job) < 8 or not re.fullmatch(r"[0-9a-f-]+", job):
        raise InputError("JOB_ID", f"{job!r} is not a job id", "a job uuid (8+ characters) or fw_id from 'spillover status'")
    matches = [
        fw["fw_id"]
        for fw in launchpad.fireworks.find({}, {"fw_id": 1, "spec._tasks.job.uuid": 1})
        if any(str((t.get("job") or {}).get("uuid", "")).startswith(job) for t in (fw.get("spec") or {}).get("_tasks", []))
    ]
    if not matches:
        raise InputError("JOB_ID", f"no job {job} on the LaunchPad", "a job id or fw_id from 'spillover status'")
    if len(matches) > 1:
        raise InputError("JOB_ID", f"{job} matches {len(matches)} jobs (fw_ids {matches})", "more characters of the id")
    return matches[0]


def rerun(launchpad: LaunchPad, job: str | None = None, fizzled: bool = False, workflow: int | None = None) -> list[int]:
    """Mark jobs READY again (FireWorks ``rerun_fw``): one job, or every fizzled one.

    Returns
    -------
    list of int
        fw_ids set to rerun (their WAITING children run after them).
    """
    if (job is None) == (not fizzled):
        raise InputError("JOB_ID", "give either a job id or --fizzled")
    if job is not None:
        fw_ids = [find_fw_id(launchpad, job)]
    else:
        query: dict[str, Any] = {"state": "FIZZLED"}
        if workflow is not None:
            query["fw_id"] = {"$in": _workflows(launchpad, workflow)[0]["nodes"]}
        fw_ids = sorted(launchpad.get_fw_ids(query))
    for fw_id in fw_ids:
        launchpad.rerun_fw(fw_id)
    return fw_ids


# ----------------------------------------------------------------------------- rocket (runs in the queue job)


def _rocket_main(argv: list[str]) -> int:
    """``python -m spillover.submit rapidfire --launchpad FILE [--timeout S] [--nlaunches N]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m spillover.submit", description="Run ready jobs of a LaunchPad here.")
    parser.add_argument("mode", choices=["rapidfire", "singleshot"])
    parser.add_argument("--launchpad", required=True)
    parser.add_argument("--timeout", type=int, default=None, help="Stop starting new jobs after this many seconds.")
    parser.add_argument("--nlaunches", type=int, default=0, help="Jobs to run; 0 until none is ready.")
    args = parser.parse_args(argv)
    try:
        launchpad = load_launchpad(args.launchpad)
    except InputError as exc:
        print(f"spillover: error: {exc}", file=sys.stderr)
        return 2
    from fireworks import FWorker
    from fireworks.core.rocket_launcher import launch_rocket, rapidfire

    if args.mode == "singleshot":
        launch_rocket(launchpad, FWorker(), strm_lvl="INFO")
    else:
        rapidfire(launchpad, FWorker(), nlaunches=args.nlaunches, timeout=args.timeout, strm_lvl="INFO", sleep_time=10)
    return 0


if __name__ == "__main__":
    sys.exit(_rocket_main(sys.argv[1:]))
