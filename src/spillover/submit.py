"""HPC submission through FireWorks: the only module that knows LaunchPads and queue adapters.

A study becomes one FireWorks Workflow (jobflow's ``flow_to_workflow``) on a LaunchPad;
FireWorks' queue launcher writes a SLURM or PBS script from a ``CommonAdapter`` config and
submits it; the script runs ``python -m spillover.submit rapidfire``, FireWorks' rocket launcher
with spillover's LaunchPad files, which runs the jobs and writes their outputs to the study's JobStore.

No credential is ever written into the LaunchPad: the workflow is submitted without a store
(``flow_to_workflow(flow, store=None)``, so jobflow's JobFiretask uses ``jobflow.SETTINGS.JOB_STORE``
at run time) and each Firework's spec carries only the *path* of the results database
(:data:`DB_SPEC_KEY`: the embedded directory, or the JobStore config file). The queue job opens the
store from that path and its own environment (``spillover.store.connect``), sets it as jobflow's job
store, and then launches the rockets of that database.

LaunchPad files are FireWorks' format plus two spillover additions: ``${VAR}`` is taken from the
environment (credentials never sit in the file; a literal one needs ``chmod 600``), and
``mongomock_file`` points FireWorks at a mongomock-persistence JSON file instead of a server (local
trials and tests). Such a file is read whole when a process opens it and written back when the process
ends, so every spillover process holds a lock beside it (``<file>.lock``) from opening to writing back:
concurrent commands wait their turn instead of overwriting each other.

Everything that goes into a queue script is quoted for the shell (:func:`shlex.quote`) or checked:
the launch directory, the LaunchPad path and the Python executable are quoted, the ``#SBATCH``/``#PBS``
values may hold no line breaks, and the job name is a plain word; ``pre_rocket``, ``post_rocket``
and an explicit ``rocket_launch`` are the user's own shell code and go in as written.
"""

from __future__ import annotations

import ast
import atexit
import contextlib
import io
import os
import re
import shlex
import socket
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fireworks.user_objects.queue_adapters.common_adapter import CommonAdapter

from spillover.config import redact
from spillover.errors import InputError, unknown_key

if TYPE_CHECKING:
    from fireworks import LaunchPad
    from jobflow import Flow, JobStore

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
# qadapter values that are shell code, written into the script as they are.
SHELL_KEYS = ("pre_rocket", "rocket_launch", "post_rocket")
# A job name goes into #SBATCH/#PBS lines and into file names (SLURM's --output=<name>-%j.out).
JOB_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}")
# FireWorks states, in the order status shows them.
STATES = ("waiting", "ready", "reserved", "running", "completed", "fizzled", "defused", "paused", "archived")
SERVER_TIMEOUT_MS = 3000
# The Firework spec key holding the results database path (a directory or a JobStore config file).
DB_SPEC_KEY = "_spillover_db"
# How long a command waits for another process to let go of a mongomock LaunchPad file (seconds);
# a queue job waits longer, since `spillover launch` still holds the file when its job starts.
LOCK_TIMEOUT_S = 120.0
ROCKET_LOCK_TIMEOUT_S = 900.0
LOCK_TIMEOUT_ENV = "SPILLOVER_LAUNCHPAD_LOCK_TIMEOUT"
_LOCKS: dict[str, Any] = {}


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
    Path(store_file).parent.mkdir(parents=True, exist_ok=True)
    # Exclusive creation: another process may have created and filled it a moment ago.
    with contextlib.suppress(FileExistsError), open(store_file, "x") as fh:
        fh.write("{}")
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
        Missing file, unset variable, bad YAML, an unknown key, or a secret (a password, a URI
        with ``user:password@``) written into a file that others can read.
    """
    from spillover.config import read_config

    path = Path(path)
    spec, _ = read_config(path, "--launchpad")
    unknown = sorted(set(spec) - set(LAUNCHPAD_KEYS))
    if unknown:
        raise InputError(f"--launchpad {path.name}: {unknown[0]}", unknown_key(unknown[0], LAUNCHPAD_KEYS),
                         ", ".join(LAUNCHPAD_KEYS))
    if "host" not in spec:
        raise InputError(f"--launchpad {path.name}: host", "required key is missing", "hostname or mongodb:// URI")
    if spec.get("logdir") is not None and not Path(str(spec["logdir"])).expanduser().is_dir():
        raise InputError(f"--launchpad {path.name}: logdir", f"{spec['logdir']} is not a directory")
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
        return redact(f"{spec['host']}/{spec.get('name')}")
    return redact(f"{spec['host']}:{spec.get('port') or 27017}/{spec.get('name') or 'fireworks'}")


def _lock_timeout(default: float) -> float:
    text = os.environ.get(LOCK_TIMEOUT_ENV)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise InputError(LOCK_TIMEOUT_ENV, f"must be a number of seconds >= 0, got {text!r}")
    return value


def _lock_mongomock(store_file: Path, timeout: float) -> Any:
    """Take (or re-enter) the lock beside a mongomock LaunchPad file, waiting up to ``timeout`` s.

    Raises
    ------
    InputError
        Another process still holds the file after ``timeout`` seconds.
    """
    from filelock import FileLock, Timeout

    key = str(store_file)
    lock = _LOCKS.get(key)
    if lock is None:
        # One lock object per file: a second flock on a new descriptor would wait on ourselves.
        lock = _LOCKS[key] = FileLock(f"{store_file}.lock")
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise InputError(
            "--launchpad",
            f"the mongomock LaunchPad {store_file} is in use by another process (waited {timeout:g} s)",
            f"one process at a time on a mongomock file: try again when it is done, set {LOCK_TIMEOUT_ENV}, "
            "or use MongoDB (configs/launchpad-mongodb.yaml)",
        ) from None
    return lock


def _write_mongomock(launchpad: LaunchPad) -> None:
    """Write a mongomock LaunchPad back to its file now, atomically, instead of at interpreter exit."""
    server = getattr(getattr(launchpad, "connection", None), "_store", None)
    finalizer = getattr(server, "_finalizer", None)
    filename = getattr(server, "_filename", None)
    if finalizer is None or not finalizer.alive or not filename:
        return
    import bson.json_util

    finalizer.detach()  # mongomock-persistence would otherwise rewrite the file in place at exit
    target = Path(filename)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(bson.json_util.dumps(server.to_dict()), encoding="utf-8")
    with contextlib.suppress(OSError):
        tmp.chmod(target.stat().st_mode & 0o777)
    os.replace(tmp, target)


def release_launchpad(launchpad: LaunchPad) -> None:
    """Write a mongomock LaunchPad back to its file and release its lock (no-op for MongoDB; idempotent).

    Runs by itself when the process exits; call it earlier to let the next process in sooner.
    """
    lock = getattr(launchpad, "spillover_lock", None)
    try:
        _write_mongomock(launchpad)
    finally:
        if lock is not None:
            launchpad.spillover_lock = None
            lock.release()


def load_launchpad(
    path: str | Path | None = None,
    check: bool = True,
    timeout_ms: int = SERVER_TIMEOUT_MS,
    lock_timeout_s: float = LOCK_TIMEOUT_S,
) -> LaunchPad:
    """Open the LaunchPad a file describes and check that its database answers.

    Parameters
    ----------
    path
        LaunchPad YAML; ``None`` takes ``$SPILLOVER_LAUNCHPAD``, then FireWorks' ``my_launchpad.yaml``.
    check
        Make one cheap query (``serverSelectionTimeoutMS=timeout_ms``) so that an unreachable
        server or wrong credentials are reported here, before anything is submitted.
    lock_timeout_s
        For a mongomock file: how long to wait for another process to let go of it
        (``$SPILLOVER_LAUNCHPAD_LOCK_TIMEOUT`` overrides). The lock is held until
        :func:`release_launchpad`, at the latest until this process exits.

    Raises
    ------
    InputError
        Bad file, the database does not answer, or a mongomock file stays in use.
    """
    path = resolve_config_file(path, "--launchpad", "SPILLOVER_LAUNCHPAD", "LAUNCHPAD_LOC")
    spec = read_launchpad_spec(path)
    store_file = os.environ.get("MONGOMOCK_SERVERSTORE_FILE")
    lock = _lock_mongomock(Path(store_file), _lock_timeout(lock_timeout_s)) if store_file else None
    try:
        launchpad = _open_launchpad(path, spec, check, timeout_ms)
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    launchpad.spillover_lock = lock
    if lock is not None:
        # Registered after mongomock's own exit hook, so it runs first (atexit is last in, first out).
        atexit.register(release_launchpad, launchpad)
    return launchpad


def _open_launchpad(path: Path, spec: dict[str, Any], check: bool, timeout_ms: int) -> LaunchPad:
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
        reason = redact(str(exc).split(",")[0].split("\n")[0])[:160]
        raise InputError("--launchpad", f"cannot reach the LaunchPad database {where} ({exc.__class__.__name__}: {reason})") from None
    except (TypeError, ValueError) as exc:
        raise InputError("--launchpad", f"{path}: {redact(str(exc))[:200]}") from None
    launchpad.spillover_where = where  # for messages
    return launchpad


# ----------------------------------------------------------------------------- submit


def db_location(db: str | Path | None) -> str:
    """The absolute path of a results database (directory or JobStore config), as a queue job opens it."""
    from spillover.store import resolve_db

    return str(Path(resolve_db(db)).expanduser().resolve())


def check_db_config(db: str | Path | None) -> None:
    """Read a JobStore config the way the store will (variables set, no literal secret others can read).

    Called before the LaunchPad is opened, so that a refused config leaves nothing written; an embedded
    directory needs no check.

    Raises
    ------
    InputError
        As :func:`spillover.config.read_config`.
    """
    from spillover.config import read_config
    from spillover.store import CONFIG_SUFFIXES, resolve_db

    location = Path(resolve_db(db))
    if location.suffix in CONFIG_SUFFIXES and location.is_file():
        read_config(location, "db")


def tag_with_db(flow: Flow, location: str) -> None:
    """Put the database path into every job's ``manager_config``: it becomes the Firework spec key
    :data:`DB_SPEC_KEY`, and jobflow passes it on to the jobs a job adds at run time."""
    for job, _ in flow.iterflow():
        job.config.manager_config = {**job.config.manager_config, DB_SPEC_KEY: location}


def submit(
    study: Study, preset: str, launchpad: LaunchPad, name: str | None = None, db: str | Path | None = None
) -> Submitted:
    """Add a study's Flow to the LaunchPad as one Workflow, without its JobStore.

    The store of ``db`` (embedded directory, or a store config) is opened here once, so that a bad
    config is reported before anything is submitted, but only its absolute *path* goes into the
    Fireworks (spec key :data:`DB_SPEC_KEY`); the queue job opens it from there (see :func:`run_rockets`).

    Returns
    -------
    Submitted
        Workflow id (its first fw_id), name, number of jobs and the uuid -> fw_id map.
    """
    from jobflow.managers.fireworks import flow_to_workflow

    from spillover.plan import make_plan
    from spillover.store import connect, describe

    flow = make_plan(study, preset)
    connect(db)
    tag_with_db(flow, db_location(db))
    # store=None: the Fireworks carry no store (and so no credential); jobflow's JobFiretask takes
    # SETTINGS.JOB_STORE at run time, which the rocket sets from the spec's database path.
    workflow = flow_to_workflow(flow, store=None, name=name or flow.name)
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
        db=redact(describe(db)),
    )


# ----------------------------------------------------------------------------- queue adapters


def rocket_command(launchpad_file: str | Path) -> str:
    """The command a queue job runs: FireWorks' rocket launcher on this LaunchPad, until no job is ready.

    The interpreter and the LaunchPad path are shell-quoted (a path with a space, ``;`` or ``$(...)``
    stays one argument).
    """
    launchpad = str(Path(launchpad_file).resolve())
    return f"{shlex.quote(sys.executable)} -m spillover.submit rapidfire --launchpad {shlex.quote(launchpad)}"


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

    text = Path(CommonAdapter._get_default_template_file(q_type)).read_text()
    return {k for _, k, _, _ in string.Formatter().parse(text.replace("$${", "{")) if k}


# Stands for the launch directory while FireWorks fills in its template (an absolute path, as FireWorks
# makes one of it, and without "$$", whose lines FireWorks drops).
_LAUNCH_DIR_MARKER = "/spillover-launch-dir-2b7e1f"


class QuotedAdapter(CommonAdapter):
    """FireWorks' ``CommonAdapter`` with a script that is safe to hand to a shell.

    FireWorks pastes the launch directory into ``cd $${launch_dir}`` as it is, and drops every line
    holding ``$$`` after filling in the template (so ``echo $$`` in ``pre_rocket``, or a path with
    ``$$``, would silently vanish). Here the template is filled with markers, and then the launch
    directory goes in shell-quoted and the shell code (``pre_rocket``, ``rocket_launch``,
    ``post_rocket``) as written.
    """

    # Explicit, so that FireWorks' defensive copy (load_object(to_dict())) finds this class again.
    _fw_name = "{{spillover.submit.QuotedAdapter}}"

    def get_script_str(self, launch_dir: str) -> str:
        """The queue script for a job started in ``launch_dir``.

        Raises
        ------
        InputError
            The template puts the launch directory into a ``#`` directive line and the path is not
            a plain word there (only a custom ``_fw_template_file`` does that).
        """
        directory = os.path.abspath(launch_dir)
        code = {key: str(self[key]) for key in SHELL_KEYS if self.get(key) is not None}
        markers = {key: f"@@spillover-{key}-2b7e1f@@" for key in code}
        try:
            self.update(markers)
            script = super().get_script_str(_LAUNCH_DIR_MARKER)
        finally:
            self.update(code)
        lines = []
        for line in script.split("\n"):
            if _LAUNCH_DIR_MARKER in line:
                if line.lstrip().startswith("#"):
                    if shlex.quote(directory) != directory:
                        raise InputError("--launch-dir", f"{directory!r} cannot go into the template's directive line "
                                         f"{line.split(_LAUNCH_DIR_MARKER)[0].strip()!r}", "letters, digits and _ . , + - / = @ %")
                    line = line.replace(_LAUNCH_DIR_MARKER, directory)
                else:
                    line = line.replace(_LAUNCH_DIR_MARKER, shlex.quote(directory))
            lines.append(line)
        script = "\n".join(lines)
        for key, marker in markers.items():
            script = script.replace(marker, code[key])
        return script


def _check_queue_values(spec: dict[str, Any], field: str) -> None:
    """Values that go into ``#SBATCH``/``#PBS`` lines: one plain line each; the job name a plain word."""
    for key, value in spec.items():
        if key in SHELL_KEYS:
            if not isinstance(value, str):
                raise InputError(f"{field}: {key}", f"must be shell code (a string), got {type(value).__name__}")
            continue
        if key.startswith("_") or key == "logdir":
            continue
        if isinstance(value, (dict, list)):
            raise InputError(f"{field}: {key}", f"must be a single value, got a {type(value).__name__}")
        text = str(value)
        if any(ord(c) < 32 or ord(c) == 127 for c in text) or "$$" in text:
            raise InputError(f"{field}: {key}", "must be one line without control characters or '$$'",
                             "a value for one #SBATCH/#PBS line")
    job_name = spec.get("job_name")
    if job_name is not None and not JOB_NAME.fullmatch(str(job_name)):
        raise InputError(f"{field}: job_name", f"{str(job_name)!r} is not a plain name",
                         "1-128 letters, digits and _ . + -, starting with a letter or digit")


def load_qadapter(path: str | Path | None, launchpad_file: str | Path) -> QuotedAdapter:
    """A FireWorks ``CommonAdapter`` from a qadapter YAML, checked and with the rocket filled in.

    ``rocket_launch`` defaults to :func:`rocket_command`; ``_mpi_launcher`` (srun, mpiexec)
    appends ``export SPILLOVER_MPI_COMMAND=...`` to ``pre_rocket``.

    Raises
    ------
    InputError
        Missing file, bad YAML, unsupported queue type, a required key missing, an unknown key, a
        number that is not a positive integer, a directive value over several lines, or a job name
        that is not a plain word.
    """
    from spillover.yamlio import read_yaml

    path = resolve_config_file(path, "--qadapter", "SPILLOVER_QADAPTER", "QUEUEADAPTER_LOC")
    spec = read_yaml(path, "--qadapter") or {}
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
        if key in spec and not (isinstance(spec[key], int) and not isinstance(spec[key], bool) and spec[key] > 0):
            raise InputError(f"{field}: {key}", f"must be a positive integer, got {spec[key]!r}")
    allowed = _template_keys(q_type) | {"_fw_name", "_fw_q_type", "_fw_template_file", "rocket_launch", "logdir", *SPILLOVER_QUEUE_KEYS}
    unknown = sorted(k for k in spec if k not in allowed)
    if unknown:
        raise InputError(f"{field}: {unknown[0]}", unknown_key(unknown[0], allowed, f"not a {q_type} template key"),
                         ", ".join(sorted(allowed)))
    if spec.get("_mpi_launcher") not in (None, *MPI_LAUNCHERS):
        raise InputError(f"{field}: _mpi_launcher", f"unknown launcher {spec['_mpi_launcher']!r}", ", ".join(MPI_LAUNCHERS))
    _check_queue_values(spec, field)

    spec.setdefault("rocket_launch", rocket_command(launchpad_file))
    mpi = mpi_command(spec)
    if mpi:
        pre = str(spec.get("pre_rocket", "")).rstrip("\n")
        spec["pre_rocket"] = "\n".join(p for p in (pre, f'export SPILLOVER_MPI_COMMAND="{mpi}"') if p)
    spec.pop("_fw_name", None)
    return QuotedAdapter.from_dict(spec)


def render_script(qadapter: QuotedAdapter, launch_dir: str | Path = ".") -> str:
    """The queue script FireWorks would submit from ``launch_dir``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return qadapter.get_script_str(str(Path(launch_dir).resolve()))


def launch(launchpad: LaunchPad, qadapter: QuotedAdapter, max_jobs: int = 1, launch_dir: str | Path = ".") -> list[str]:
    """Submit up to ``max_jobs`` queue jobs (no more than jobs are ready) with FireWorks' queue launcher.

    Each queue job runs the rocket launcher until no job is ready, so one queue job can run
    a whole study; more queue jobs run independent branches side by side (MongoDB LaunchPads;
    on a mongomock file they take turns).

    Returns
    -------
    list of str
        Queue job ids; empty when the LaunchPad has nothing ready.

    Raises
    ------
    InputError
        The script cannot be written for this launch directory, or the queue refused it (its
        message is quoted).
    """
    from fireworks import FWorker
    from fireworks.queue.queue_launcher import launch_rocket_to_queue
    from fireworks.utilities.fw_utilities import create_datestamp_dir, get_fw_logger

    launch_dir = Path(launch_dir).resolve()
    render_script(qadapter, launch_dir / "block_DATE" / "launcher_DATE")  # FireWorks would swallow the error
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
            raise InputError("--qadapter", redact(f"the queue refused the job script ({qadapter.q_type}){hint}"))
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
    return redact(lines[-1])[:200] if lines else ""


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


def _ready_databases(launchpad: LaunchPad) -> list[str | None]:
    """The database paths of the READY Fireworks; ``None`` for Fireworks without one (older submissions)."""
    from fireworks import FWorker

    ready = {"state": "READY", **FWorker().query}
    paths = sorted(str(p) for p in launchpad.fireworks.distinct(f"spec.{DB_SPEC_KEY}", ready) if p)
    if launchpad.fireworks.count_documents({**ready, f"spec.{DB_SPEC_KEY}": {"$exists": False}}):
        paths.append(None)
    return paths


def _launches_under(launchpad: LaunchPad, directory: str) -> int:
    """Rockets this process started: FireWorks records each launch with its folder, made under ours."""
    return launchpad.launches.count_documents({"launch_dir": {"$regex": f"^{re.escape(directory.rstrip(os.sep) + os.sep)}"}})


def run_rockets(
    launchpad: LaunchPad, singleshot: bool = False, nlaunches: int = 0, timeout: float | None = None, sleep_time: int = 10
) -> int:
    """Run the LaunchPad's ready jobs here, each against the JobStore its workflow was submitted with.

    The Fireworks carry no store, only the database path (spec key :data:`DB_SPEC_KEY`): for each
    path with ready jobs the store is opened from the path and this process's environment
    (``spillover.store.connect``), set as ``jobflow.SETTINGS.JOB_STORE``, and FireWorks' rocket launcher
    runs the jobs of that path (an FWorker query on it) until none is ready; then the next path.

    Parameters
    ----------
    singleshot
        Run one job and stop.
    nlaunches
        Stop after this many jobs (0: until none is ready).
    timeout
        Start no job after this many seconds.

    Returns
    -------
    int
        Number of jobs started.

    Raises
    ------
    InputError
        A database path does not open (missing config, unset variable, a literal password in a file
        others can read); nothing of that database is started.
    """
    import jobflow
    from fireworks import FWorker
    from fireworks.core.rocket_launcher import launch_rocket, rapidfire

    from spillover.store import connect

    start = time.monotonic()
    here = os.getcwd()
    default_store = jobflow.SETTINGS.JOB_STORE
    stores: dict[str, JobStore] = {}
    launched = _launches_under(launchpad, here)
    first = launched
    while True:
        progressed = False
        for db in _ready_databases(launchpad):
            left = None if timeout is None else timeout - (time.monotonic() - start)
            if left is not None and left <= 0:
                return launched - first
            if db is None:
                query: dict[str, Any] = {f"spec.{DB_SPEC_KEY}": {"$exists": False}}
                jobflow.SETTINGS.JOB_STORE = default_store
            else:
                query = {f"spec.{DB_SPEC_KEY}": db}
                if db not in stores:
                    stores[db] = connect(db)
                jobflow.SETTINGS.JOB_STORE = stores[db]
            fworker = FWorker(query=query)
            if singleshot:
                launch_rocket(launchpad, fworker, strm_lvl="INFO")
                return _launches_under(launchpad, here) - first
            todo = 0 if nlaunches == 0 else nlaunches - (launched - first)
            rapidfire(launchpad, fworker, nlaunches=todo, timeout=left, strm_lvl="INFO", sleep_time=sleep_time)
            now = _launches_under(launchpad, here)
            progressed |= now > launched
            launched = now
            if nlaunches and launched - first >= nlaunches:
                return launched - first
        if not progressed:  # nothing ready, or nothing that this worker can run
            return launched - first


def _rocket_main(argv: list[str]) -> int:
    """``python -m spillover.submit rapidfire|singleshot --launchpad FILE [--timeout S] [--nlaunches N]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m spillover.submit", description="Run ready jobs of a LaunchPad here.")
    parser.add_argument("mode", choices=["rapidfire", "singleshot"])
    parser.add_argument("--launchpad", required=True)
    parser.add_argument("--timeout", type=int, default=None, help="Stop starting new jobs after this many seconds.")
    parser.add_argument("--nlaunches", type=int, default=0, help="Jobs to run; 0 until none is ready.")
    args = parser.parse_args(argv)
    try:
        launchpad = load_launchpad(args.launchpad, lock_timeout_s=ROCKET_LOCK_TIMEOUT_S)
        try:
            n = run_rockets(launchpad, singleshot=args.mode == "singleshot", nlaunches=args.nlaunches, timeout=args.timeout)
        finally:
            release_launchpad(launchpad)
    except InputError as exc:
        print(f"spillover: error: {redact(str(exc))}", file=sys.stderr)
        return 2
    print(f"spillover: ran {n} job(s) on {socket.gethostname()}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(_rocket_main(sys.argv[1:]))
