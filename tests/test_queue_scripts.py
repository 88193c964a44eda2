"""Queue scripts under hostile paths: what reaches the shell is quoted, and the shell gets back exactly the paths.

Each script is rendered the way a user gets it (``spillover launch --dry-run``, SLURM and PBS; and once
through a real ``spillover launch`` with a stand-in ``sbatch``), its interpreter is swapped for a stand-in
``python`` that records its working directory and arguments, and it is run with bash: no command hidden
in a path may run, and the rocket must start in the launch directory with the LaunchPad path intact.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, TINY_STUDY, spillover

CONFIGS = ROOT / "configs"
QADAPTERS = {"SLURM": CONFIGS / "qadapter-slurm.yaml", "PBS": CONFIGS / "qadapter-pbs.yaml"}
# Each would run `touch PWNED` (or break the script) if pasted into a shell unquoted.
HOSTILE = {
    "semicolon": "a;touch PWNED;b",
    "subshell": "$(touch PWNED)",
    "backticks": "x`touch PWNED`y",
    "quotes": "it's \"quoted\" 'x'",
    "space": "with space",
    "newline": "new\nline;touch PWNED",
    "dollars": "pid$$-${HOME}-$0",
    "glob-and-amp": "star*?[a] & touch PWNED |cat",
}
RECORDER = """#!/bin/bash
# stands in for python: records where it ran and its arguments, NUL-separated
printf '%s\\0' "$PWD" "$@" > "$SPILLOVER_TEST_RECORD"
"""


def _recorder(tmp: Path) -> Path:
    fake = tmp / "fake-python"
    fake.write_text(RECORDER)
    fake.chmod(0o755)
    return fake


def _hostile_launchpad(tmp: Path, name: str, value: str) -> Path:
    """A copy of the MongoDB LaunchPad config in a directory named ``value``."""
    folder = tmp / f"lp-{name}" / value
    folder.mkdir(parents=True)
    path = folder / f"{value}.yaml"
    path.write_text((CONFIGS / "launchpad-mongodb.yaml").read_text())
    return path


def _run_script(script: str, tmp: Path, fake: Path, interpreter: str = sys.executable) -> list[str]:
    """Run a queue script with bash, its rocket's ``interpreter`` replaced by ``fake``; the recorded argv."""
    rocket = f"{shlex.quote(interpreter)} -m spillover.submit rapidfire"
    assert script.count(rocket) == 1, script
    script = script.replace(rocket, f"{shlex.quote(str(fake))} -m spillover.submit rapidfire")
    path = tmp / "job.sh"
    path.write_text(script)
    record = tmp / "record"
    record.unlink(missing_ok=True)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp), "SPILLOVER_TEST_RECORD": str(record)}
    result = subprocess.run(["bash", str(path)], cwd=tmp, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, (result.stderr, script)
    assert record.is_file(), (result.stdout, result.stderr, script)
    return record.read_bytes().decode().split("\0")[:-1]


def _no_side_effects(root: Path) -> None:
    assert not [p for p in root.rglob("PWNED")], "a command hidden in a path ran"
    assert not (Path.cwd() / "PWNED").exists() and not (Path.home() / "PWNED").exists()


@pytest.mark.parametrize("q_type", sorted(QADAPTERS))
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_dry_run_script_keeps_hostile_paths_intact(tmp_path, q_type, name):
    value = HOSTILE[name]
    launchpad = _hostile_launchpad(tmp_path, name, value)
    env = {"MONGOMOCK_SERVERSTORE_FILE": "", "SPILLOVER_SCRATCH": str(tmp_path / "scratch")}
    result = spillover("launch", "--dry-run", "--json", "--qadapter", str(QADAPTERS[q_type]), "--launchpad", str(launchpad),
                       "--launch-dir", value, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    script = json.loads(result.stdout)["script"]
    assert not (tmp_path / value).exists()  # a dry run creates nothing
    workdir = tmp_path / value / "block_DATE" / "launcher_DATE"  # the folder a dry run renders
    workdir.mkdir(parents=True)

    argv = _run_script(script, tmp_path, _recorder(tmp_path))
    _no_side_effects(tmp_path)
    assert argv == [str(workdir), "-m", "spillover.submit", "rapidfire", "--launchpad", str(launchpad)]


def test_python_executable_is_quoted(tmp_path, monkeypatch):
    from spillover.submit import load_qadapter, render_script

    folder = tmp_path / "py $(touch PWNED); `touch PWNED`"
    folder.mkdir()
    fake = _recorder(folder)
    launchpad = _hostile_launchpad(tmp_path, "lp", "lp's; dir")
    monkeypatch.setattr(sys, "executable", str(fake))
    script = render_script(load_qadapter(QADAPTERS["SLURM"], launchpad), tmp_path)
    monkeypatch.undo()
    argv = _run_script(script, tmp_path, fake, interpreter=str(fake))
    _no_side_effects(tmp_path)
    assert argv == [str(tmp_path), "-m", "spillover.submit", "rapidfire", "--launchpad", str(launchpad)]


def test_shell_code_lines_survive(tmp_path):
    """FireWorks drops every script line holding '$$'; the user's own shell code keeps its lines."""
    spec = yaml.safe_load(QADAPTERS["SLURM"].read_text())
    spec["pre_rocket"] = 'echo "pid $$" > "$HOME/pre.txt"\n'
    spec["post_rocket"] = 'echo "done $$" > "$HOME/post.txt"'
    qadapter = tmp_path / "qadapter.yaml"
    qadapter.write_text(yaml.safe_dump(spec))
    env = {"MONGOMOCK_SERVERSTORE_FILE": "", "SPILLOVER_SCRATCH": str(tmp_path / "scratch")}
    result = spillover("launch", "--dry-run", "--json", "--qadapter", str(qadapter), "--launchpad",
                       str(CONFIGS / "launchpad-mongodb.yaml"), "--launch-dir", str(tmp_path / "jobs"), env=env)
    assert result.returncode == 0, result.stderr
    script = json.loads(result.stdout)["script"]
    assert 'echo "pid $$" > "$HOME/pre.txt"' in script.splitlines()
    (tmp_path / "jobs" / "block_DATE" / "launcher_DATE").mkdir(parents=True)
    _run_script(script, tmp_path, _recorder(tmp_path))
    assert (tmp_path / "pre.txt").read_text().startswith("pid ") and (tmp_path / "post.txt").is_file()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"job_name": "x\ntouch PWNED"}, "job_name"),
        ({"job_name": "two words"}, "job_name"),
        ({"job_name": "$(touch PWNED)"}, "job_name"),
        ({"job_name": "out-%j"}, "job_name"),
        ({"queue": "standard\ntouch PWNED"}, "queue"),
        ({"account": "m1234\r#SBATCH --uid=0"}, "account"),
        ({"mem": "4G$$"}, "mem"),
        ({"queue": ["a", "b"]}, "queue"),
        ({"pre_rocket": ["module load x"]}, "pre_rocket"),
    ],
)
def test_directive_values_that_could_break_out_are_refused(tmp_path, change, field):
    spec = {**yaml.safe_load(QADAPTERS["SLURM"].read_text()), **change}
    qadapter = tmp_path / "qadapter.yaml"
    qadapter.write_text(yaml.safe_dump(spec))
    env = {"MONGOMOCK_SERVERSTORE_FILE": "", "SPILLOVER_SCRATCH": str(tmp_path / "scratch")}
    result = spillover("launch", "--dry-run", "--qadapter", str(qadapter), "--launchpad", str(CONFIGS / "launchpad-mongodb.yaml"),
                       env=env)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and field in lines[0] and "Traceback" not in result.stderr, result.stderr
    assert result.stdout == ""


def test_real_launch_writes_the_quoted_script(tmp_path):
    """Through FireWorks' queue launcher (its defensive copy of the adapter included), with a stand-in sbatch."""
    value = HOSTILE["newline"] + " " + HOSTILE["subshell"] + HOSTILE["quotes"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    sbatch = bin_dir / "sbatch"
    sbatch.write_text('#!/bin/bash\ncp "$1" "$SPILLOVER_TEST_SCRIPT"\necho "Submitted batch job 4242"\n')
    sbatch.chmod(0o755)
    launchpad = tmp_path / f"lp-{value}.yaml"
    launchpad.write_text((CONFIGS / "launchpad-mongomock.yaml").read_text())
    env = {"MONGOMOCK_SERVERSTORE_FILE": str(tmp_path / "launchpad.json"), "SPILLOVER_SCRATCH": str(tmp_path / "scratch"),
           "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "SPILLOVER_TEST_SCRIPT": str(tmp_path / "submitted.sh")}
    sub = spillover("submit", str(TINY_STUDY), "--preset", "analytic", "--launchpad", str(launchpad), "--db",
                    str(tmp_path / "db"), "--json", env=env)
    assert sub.returncode == 0, sub.stderr
    result = spillover("launch", "--json", "--qadapter", str(QADAPTERS["SLURM"]), "--launchpad", str(launchpad),
                       "--launch-dir", value, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["queue_job_ids"] == ["4242"]
    (launcher,) = (tmp_path / value).glob("block_*/launcher_*")
    script = (tmp_path / "submitted.sh").read_text()
    assert script == (launcher / "FW_submit.script").read_text()

    argv = _run_script(script, tmp_path, _recorder(tmp_path))
    _no_side_effects(tmp_path)
    assert argv == [str(launcher), "-m", "spillover.submit", "rapidfire", "--launchpad", str(launchpad)]
