"""Credentials: read from the environment or from a 0600 file, and never printed, logged or written down.

A distinctive secret sits in ``SPILLOVER_MONGO_PASSWORD`` and reaches spillover through real code paths:
a mongomock LaunchPad whose config carries ``password: ${SPILLOVER_MONGO_PASSWORD}`` (FireWorks hands it to
the client), a JobStore config of MontyStores that carries it in ``client_kwargs`` (MontyDB's client takes
it and ignores it; jobflow would have serialised it into every Firework), and the shipped MongoDB JobStore
config. The study is submitted, shown, rendered into queue scripts and *run* by the queue job's rocket
(the store rebuilt from the config path and the environment), connections fail, configs are broken; then
every byte written — stdout, stderr, logs, the LaunchPad JSON, the store directory, the scripts, the
launcher folders — is searched for the secret.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, TINY_STUDY, spillover

CONFIGS = ROOT / "configs"
SECRET = "Zq7-sp1ll0ver-S3CRET"
# What the variable holds: the marker plus characters that must not change a YAML file's structure.
SECRET_VALUE = f"{SECRET}: [x"


def _jobstore(path: Path, db: Path, password: str = "${SPILLOVER_MONGO_PASSWORD}", mode: int = 0o644) -> Path:
    def store(collection: str) -> dict:
        return {"type": "MontyStore", "collection_name": collection, "database_path": str(db), "database_name": "spillover",
                "storage": "sqlite", "client_kwargs": {"username": "me", "password": password}}

    path.write_text(yaml.safe_dump({"docs_store": store("outputs"), "additional_stores": {"data": store("data")}}))
    path.chmod(mode)
    return path


def _launchpad(path: Path, mode: int = 0o644, **extra) -> Path:
    spec = {"host": "localhost", "port": 27017, "name": "spillover_fireworks", "username": "me",
            "password": "${SPILLOVER_MONGO_PASSWORD}", "logdir": str(path.parent / "lp-logs"), **extra}
    (path.parent / "lp-logs").mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(spec))
    path.chmod(mode)
    return path


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Session:
    """Runs commands like a user's shell and keeps everything they print."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.outputs: list[tuple[str, str]] = []
        self.env = {
            "MONGOMOCK_SERVERSTORE_FILE": str(tmp / "launchpad.json"),
            "SPILLOVER_SCRATCH": str(tmp / "scratch"),
            "SPILLOVER_MONGO_PASSWORD": SECRET_VALUE,
            "SPILLOVER_MONGO_HOST": "127.0.0.1",
            "SPILLOVER_MONGO_USER": "me",
        }

    def run(self, *argv: str, ok: bool = True, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
        result = spillover(*argv, env={**self.env, **(env or {})}, cwd=cwd)
        return self._keep(" ".join(argv[:2]), result, ok)

    def rocket(self, launchpad: Path, cwd: Path) -> subprocess.CompletedProcess:
        cwd.mkdir(parents=True, exist_ok=True)
        result = subprocess.run([sys.executable, "-m", "spillover.submit", "rapidfire", "--launchpad", str(launchpad)],
                                capture_output=True, text=True, cwd=cwd, env={**os.environ, **self.env}, timeout=600)
        return self._keep("rocket", result, True)

    def _keep(self, what: str, result: subprocess.CompletedProcess, ok: bool) -> subprocess.CompletedProcess:
        self.outputs.append((f"{what} stdout", result.stdout))
        self.outputs.append((f"{what} stderr", result.stderr))
        if ok:
            assert result.returncode == 0, (what, result.stdout[-2000:], result.stderr[-3000:])
        return result

    def refused(self, *argv: str, field: str, env: dict | None = None) -> str:
        result = self.run(*argv, ok=False, env=env)
        assert result.returncode == 2, (result.stdout, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.stderr and field in lines[0], result.stderr
        return lines[0]


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> Session:
    """Everything a user does with the secret in the environment, once; the tests read what it left."""
    tmp = tmp_path_factory.mktemp("secrets")
    s = Session(tmp)
    db = tmp / "db"
    s.jobstore = _jobstore(tmp / "jobstore.yaml", db)
    s.launchpad = _launchpad(tmp / "launchpad.yaml")
    s.db = db

    s.submitted = json.loads(s.run("submit", str(TINY_STUDY), "--preset", "analytic", "--launchpad", str(s.launchpad),
                                   "--db", str(s.jobstore), "--json").stdout)
    s.run("submit", str(TINY_STUDY), "--preset", "analytic", "--launchpad", str(s.launchpad), "--db", str(s.jobstore))
    s.run("status", "--launchpad", str(s.launchpad))
    s.run("status", "--launchpad", str(s.launchpad), "--json")
    for qadapter in ("qadapter-slurm.yaml", "qadapter-pbs.yaml"):
        script = s.run("launch", "--dry-run", "--qadapter", str(CONFIGS / qadapter), "--launchpad", str(s.launchpad)).stdout
        (tmp / f"dry-run-{qadapter}.sh").write_text(script)
    # the queue job's side: the rocket rebuilds the store from the config path and this environment
    s.rocket(s.launchpad, tmp / "queue-job")
    s.results = json.loads(s.run("results", "--db", str(s.jobstore), "--json").stdout)
    s.final_status = json.loads(s.run("status", "--launchpad", str(s.launchpad), "--json").stdout)

    # the shipped MongoDB JobStore config, as the tester used it: a server that is not there
    s.run("submit", str(TINY_STUDY), "--preset", "analytic", "--launchpad", str(s.launchpad), "--db",
          str(CONFIGS / "jobstore-mongodb.yaml"), env={"MONGOMOCK_SERVERSTORE_FILE": str(tmp / "launchpad-mongodb-store.json")})

    # failing connections: the shipped MongoDB LaunchPad, and URIs holding the password
    port = _closed_port()
    failing = tmp / "launchpad-mongodb.yaml"
    failing.write_text((CONFIGS / "launchpad-mongodb.yaml").read_text().replace("10000", "300"))
    none = {"MONGOMOCK_SERVERSTORE_FILE": "", "SPILLOVER_MONGO_PORT": str(port), "SPILLOVER_MONGO_DB": "x"}
    s.unreachable = [s.refused("status", "--launchpad", str(failing), field="cannot reach", env=none)]
    from urllib.parse import quote_plus

    uri = f"mongodb://me:{quote_plus(SECRET_VALUE)}@127.0.0.1:{port}/x"
    for name, spec in {"uri-mode": {"uri_mode": True, "name": "x"}, "host-only": {"port": port, "name": "x"}}.items():
        path = tmp / f"{name}.yaml"
        path.write_text(yaml.safe_dump({"host": uri, **spec, "mongoclient_kwargs": {"serverSelectionTimeoutMS": 300}}))
        path.chmod(0o600)
        s.unreachable.append(s.refused("status", "--launchpad", str(path), field="--launchpad", env=none))
    env_uri = tmp / "env-uri.yaml"
    env_uri.write_text("host: ${SPILLOVER_MONGO_URI}\nuri_mode: true\nname: x\nmongoclient_kwargs: {serverSelectionTimeoutMS: 300}\n")
    s.unreachable.append(s.refused("status", "--launchpad", str(env_uri), field="cannot reach", env={**none, "SPILLOVER_MONGO_URI": uri}))

    # bad configs that hold the secret as written (0600, so that the YAML or the key is what is wrong)
    s.bad = {}
    bad = {
        "yaml": f"host: localhost\npassword: {SECRET_VALUE}\n",
        "yaml-flow": f"host: localhost\npassword: [{SECRET}, {{\n",
        "duplicate": f"host: localhost\npassword: {SECRET}\npassword: {SECRET}2\n",
        "unknown-key": f"host: localhost\npasword: {SECRET}\n",
        "not-a-mapping": f"- {SECRET}\n",
    }
    for name, text in bad.items():
        path = tmp / f"bad-{name}.yaml"
        path.write_text(text)
        path.chmod(0o600)
        s.bad[f"launchpad {name}"] = s.refused("status", "--launchpad", str(path), field="--launchpad")
        s.bad[f"db {name}"] = s.refused("results", "--db", str(path), field="db")
    wrong_type = tmp / "bad-store-type.yaml"
    wrong_type.write_text("docs_store: {type: NoSuchStore, password: '${SPILLOVER_MONGO_PASSWORD}', collection_name: x}\n")
    s.bad["db store type"] = s.refused("results", "--db", str(wrong_type), field="db")
    return s


def _written_files(root: Path) -> list[Path]:
    return [p for p in sorted(root.rglob("*")) if p.is_file()]


def test_secret_never_appears_in_anything_written(session):
    files = _written_files(session.tmp)
    names = {p.name for p in files}
    # the places that would hold it if anything leaked were all written
    assert {"launchpad.json", "launchpad-mongodb-store.json", "FW.json", "dry-run-qadapter-slurm.yaml.sh"} <= names, names
    assert (session.db / "monty.storage.cfg").is_file() and len(list(session.db.rglob("*"))) > 2
    leaks = [str(p) for p in files if SECRET.encode() in p.read_bytes() and p.suffix != ".yaml"]
    assert leaks == []
    # the only files holding it are the deliberately bad configs of 0600, written by this test
    assert all(p.stat().st_mode & 0o077 == 0 for p in files if SECRET.encode() in p.read_bytes())
    printed = [what for what, text in session.outputs if SECRET in text]
    assert printed == []
    assert len(session.outputs) >= 40


def test_launchpad_holds_only_the_database_path(session):
    store = json.loads(Path(session.env["MONGOMOCK_SERVERSTORE_FILE"]).read_text())
    fireworks = [doc for _, doc in store["spillover_fireworks"]["fireworks"]["documents"]]
    assert len(fireworks) == 8
    for fw in fireworks:
        (task,) = fw["spec"]["_tasks"]
        assert task["store"] is None
        assert fw["spec"]["_spillover_db"] == str(session.jobstore)
    mongo = json.loads((session.tmp / "launchpad-mongodb-store.json").read_text())
    specs = [doc["spec"] for _, doc in mongo["spillover_fireworks"]["fireworks"]["documents"]]
    assert {s["_spillover_db"] for s in specs} == {str(CONFIGS / "jobstore-mongodb.yaml")}


def test_queue_job_rebuilds_the_store_from_its_config(session):
    """The jobs ran in the rocket with no store in their Fireworks, and their results are in the config's store."""
    assert session.final_status["counts"]["completed"] == 8, session.final_status["counts"]
    assert len(session.results) == 8
    assert {r["job_id"] for r in session.results} >= set(session.submitted["jobs"])


def test_unreachable_launchpads_are_named_without_credentials(session):
    for line in session.unreachable:
        assert "cannot reach" in line and "127.0.0.1" in line, line
    assert all("***@" in line for line in session.unreachable[1:]), session.unreachable


def test_bad_configs_name_the_problem_not_the_value(session):
    assert "not valid YAML" in session.bad["launchpad yaml"] and "line 2" in session.bad["launchpad yaml"]
    assert "duplicate key 'password'" in session.bad["db duplicate"]
    assert "pasword" in session.bad["launchpad unknown-key"]
    assert "cannot build a store" in session.bad["db store type"]


# ----------------------------------------------------------------------------- who may read a literal secret


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_literal_password_in_a_readable_jobstore_config_is_refused(tmp_path, mode):
    s = Session(tmp_path)
    config = _jobstore(tmp_path / "store.yaml", tmp_path / "db", password=SECRET_VALUE, mode=mode)
    line = s.refused("submit", str(TINY_STUDY), "--preset", "analytic", "--launchpad", str(_launchpad(tmp_path / "lp.yaml")),
                     "--db", str(config), field="db")
    assert "chmod 600" in line and ".client_kwargs.password" in line and SECRET not in line
    assert not (tmp_path / "db").exists() and not (tmp_path / "launchpad.json").exists()


@pytest.mark.parametrize(
    "text",
    [
        f"host: localhost\npassword: {SECRET}\n",
        f"host: mongodb://me:{SECRET}@localhost/x\nuri_mode: true\nname: x\n",
        f"host: mongodb://me:{SECRET}@localhost/x\nname: x\n",  # a URI without uri_mode still counts
        f"host: localhost\nmongoclient_kwargs: {{tlsCertificateKeyFilePassword: {SECRET}}}\n",
        f"host: localhost\nname: x\napi_token: {SECRET}\n",
    ],
)
def test_literal_secret_in_a_readable_launchpad_is_refused(tmp_path, text):
    s = Session(tmp_path)
    path = tmp_path / "lp.yaml"
    path.write_text(text)
    path.chmod(0o644)
    line = s.refused("status", "--launchpad", str(path), field="--launchpad")
    assert "chmod 600" in line and SECRET not in line


def test_literal_password_accepted_at_0600_and_variables_at_0644(tmp_path):
    s = Session(tmp_path)
    private = _jobstore(tmp_path / "store.yaml", tmp_path / "db", password=SECRET_VALUE, mode=0o600)
    launchpad = _launchpad(tmp_path / "lp.yaml", mode=0o600, password=SECRET_VALUE)
    first = json.loads(s.run("submit", str(TINY_STUDY), "--preset", "analytic", "--launchpad", str(launchpad), "--db", str(private),
                             "--json").stdout)
    from_env = _jobstore(tmp_path / "env-store.yaml", tmp_path / "db2", mode=0o644)
    public_lp = _launchpad(tmp_path / "public-lp.yaml", mode=0o644)
    second = json.loads(s.run("submit", str(TINY_STUDY), "--preset", "analytic", "--launchpad", str(public_lp), "--db",
                              str(from_env), "--json").stdout)
    assert first["n_jobs"] == second["n_jobs"] == 4 and second["workflow_id"] == first["workflow_id"] + 4
    assert SECRET.encode() not in (tmp_path / "launchpad.json").read_bytes()
    assert not [what for what, text in s.outputs if SECRET in text]


def test_redact_removes_every_secret_a_config_yielded(tmp_path, monkeypatch):
    """The last line of defence: any message passes through redact(), which knows the values read."""
    from spillover.config import read_config, redact

    monkeypatch.setenv("SPILLOVER_MONGO_PASSWORD", SECRET_VALUE)
    path = tmp_path / "c.yaml"
    path.write_text("a: {password: '${SPILLOVER_MONGO_PASSWORD}'}\nb: [{api_token: tok-3n-xyz}]\n"
                    "c: 'mongodb://u:p%40ss-w0rd@h/x'\n")
    path.chmod(0o600)
    read_config(path, "db")
    text = f"failed: {SECRET_VALUE} / tok-3n-xyz / p@ss-w0rd / p%40ss-w0rd / mongodb://user:other@host:1/x"
    assert redact(text) == "failed: *** / *** / *** / *** / mongodb://***@host:1/x"
