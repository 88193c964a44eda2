"""The results database: embedded MontyStore by default, JobStore configs with ${VAR} credentials."""

from __future__ import annotations

import pytest

from spillover.errors import InputError
from spillover.store import connect


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
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "configs" / "jobstore-mongodb.yaml"
    for var in ("SPILLOVER_MONGO_HOST", "SPILLOVER_MONGO_USER", "SPILLOVER_MONGO_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(InputError, match="SPILLOVER_MONGO_HOST"):
        connect(example)


def test_mongodb_example_config_builds_once_its_variables_are_set(monkeypatch):
    """Comments naming ${VAR} do not count; values are expanded after parsing, so they cannot change the YAML."""
    from pathlib import Path

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
