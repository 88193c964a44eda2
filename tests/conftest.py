"""Shared fixtures: a real embedded database filled once per session by a real screen run."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from spillover.cli import main

ROOT = Path(__file__).resolve().parents[1]
# pytest-xdist already puts one test process on each core: studies run one worker each, unless a test says
# otherwise (tests/test_funnel.py runs two and compares).
os.environ.setdefault("SPILLOVER_WORKERS", "1")
TINY_STUDY = ROOT / "tests" / "data" / "tiny_study.yaml"


def spillover(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the installed CLI in a subprocess, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "spillover.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=900,
    )


def run_cli(*argv: str) -> tuple[int, str, str]:
    """``spillover ARGV`` in-process: exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    old = sys.argv
    sys.argv = ["spillover", *argv]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), time_limit(30):
            try:
                main()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = old
    return code, out.getvalue(), err.getvalue()


class Hang(BaseException):
    """Raised into code that ran past its time limit (a BaseException: no ``except Exception`` hides it)."""


@contextlib.contextmanager
def time_limit(seconds: float):
    """Fail a call that runs longer than ``seconds`` (SIGALRM; main thread only) instead of hanging."""

    def alarm(signum: int, frame: Any) -> None:
        raise Hang(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def db_snapshot(path: Path) -> dict[str, bytes]:
    """Every file of a database directory with its bytes (empty if it does not exist)."""
    if not path.exists():
        return {}
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> dict:
    """Run the tiny study at screen through the CLI into a fresh database, once per session."""
    work = tmp_path_factory.mktemp("tiny_run")
    db = work / "db"
    result = spillover("run", str(TINY_STUDY), "--db", str(db), "--scratch", str(work / "scratch"), cwd=work)
    assert result.returncode == 0, result.stderr[-3000:]
    table = spillover("table", "lattice-match", "--db", str(db), "--format", "json")
    assert table.returncode == 0, table.stderr
    return {"db": db, "work": work, "stdout": result.stdout, "stderr": result.stderr, "rows": json.loads(table.stdout)}
