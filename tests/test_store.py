"""The results database: embedded MontyStore by default, JobStore configs with ${VAR} credentials.

Also: reads that change nothing on disk (even in a read-only directory), bad, corrupt or unwritable
databases refused at connect, and a run that stops when its database goes away. Concurrent processes:
test_store_concurrency.py.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from conftest import TINY_STUDY, db_snapshot
from jobflow import Flow, job

from spillover.errors import InputError
from spillover.store import LOCK_FILE, EmbeddedStore, connect


def test_embedded_store_persists_across_connections(tmp_path):
    store = connect(tmp_path / "db")
    store.docs_store.update([{"uuid": "u1", "index": 1, "output": {"energy_eV": -1.5}}], key=["uuid", "index"])
    again = connect(tmp_path / "db", create=False)
    assert again.query_one({"uuid": "u1"})["output"]["energy_eV"] == -1.5
    assert again.count({"output.energy_eV": {"$lt": -1}}) == 1  # Mongo-style queries


def test_read_only_connect_never_creates(tmp_path):
    with pytest.raises(InputError, match="no spillover database"):
        connect(tmp_path / "missing", create=False)
    assert not (tmp_path / "missing").exists()


def test_config_file_with_environment_credentials(tmp_path, monkeypatch):
    config = tmp_path / "store.yaml"
    config.write_text(
        "docs_store:\n  type: MontyStore\n  collection_name: outputs\n  database_path: ${SPILL_DB_DIR}\n"
        "  storage: sqlite\n"
    )
    with pytest.raises(InputError, match="SPILL_DB_DIR"):
        connect(config)
    monkeypatch.setenv("SPILL_DB_DIR", str(tmp_path / "from-env"))
    store = connect(config)
    store.docs_store.update([{"uuid": "u2", "index": 1}], key=["uuid", "index"])
    assert (tmp_path / "from-env").is_dir()
    assert connect(config).query_one({"uuid": "u2"}) is not None


def test_mongodb_example_config_needs_its_variables(monkeypatch):
    example = Path(__file__).resolve().parents[1] / "configs" / "jobstore-mongodb.yaml"
    for var in ("SPILLOVER_MONGO_HOST", "SPILLOVER_MONGO_USER", "SPILLOVER_MONGO_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(InputError, match="SPILLOVER_MONGO_HOST"):
        connect(example)


def test_mongodb_example_config_builds_once_its_variables_are_set(monkeypatch):
    """Comments naming ${VAR} do not count; values are expanded after parsing, so they cannot change the YAML."""
    from jobflow import JobStore

    from spillover.config import read_config

    example = Path(__file__).resolve().parents[1] / "configs" / "jobstore-mongodb.yaml"
    monkeypatch.setenv("SPILLOVER_MONGO_HOST", "db.example.org")
    monkeypatch.setenv("SPILLOVER_MONGO_USER", "me")
    monkeypatch.setenv("SPILLOVER_MONGO_PASSWORD", "p: [x")
    spec, raw = read_config(example, "db")
    assert spec["docs_store"]["password"] == "p: [x" and raw["docs_store"]["password"] == "${SPILLOVER_MONGO_PASSWORD}"
    store = JobStore.from_dict_spec(spec)  # built, not connected
    assert store.docs_store.host == "db.example.org"


# -- the embedded database: read-only reads, checks at connect, a database lost mid-run ----------------------

KEY = ["uuid", "index"]
NOBODY = 65534


def _filled(db: Path) -> Path:
    store = connect(db)
    store.docs_store.update([{"uuid": f"u{i}", "index": 1, "output": {"energy_eV": -i}} for i in range(3)], key=KEY)
    return db


def _legacy(db: Path) -> Path:
    """A database as spillover wrote it before: maggma's own MontyStore (sqlite in WAL mode)."""
    from maggma.stores import MontyStore

    old = MontyStore("outputs", database_path=str(db), database_name="spillover", storage="sqlite")
    old.connect()
    old.update([{"uuid": "old", "index": 1, "output": {"energy_eV": -2.0}}], key=KEY)
    assert (db / "spillover" / "outputs.collection").read_bytes()[18] == 2  # WAL
    return db


def _set_read_only(path: Path, read_only: bool = True) -> None:
    for root, _, files in os.walk(path):
        for name in files:
            os.chmod(os.path.join(root, name), 0o444 if read_only else 0o644)
        os.chmod(root, 0o555 if read_only else 0o755)


def _as_another_user(fn) -> str:
    """Run ``fn`` where permissions apply (root ignores chmod: then in a child as nobody); '' or its error."""
    if os.geteuid() != 0:
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001
            return f"{type(exc).__name__}: {exc}"
        return ""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child only uses modules the parent has imported: nobody cannot read the venv
        os.close(read)
        message = ""
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            fn()
        except BaseException as exc:  # noqa: BLE001
            message = f"{type(exc).__name__}: {exc}"
        os.write(write, message.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as fh:
        message = fh.read()
    os.waitpid(pid, 0)
    return message


@pytest.fixture
def shared_dir():
    """A directory another user can reach (pytest's own tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="spillover-store-"))
    path.chmod(0o755)
    yield path
    _set_read_only(path, False)
    shutil.rmtree(path)


def _listing(db: Path) -> list[str]:
    store = connect(db, create=False)
    return sorted(d["uuid"] for d in store.query({}, properties=["uuid"]))


@pytest.mark.parametrize("made_by", [_filled, _legacy], ids=["spillover", "legacy-maggma-wal"])
def test_a_read_changes_no_byte_on_disk(tmp_path, made_by):
    db = made_by(tmp_path / "db")
    before = db_snapshot(db)
    store = connect(db, create=False)
    assert store.count() >= 1 and _listing(db)
    store.query_one({"uuid": "u1"}, load=True)
    assert db_snapshot(db) == before
    if made_by is _legacy:
        assert not (db / LOCK_FILE).exists()  # read commands create no lock file


@pytest.mark.parametrize("made_by", [_filled, _legacy], ids=["spillover", "legacy-maggma-wal"])
def test_a_read_only_directory_can_be_listed(shared_dir, made_by):
    db = made_by(shared_dir / "db")
    expected = _listing(db)  # also imports what a read needs, before the child drops root
    before = db_snapshot(db)
    _set_read_only(db)

    def same_listing() -> None:
        assert _listing(db) == expected

    assert _as_another_user(same_listing) == ""
    _set_read_only(db, False)
    assert db_snapshot(db) == before and expected


def test_a_read_only_directory_is_refused_for_writing_at_connect(shared_dir):
    db = _filled(shared_dir / "db")
    connect(db)
    _set_read_only(db)
    error = _as_another_user(lambda: connect(db))
    assert error.startswith("InputError: db: ") and "not writable" in error


def test_unwritable_database_files_are_refused_at_connect(shared_dir):
    db = _filled(shared_dir / "db")
    os.chmod(db, 0o777)
    os.chmod(db / "spillover", 0o777)
    if (db / LOCK_FILE).exists():
        os.chmod(db / LOCK_FILE, 0o666)
    for f in (db / "spillover").iterdir():
        f.chmod(0o444)
    error = _as_another_user(lambda: connect(db))
    assert error.startswith("InputError: db: ") and "outputs.collection is not writable" in error


@pytest.mark.parametrize("where", ["/proc/spillover-db", "a-file", "a-file/db"])
def test_a_db_that_cannot_be_a_directory_is_one_input_error(tmp_path, where):
    (tmp_path / "a-file").write_text("not a database\n")
    location = where if where.startswith("/") else tmp_path / where
    with pytest.raises(InputError) as err:
        connect(location)
    assert "\n" not in str(err.value) and str(err.value).startswith("db: ")
    with pytest.raises(InputError):
        connect(location, create=False)


def _garbage(db: Path) -> None:
    (db / "spillover" / "outputs.collection").write_bytes(b"not an sqlite file " * 200)


def _truncated(db: Path) -> None:
    collection = db / "spillover" / "outputs.collection"
    collection.write_bytes(collection.read_bytes()[:5000])


def _empty_storage_file(db: Path) -> None:
    (db / ".monty.storage").write_text("")


def _broken_config(db: Path) -> None:
    (db / "monty.storage.cfg").write_text("[[[ this is not ini\n")


@pytest.mark.parametrize("breakage", [_garbage, _truncated, _empty_storage_file, _broken_config])
def test_a_corrupt_database_is_refused_at_connect_and_before_any_job(tmp_path, breakage):
    from spillover.runner import run_study
    from spillover.study import load_study

    db = _filled(tmp_path / "db")
    for i in range(40):  # enough pages that a truncated file misses some
        connect(db).docs_store.update({"uuid": f"big{i}", "index": 1, "blob": "x" * 2000}, key=KEY)
    breakage(db)
    before = db_snapshot(db)
    for create in (True, False):
        with pytest.raises(InputError, match="^db: .*corrupt"):
            connect(db, create=create)
    with pytest.raises(InputError, match="corrupt"):
        run_study(load_study(TINY_STUDY), "analytic", db=str(db), scratch=tmp_path / "scratch")
    assert not (tmp_path / "scratch").exists() and db_snapshot(db) == before


def test_a_legacy_maggma_database_still_opens_and_takes_writes(tmp_path):
    db = _legacy(tmp_path / "db")
    store = connect(db)
    store.docs_store.update({"uuid": "new", "index": 1}, key=KEY)
    assert _listing(db) == ["new", "old"]
    assert (db / "monty.storage.cfg").read_text().count("[sqlite]") == 1


def test_updates_match_montystore(tmp_path):
    """Batches, repeated keys, and keys with Mongo rules of their own (1 == 1.0, True != 1, arrays)."""
    from maggma.stores import MontyStore

    batches = [
        ([{"uuid": "a", "index": 1, "v": 1}, {"uuid": "b", "index": 1, "v": 1}], KEY),
        ([{"uuid": "a", "index": 1, "v": 2}, {"uuid": "a", "index": 1, "v": 3}, {"uuid": "c", "index": 2}], KEY),
        ({"uuid": "f", "index": 1.0, "v": 1}, KEY),
        ({"uuid": "f", "index": 1, "v": 2}, KEY),
        ({"uuid": "t", "index": True, "v": 1}, KEY),
        ({"uuid": "t", "index": 1, "v": 2}, KEY),
        ({"uuid": ["x", "y"], "index": 1, "v": 1}, KEY),
        ({"uuid": "x", "index": 1, "v": 2}, KEY),
        ({"task_id": 7, "v": 1}, None),
        ({"task_id": 7, "v": 2}, None),
    ]
    contents = []
    for cls in (MontyStore, EmbeddedStore):
        store = cls("c", database_path=str(tmp_path / cls.__name__), database_name="spillover")
        store.connect()
        for docs, key in batches:
            store.update(docs, key=key)
        contents.append(sorted(repr({k: v for k, v in d.items() if k != "_id"}) for d in store.query({})))
    assert contents[0] == contents[1] and len(contents[0]) == 8


def test_read_only_store_refuses_writes_and_the_store_survives_serialisation(tmp_path):
    from jobflow import JobStore
    from maggma.core import StoreError

    db = _filled(tmp_path / "db")
    with pytest.raises(StoreError, match="read-only"):
        connect(db, create=False).docs_store.update({"uuid": "x", "index": 1}, key=KEY)
    # what jobflow puts into each Firework: the queue job gets the same locking store
    again = JobStore.from_dict(connect(db).as_dict())
    assert isinstance(again.docs_store, EmbeddedStore) and not again.docs_store.read_only
    again.connect()
    assert again.count() == 3


# -- a database that disappears or breaks during a run --------------------------------------------------------


@job
def _step(x: int, breakage: str = "", db: str = "", marker: str = "") -> int:
    if marker:
        Path(marker).write_text("ran")
    if breakage == "remove":
        shutil.rmtree(db)
    elif breakage == "corrupt":
        _garbage(Path(db))
    return x + 1


@pytest.mark.filterwarnings("ignore:Some jobs are not connected")
@pytest.mark.parametrize("breakage", ["remove", "corrupt"])
def test_a_database_lost_mid_run_stops_the_run_with_one_line(tmp_path, monkeypatch, capsys, breakage):
    """The job that loses the database is the last to run: neither its child nor an unrelated job runs."""
    from spillover import runner
    from spillover.study import load_study

    db = tmp_path / "db"
    first = _step(0, marker=str(tmp_path / "first-ran"))
    lossy = _step(first.output, breakage=breakage, db=str(db))
    child = _step(lossy.output, marker=str(tmp_path / "child-ran"))
    unrelated = _step(0, marker=str(tmp_path / "unrelated-ran"))  # a second component of the graph: runs last
    monkeypatch.setattr(runner, "make_plan", lambda *a, **k: Flow([first, lossy, child, unrelated]))
    code = runner.run_study(load_study(TINY_STUDY), "analytic", db=str(db), scratch=tmp_path / "scratch")
    err = capsys.readouterr().err
    assert code == 3
    (line,) = [line for line in err.splitlines() if "stopped" in line]
    assert str(db) in line and ("is gone" if breakage == "remove" else "not a database") in line
    assert "failed" not in err and "cache" not in err and "Traceback" not in err
    assert (tmp_path / "first-ran").exists()
    assert not (tmp_path / "child-ran").exists() and not (tmp_path / "unrelated-ran").exists()
    if breakage == "remove":
        assert not db.exists()  # nothing was stored into a new directory behind the CLI's back
