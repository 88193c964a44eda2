"""The results database: a jobflow JobStore, embedded (MontyStore on sqlite) by default.

``connect("spillover-db")`` gives a persistent database in a directory with no server;
``connect("configs/jobstore-mongodb.yaml")`` gives whatever JobStore the file describes
(jobflow's ``JobStore.from_file`` format, e.g. MongoStore for HPC users). Queries are
Mongo-style in both.
"""

from __future__ import annotations

from pathlib import Path

from jobflow import JobStore

from spillover.errors import InputError
from spillover.settings import get_settings

CONFIG_SUFFIXES = (".yaml", ".yml", ".json")
# MontyDB writes this file when it creates a database directory.
MONTY_MARKER = "monty.storage.cfg"


def _monty_jobstore(path: Path) -> JobStore:
    from maggma.stores import MontyStore

    def collection(name: str) -> MontyStore:
        return MontyStore(name, database_path=str(path), database_name="spillover", storage="sqlite")

    return JobStore(collection("outputs"), additional_stores={"data": collection("data")})


def _store_from_config(path: Path) -> JobStore:
    """A JobStore from a jobflow-style config; ``${VAR}`` values are taken from the environment.

    Credentials therefore live in environment variables (or a 0600 file sourced into them),
    never in the config file itself.
    """
    from spillover.config import read_config

    spec, _ = read_config(path, "db")
    try:
        return JobStore.from_dict_spec(spec)
    except Exception as exc:  # maggma and jobflow raise several types for a bad spec
        raise InputError("db", f"cannot build a store from {path}: {exc.__class__.__name__}") from None


def resolve_db(db: str | Path | None) -> str:
    """The database location: the argument, else ``SPILLOVER_DB``, else ``./spillover-db``."""
    return str(db) if db is not None else get_settings().db


def connect(db: str | Path | None = None, *, create: bool = True) -> JobStore:
    """Open the results database.

    Parameters
    ----------
    db
        A directory for the embedded database, or a JobStore config file (.yaml/.yml/.json).
        ``None`` uses ``SPILLOVER_DB`` or ``./spillover-db``.
    create
        Create an embedded database that does not exist yet. Read-only commands pass ``False``
        so that a mistyped path is an error, not a new empty database.

    Returns
    -------
    JobStore
        A connected job store.

    Raises
    ------
    InputError
        The config file is missing or unreadable, or ``create`` is False and no database exists.
    """
    location = Path(resolve_db(db))
    if location.suffix in CONFIG_SUFFIXES:
        if not location.is_file():
            raise InputError("db", f"store config file {location} does not exist")
        store = _store_from_config(location)
    else:
        if location.exists() and not location.is_dir():
            raise InputError("db", f"{location} is a file, not a database directory or .yaml/.json config")
        if not create and not (location / MONTY_MARKER).is_file():
            raise InputError("db", f"no spillover database at {location}", "a directory made by 'spillover run'")
        # Absolute: jobflow runs each job inside its own folder.
        store = _monty_jobstore(location.resolve())
    store.connect()
    return store


def describe(db: str | Path | None = None) -> str:
    """Human-readable location of the database, for messages."""
    location = resolve_db(db)
    return location if Path(location).suffix in CONFIG_SUFFIXES else str(Path(location).resolve())
