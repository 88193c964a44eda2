"""The results database: a jobflow JobStore, embedded (MontyStore on sqlite) by default.

``connect("spillover-db")`` gives a persistent database in a directory with no server;
``connect("configs/jobstore-mongodb.yaml")`` gives whatever JobStore the file describes
(jobflow's ``JobStore.from_file`` format, e.g. MongoStore for HPC users). Queries are
Mongo-style in both.

The embedded database is maggma's ``MontyStore`` made safe for several processes at once
(:class:`EmbeddedStore`): every write, and the creation of the database, holds an exclusive
file lock (``.spillover.lock`` in the database directory, created by the first writer and left
there); readers take no lock and open the sqlite files read-only, so that reading changes nothing
on disk and works in a read-only directory. New databases use sqlite's rollback journal: unlike
WAL (which databases made before keep) it needs no memory shared between the processes, so readers
create no files, and it works where processes on several hosts share the files over a network
filesystem with working locks. ``connect`` checks the database before anything runs; a database
that goes away or breaks later raises :class:`DatabaseUnavailable`.
"""

from __future__ import annotations

import configparser
import contextlib
import functools
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout
from jobflow import JobStore

from spillover.decoding import SafeJobStore
from maggma.core import StoreError
from maggma.stores import MontyStore
from monty.json import jsanitize
from montydb.storage.sqlite import SQLiteKVEngine

from spillover.errors import InputError
from spillover.settings import get_settings

CONFIG_SUFFIXES = (".yaml", ".yml", ".json")
# MontyDB's two configuration files; the .cfg is written last when a database is created, so it marks one.
STORAGE_FILE = ".monty.storage"
MONTY_MARKER = "monty.storage.cfg"
LOCK_FILE = ".spillover.lock"
DATABASE_NAME = "spillover"
COLLECTION_SUFFIX = ".collection"
# maggma's defaults, plus the journal mode for databases created from now on (older ones keep WAL).
STORAGE_KWARGS = {"use_bson": True, "mongo_version": "4.0", "journal_mode": "DELETE"}
LOCK_TIMEOUT_S = 600.0
SQLITE_TIMEOUT_S = 60.0
_WRITABLE = "a writable directory, or a .yaml/.json store config"


class DatabaseUnavailable(BaseException):
    """The embedded database vanished or broke while it was in use.

    Derived from ``BaseException``, like ``KeyboardInterrupt``, on purpose: jobflow's ``run_locally``
    catches every ``Exception`` a job raises and goes on with the next job, which would then compute
    for nothing, or store into a fresh directory no command looks at. The runner catches this and stops
    with one line.

    Parameters
    ----------
    location
        The database directory.
    problem
        What went wrong.
    """

    def __init__(self, location: str | Path, problem: str) -> None:
        self.location = str(location)
        self.problem = problem
        super().__init__(f"database {location}: {problem}")


def _sqlite_failure(exc: sqlite3.DatabaseError) -> str:
    """A short reason for an sqlite error (its message, e.g. 'file is not a database')."""
    return str(exc) or exc.__class__.__name__


def _open_read_only(path: Path) -> sqlite3.Connection:
    """An sqlite connection that cannot change ``path`` or create files next to it.

    A rollback-journal file is opened with ``mode=ro``. A WAL file (databases made before spillover used
    the rollback journal) needs its shared-memory file: where the directory is writable it is opened
    read-write under ``query_only``, since sqlite then removes the -wal/-shm files it made on close (a
    ``mode=ro`` connection would leave them behind); where it is not, and no writer has a -wal file
    open, it is opened ``immutable``.
    """
    with path.open("rb") as fh:
        header = fh.read(20)
    wal = len(header) == 20 and header[18] == 2
    uri = path.absolute().as_uri()
    if not wal:
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=SQLITE_TIMEOUT_S)
    elif os.access(path.parent, os.W_OK):
        conn = sqlite3.connect(f"{uri}?mode=rw", uri=True, timeout=SQLITE_TIMEOUT_S)
        conn.execute("PRAGMA query_only=ON")
    else:
        suffix = "" if Path(f"{path}-wal").exists() else "&immutable=1"
        conn = sqlite3.connect(f"{uri}?mode=ro{suffix}", uri=True, timeout=SQLITE_TIMEOUT_S)
    return conn


class _Engine(SQLiteKVEngine):
    """montydb's per-operation sqlite connections, opened as :class:`EmbeddedStore` needs them.

    Before each operation the database's configuration files must still be there; an sqlite error
    (the file is unreadable, unwritable, corrupt or locked for too long) becomes ``fail(reason)``.
    Read-only engines open every file with :func:`_open_read_only` and refuse to write.
    """

    def __init__(self, config: dict, repository: Path, *, read_only: bool, fail: Callable[[str], BaseException]) -> None:
        super().__init__(config)
        self.repository = repository
        self.read_only = read_only
        self.fail = fail
        self.check_same_thread = bool(config.get("check_same_thread", True))

    def _connect(self, db_file: str, wconcern: Any = None) -> contextlib.closing:
        missing = _missing_files(self.repository)
        if missing:
            raise self.fail(f"{missing} is gone")
        if self.read_only:
            conn = _open_read_only(Path(db_file))
        else:
            conn = sqlite3.connect(db_file, timeout=SQLITE_TIMEOUT_S, check_same_thread=self.check_same_thread)
            # montydb's own pragmas (the journal mode of the config); its write concern is not used by spillover.
            conn.executescript(self.db_pragmas)
        conn.text_factory = str
        return contextlib.closing(conn)


def _guard(name: str) -> Callable:
    @functools.wraps(getattr(SQLiteKVEngine, name))
    def method(self: _Engine, db_file: str, *args: Any, **kwargs: Any) -> Any:
        if self.read_only and not name.startswith("read"):
            raise StoreError(f"{self.repository} is open read-only")
        try:
            return getattr(SQLiteKVEngine, name)(self, db_file, *args, **kwargs)
        except sqlite3.IntegrityError:
            raise  # a duplicate _id, which montydb reports as DuplicateKeyError
        except sqlite3.DatabaseError as exc:
            raise self.fail(f"{Path(db_file).name} is unusable (sqlite: {_sqlite_failure(exc)})") from None

    return method


for _name in ("create_table", "write_one", "write_many", "update_one", "update_many", "delete_one", "delete_many",
              "read_all", "read_all_keys"):
    setattr(_Engine, _name, _guard(_name))


def _missing_files(repository: Path) -> str | None:
    """The first of the database's configuration files that is not there, if any."""
    for name in (STORAGE_FILE, MONTY_MARKER):
        if not (repository / name).is_file():
            return name
    return None


def _check_database(path: Path, collection: Path, *, writable: bool) -> None:
    """Raise :class:`InputError` unless ``path`` holds a usable sqlite MontyDB (and ``collection`` is sound).

    Everything here only reads; writability is the permission of the files and their directories.
    """
    def bad(problem: str, allowed: str | None = None) -> InputError:
        return InputError("db", f"{path}: {problem}", allowed)

    if not os.access(path, os.R_OK | os.X_OK):
        raise bad("the database directory is not readable")
    try:
        engine = (path / STORAGE_FILE).read_text().strip()
        parser = configparser.ConfigParser()
        parser.read_string((path / MONTY_MARKER).read_text())
    except (OSError, UnicodeDecodeError, configparser.Error) as exc:
        raise bad(f"unreadable or corrupt database configuration ({exc.__class__.__name__})") from None
    if not engine:
        raise bad(f"corrupt database configuration ({STORAGE_FILE} is empty)")
    if engine != "sqlite" or not parser.has_section("sqlite"):
        raise bad(f"not an sqlite MontyDB database ({STORAGE_FILE} says {engine[:20]!r})")
    if writable:
        for target in (path, collection.parent, collection):
            if target.exists() and not os.access(target, os.W_OK):
                name = "the database directory" if target == path else target.relative_to(path)
                raise bad(f"{name} is not writable", _WRITABLE)
    if not collection.is_file():
        return
    try:
        conn = sqlite3.connect(collection, timeout=SQLITE_TIMEOUT_S) if writable else _open_read_only(collection)
        try:
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise bad(f"{collection.name} is unreadable or corrupt ({_sqlite_failure(exc)})") from None
    except OSError as exc:
        raise bad(f"{collection.name} is unreadable ({exc.strerror})") from None
    if check != "ok":
        raise bad(f"{collection.name} is corrupt (sqlite: {check})")
    if tables and "documents" not in tables:
        raise bad(f"{collection.name} is not a MontyDB collection")


def _create_collection(collection: Path, engine: _Engine) -> None:
    """Make a collection's sqlite file with its table elsewhere, then move it into place (readers take no lock)."""
    collection.parent.mkdir(exist_ok=True)
    staging = collection.with_name(f".{collection.name}.new")
    staging.unlink(missing_ok=True)
    engine.create_table(str(staging))
    os.replace(staging, collection)


def _create_database(path: Path, storage_kwargs: dict) -> None:
    """Write montydb's configuration into ``path``, each file atomically (readers take no lock)."""
    from montydb import set_storage

    staging = Path(tempfile.mkdtemp(prefix=".new-", dir=path))
    try:
        set_storage(str(staging), storage="sqlite", **storage_kwargs)
        os.replace(staging / STORAGE_FILE, path / STORAGE_FILE)
        os.replace(staging / MONTY_MARKER, path / MONTY_MARKER)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _key_token(value: Any) -> tuple | None:
    """A hashable stand-in for a key value whose Mongo equality is Python equality, else None.

    Strings and integers compare the same way in both; bools, floats (NaN), None, arrays and
    documents have Mongo rules of their own.
    """
    if isinstance(value, str):
        return ("s", value)
    if isinstance(value, int) and not isinstance(value, bool):
        return ("n", value)
    return None


def _stored_token(value: Any) -> tuple:
    """The token a stored key value matches (Mongo: 1 equals 1.0, never True), see :func:`_key_token`."""
    if isinstance(value, str):
        return ("s", value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return ("n", value)  # ("n", 1.0) == ("n", 1), and NaN equals nothing
    return ("other",)


class EmbeddedStore(MontyStore):
    """maggma's ``MontyStore`` on sqlite, safe for concurrent processes, with a read-only mode.

    A drop-in maggma Store (a jobflow JobStore's docs_store and additional stores) on the same files as
    ``MontyStore``. Differences: ``connect`` checks the database and never rewrites montydb's
    configuration (``MontyStore.connect`` rewrites it every time, which another process connecting at
    that moment reads empty); creating the database, ``update`` (a read-modify-write: find the key,
    then insert or replace) and ``remove_docs`` hold an exclusive lock on ``.spillover.lock`` in the
    database directory. ``update`` finds the keys of a whole batch in one scan of the collection.

    Parameters
    ----------
    collection_name, database_path, database_name, storage_kwargs, client_kwargs, **kwargs
        As for ``MontyStore``; ``storage_kwargs`` only matter when the database is created.
    storage
        Only ``"sqlite"``.
    read_only
        Open the database without changing anything on disk: no lock file, no configuration, no
        sqlite journal. The database must exist; writes raise ``StoreError``.
    """

    def __init__(
        self,
        collection_name: str,
        database_path: str | None = None,
        database_name: str = "db",
        storage: str = "sqlite",
        storage_kwargs: dict | None = None,
        client_kwargs: dict | None = None,
        read_only: bool = False,
        **kwargs: Any,
    ) -> None:
        if storage != "sqlite":
            raise ValueError(f"EmbeddedStore supports the sqlite storage only, not {storage!r}")
        super().__init__(
            collection_name,
            database_path=database_path,
            database_name=database_name,
            storage=storage,
            storage_kwargs=storage_kwargs or dict(STORAGE_KWARGS),
            client_kwargs=client_kwargs,
            **kwargs,
        )
        self.read_only = read_only

    @property
    def _path(self) -> Path:
        return Path(self.database_path)

    @property
    def _collection_file(self) -> Path:
        return self._path / self.database_name / f"{self.collection_name}{COLLECTION_SUFFIX}"

    def _lost(self, problem: str) -> BaseException:
        # A read command has no jobflow around it to get past: a plain InputError reads better there.
        if self.read_only:
            return InputError("db", f"{self._path}: {problem}")
        return DatabaseUnavailable(self._path, problem)

    @contextlib.contextmanager
    def _locked(self, fail: Callable[[str], BaseException]) -> Iterator[None]:
        """Hold the database's write lock (reentrant within a process, exclusive between processes)."""
        lock = FileLock(self._path / LOCK_FILE, timeout=LOCK_TIMEOUT_S, is_singleton=True)
        try:
            lock.acquire()
        except Timeout:
            raise fail(f"another process has held {LOCK_FILE} for more than {LOCK_TIMEOUT_S:.0f} s") from None
        except OSError as exc:
            raise fail(f"cannot open {LOCK_FILE}: {exc.strerror}") from None
        try:
            yield
        finally:
            lock.release()

    def _client_collection(self, fail: Callable[[str], BaseException]) -> Any:
        from montydb import MontyClient

        client = MontyClient(str(self._path), **self.client_kwargs)
        storage = client._storage
        storage._conn = _Engine(storage._config, self._path, read_only=self.read_only, fail=fail)
        return client[self.database_name][self.collection_name]

    def connect(self, force_reset: bool = False) -> None:
        """Open the database, creating it if needed (unless read-only), after checking it is usable.

        Raises
        ------
        InputError
            ``database_path`` cannot be a database directory, or the database is corrupt, unreadable,
            unwritable (unless read-only), locked for too long, or (read-only) does not exist.
        """
        if self._coll is not None and not force_reset:
            return
        path = self._path

        def at_connect(problem: str) -> InputError:
            return InputError("db", f"{path}: {problem}")

        if self.read_only:
            if not (path / MONTY_MARKER).is_file() or not (path / STORAGE_FILE).is_file():
                raise InputError("db", f"no spillover database at {path}", "a directory made by 'spillover run'")
            _check_database(path, self._collection_file, writable=False)
            self._coll = self._client_collection(self._lost)
            return
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError("db", f"cannot create database directory {path}: {exc.strerror}", _WRITABLE) from None
        if not os.access(path, os.W_OK | os.X_OK):
            raise InputError("db", f"{path} is not writable", _WRITABLE)
        with self._locked(at_connect):
            if not (path / MONTY_MARKER).is_file():
                try:
                    _create_database(path, self.storage_kwargs)
                except OSError as exc:
                    raise InputError("db", f"cannot create a database in {path}: {exc.strerror}", _WRITABLE) from None
            _check_database(path, self._collection_file, writable=True)
            collection = self._client_collection(at_connect)
            # (a file without its table: a process stopped between making the file and the table)
            if not self._collection_file.is_file() or not self._has_table():
                _create_collection(self._collection_file, collection._storage._conn)
        self._coll = collection
        # From now on a database that disappears or breaks stops whatever uses the store.
        collection._storage._conn.fail = self._lost

    def _has_table(self) -> bool:
        with contextlib.closing(sqlite3.connect(self._collection_file, timeout=SQLITE_TIMEOUT_S)) as conn:
            return conn.execute("SELECT 1 FROM sqlite_master WHERE name='documents'").fetchone() is not None

    @property
    def _collection(self) -> Any:
        """montydb's collection, once the database is known to be still there."""
        collection = super()._collection
        missing = _missing_files(self._path)
        if missing is None and not self.read_only and not self._collection_file.is_file():
            missing = str(self._collection_file.relative_to(self._path))
        if missing:
            raise self._lost(f"{missing} is gone")
        return collection

    def _writable(self) -> None:
        if self.read_only:
            raise StoreError(f"{self.name} is open read-only")

    def update(self, docs: list[dict] | dict, key: list | str | None = None) -> None:
        """Insert or replace documents by ``key``, as ``MontyStore.update`` does, under the write lock.

        Parameters
        ----------
        docs
            A document or a list of them.
        key
            The field(s) that identify a document; the store's ``key`` by default.
        """
        self._writable()
        docs = docs if isinstance(docs, list) else [docs]
        key = key or self.key
        fields = key if isinstance(key, list) else [key]
        prepared = [d for d in (self._validated(doc) for doc in docs) if d is not None]
        if not prepared:
            return
        self._collection  # noqa: B018 - a database that has gone is reported as such, not as a lock failure
        with self._locked(self._lost):
            tokens = [tuple(_key_token(d[f]) for f in fields) for d in prepared]
            if any("." in f or f.startswith("$") for f in fields) or any(None in t for t in tokens):
                for d in prepared:  # keys with Mongo semantics of their own: MontyStore's own way
                    self._collection.replace_one({f: d[f] for f in fields}, d, upsert=True)
                return
            self._upsert(prepared, tokens, fields)

    def _validated(self, doc: dict) -> dict | None:
        """The document as ``MontyStore.update`` stores it (sanitized, validated), or None to skip it."""
        d = jsanitize(doc, allow_bson=True)
        if self.validator and not self.validator.is_valid(d):
            if self.validator.strict:
                raise ValueError(self.validator.validation_errors(d))
            self.logger.error(self.validator.validation_errors(d))
            return None
        return d

    def _upsert(self, docs: list[dict], tokens: list[tuple], fields: list[str]) -> None:
        """Find the batch's string/int keys in one scan, then replace the found and insert the new in one go each."""
        collection = self._collection
        wanted = set(tokens)
        existing: dict[tuple, Any] = {}
        for stored in collection.find({}):
            values = [stored.get(f) for f in fields]
            if any(isinstance(v, list) for v in values):
                # an array matches any of its elements: leave this batch to montydb's own matching
                for d in docs:
                    collection.replace_one({f: d[f] for f in fields}, d, upsert=True)
                return
            token = tuple(_stored_token(v) for v in values)
            if token in wanted:
                existing.setdefault(token, stored["_id"])  # the first match, as replace_one takes
        new: dict[tuple, dict] = {}
        replaced: dict[tuple, dict] = {}
        for token, d in zip(tokens, docs):
            # of two documents of one batch with the same key the later wins, as with one update after the other
            if token in existing:
                replaced[token] = {**d, "_id": existing[token]}
            else:
                new[token] = d
        if replaced:
            # what replace_one does for each match, in one transaction
            collection._storage.update_many(collection, list(replaced.values()))
        if new:
            collection.insert_many(list(new.values()))

    def remove_docs(self, criteria: dict) -> None:
        """Remove the documents matching ``criteria``, under the write lock."""
        self._writable()
        self._collection  # noqa: B018 - as in update
        with self._locked(self._lost):
            self._collection.delete_many(filter=criteria)


def _monty_jobstore(path: Path, *, read_only: bool = False) -> JobStore:
    def collection(name: str) -> EmbeddedStore:
        return EmbeddedStore(name, database_path=str(path), database_name=DATABASE_NAME, read_only=read_only)

    return SafeJobStore(collection("outputs"), additional_stores={"data": collection("data")})


def _anchor_paths(spec: dict, base: Path) -> dict:
    """Relative ``database_path`` of MontyStores made absolute against the config file's folder.

    A queue job reads the config from its own launch folder, so a relative path would point each
    job at another database.
    """
    stores = [spec.get("docs_store"), *(spec.get("additional_stores") or {}).values()]
    for store in stores:
        if isinstance(store, dict) and store.get("type") == "MontyStore" and store.get("database_path"):
            path = Path(str(store["database_path"])).expanduser()
            if not path.is_absolute():
                store["database_path"] = str((base / path).resolve())
    return spec


def _store_from_config(path: Path) -> JobStore:
    """A JobStore from a jobflow-style config; ``${VAR}`` values are taken from the environment.

    Credentials therefore live in environment variables (or a 0600 file sourced into them),
    never in the config file itself. The store checks every stored output before jobflow
    decodes it (:class:`spillover.decoding.SafeJobStore`).
    """
    from spillover.config import read_config

    spec, _ = read_config(path, "db")
    try:
        return SafeJobStore.from_dict_spec(_anchor_paths(spec, path.resolve().parent))
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
        Open the embedded database for writing, creating it if it does not exist yet. Read-only
        commands pass ``False``: a mistyped path is then an error, not a new empty database, and
        the database is opened read-only (nothing on disk changes; a read-only directory works).

    Returns
    -------
    JobStore
        A connected job store.

    Raises
    ------
    InputError
        The config file is missing or unreadable; the path cannot be a database directory; the
        database is corrupt or (``create``) not writable; or ``create`` is False and no database exists.
    """
    location = Path(resolve_db(db))
    if location.suffix in CONFIG_SUFFIXES:
        if not location.is_file():
            raise InputError("db", f"store config file {location} does not exist")
        store = _store_from_config(location)
        try:
            store.connect()
        except Exception as exc:  # pymongo, maggma and montydb raise several types; none is shown raw
            from spillover.config import redact

            first = (str(exc).splitlines() or [exc.__class__.__name__])[0][:300]
            raise InputError("db", f"cannot connect the store of {location}: {redact(first)}") from None
        return store
    else:
        if location.exists() and not location.is_dir():
            raise InputError("db", f"{location} is a file, not a database directory or .yaml/.json config")
        if not create and not (location / MONTY_MARKER).is_file():
            raise InputError("db", f"no spillover database at {location}", "a directory made by 'spillover run'")
        # Absolute: jobflow runs each job inside its own folder.
        store = _monty_jobstore(location.resolve(), read_only=not create)
    store.connect()
    return store


def describe(db: str | Path | None = None) -> str:
    """Human-readable location of the database, for messages."""
    location = resolve_db(db)
    return location if Path(location).suffix in CONFIG_SUFFIXES else str(Path(location).resolve())
