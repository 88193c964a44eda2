"""Several processes on one embedded database at once: nothing lost, nothing duplicated, no crash.

Every trial starts its processes together (a multiprocessing Barrier right before they connect), on a
database that does not exist yet, so that creating it, connecting to it and writing to it all race.
Writers send their documents in batches of 25 (each batch one locked read-modify-write), which keeps
4 writers x 250 documents x 10 trials within about half a minute on two busy cores.
"""

from __future__ import annotations

import collections
import multiprocessing as mp
import queue
import sqlite3
import time
from pathlib import Path

from spillover.errors import InputError
from spillover.store import connect

# fork: the children inherit the imported modules (and, when checking a test, a disabled mechanism)
CTX = mp.get_context("fork")
KEY = ["uuid", "index"]
WRITERS, DOCS, BATCH, TRIALS = 4, 250, 25, 10
TIMEOUT_S = 120


def _write(db: Path, writer: int, keys: list[str], batch: int, barrier, errors, connect_first: bool) -> None:
    """Child: connect at the barrier (or connect, then wait there), then upsert ``keys`` in batches."""
    try:
        if connect_first:
            store = connect(db)
        barrier.wait(timeout=TIMEOUT_S)
        if not connect_first:
            store = connect(db)
        for start in range(0, len(keys), batch):
            docs = [{"uuid": k, "index": 1, "writer": writer} for k in keys[start : start + batch]]
            store.docs_store.update(docs, key=KEY)
    except BaseException as exc:  # noqa: BLE001 - every failure of a child is a finding
        errors.put(f"writer {writer}: {type(exc).__name__}: {exc}")


def _read(db: Path, barrier, done, errors, reads) -> None:
    """Child: list the database as read commands do, again and again, until the writers are done."""
    n = 0
    try:
        barrier.wait(timeout=TIMEOUT_S)
        while not done.is_set():
            try:
                store = connect(db, create=False)
            except InputError as exc:
                if "no spillover database" in str(exc):
                    continue  # not created yet: what a read command would say
                raise
            store.count({"index": 1})
            list(store.query({"index": 1}, properties=KEY))
            n += 1
    except BaseException as exc:  # noqa: BLE001
        errors.put(f"reader: {type(exc).__name__}: {exc}")
    reads.put(n)


def _drain(q) -> list:
    items = []
    while True:
        try:
            items.append(q.get_nowait())
        except queue.Empty:
            return items


def _trial(
    db: Path, key_sets: list[list[str]], readers: int = 0, connect_first: bool = False
) -> tuple[collections.Counter, list[str], int]:
    """Run one synchronised trial; the stored keys with their counts, the children's errors, the reads."""
    barrier = CTX.Barrier(len(key_sets) + readers)
    done, errors, reads = CTX.Event(), CTX.Queue(), CTX.Queue()
    writers = [CTX.Process(target=_write, args=(db, i, keys, BATCH, barrier, errors, connect_first))
               for i, keys in enumerate(key_sets)]
    others = [CTX.Process(target=_read, args=(db, barrier, done, errors, reads)) for _ in range(readers)]
    for p in writers + others:
        p.start()
    for p in writers:
        p.join(TIMEOUT_S)
    done.set()
    for p in others:
        p.join(TIMEOUT_S)
    hung = [p for p in writers + others if p.is_alive()]
    for p in hung:
        p.kill()
    n_reads = sum(reads.get(timeout=5) for _ in others) if not hung else 0
    errors_seen = _drain(errors) + [f"process {p.pid} hung" for p in hung]
    docs = connect(db, create=False).docs_store.query({}, properties=KEY)
    return collections.Counter((d["uuid"], d["index"]) for d in docs), errors_seen, n_reads


def test_concurrent_writers_store_every_document_once(tmp_path):
    """4 processes x 250 documents at once into a new database, 10 times: all 1000 there, each once."""
    for trial in range(TRIALS):
        db = tmp_path / f"db{trial}"
        key_sets = [[f"w{w}-{i}" for i in range(DOCS)] for w in range(WRITERS)]
        stored, errors, _ = _trial(db, key_sets)
        assert errors == [], f"trial {trial}"
        assert len(stored) == WRITERS * DOCS, f"trial {trial}: {len(stored)} of {WRITERS * DOCS} stored"
        assert max(stored.values()) == 1, f"trial {trial}: duplicated keys"


def test_concurrent_upserts_of_the_same_keys_leave_one_document_each(tmp_path):
    """4 processes upserting the same 100 keys (the check-then-insert race of an upsert): no duplicates.

    They connect first and then start writing together, so that their first scans coincide.
    """
    keys = [f"k{i}" for i in range(100)]
    for trial in range(3):
        stored, errors, _ = _trial(tmp_path / f"db{trial}", [keys] * WRITERS, connect_first=True)
        assert errors == [], f"trial {trial}"
        duplicated = {k: n for k, n in stored.items() if n > 1}
        assert not duplicated and len(stored) == len(keys), f"trial {trial}: {len(duplicated)} keys duplicated"


def test_readers_during_writes_never_crash(tmp_path):
    """2 processes listing the database (as `spillover results` does) while 4 create it and write to it."""
    db = tmp_path / "db"
    key_sets = [[f"w{w}-{i}" for i in range(DOCS)] for w in range(WRITERS)]
    stored, errors, n_reads = _trial(db, key_sets, readers=2)
    assert errors == []
    assert n_reads > 0
    assert len(stored) == WRITERS * DOCS and max(stored.values()) == 1


def test_readers_never_see_a_half_made_database(tmp_path, monkeypatch):
    """Creation made slow on purpose (an empty config for 0.3 s, a collection file without its table for
    0.3 s): readers starting with the writer see no database or a whole one, never the pieces."""
    from montydb.storage import AbstractStorage
    from montydb.storage.sqlite import SQLiteKVEngine

    save_config, create_table = AbstractStorage.save_config.__func__, SQLiteKVEngine.create_table

    def slow_save_config(cls, repository, **kwargs):
        save_config(cls, repository, **kwargs)
        config = Path(repository) / "monty.storage.cfg"
        text = config.read_text()
        config.write_text("")  # where open(..., "w") leaves it until the write
        time.sleep(0.3)
        config.write_text(text)

    def slow_create_table(self, db_file):
        sqlite3.connect(db_file).close()  # the file exists, its table not yet
        time.sleep(0.3)
        create_table(self, db_file)

    # set in this process before the fork, so the writer child creates the database this slowly
    monkeypatch.setattr(AbstractStorage, "save_config", classmethod(slow_save_config))
    monkeypatch.setattr(SQLiteKVEngine, "create_table", slow_create_table)
    stored, errors, n_reads = _trial(tmp_path / "db", [[f"k{i}" for i in range(50)]], readers=2)
    assert errors == []
    assert n_reads > 0 and len(stored) == 50
