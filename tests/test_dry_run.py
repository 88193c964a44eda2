"""``spillover run/submit --dry-run``: the plan and what is stored, with nothing computed or written (analytic preset)."""

from __future__ import annotations

import json
import re

from conftest import TINY_STUDY, db_snapshot, spillover
from spillover.store import connect


def test_dry_run_counts_the_jobs_the_run_then_makes(tmp_path):
    db, scratch = tmp_path / "db", tmp_path / "scratch"
    common = ("--preset", "analytic", "--db", str(db), "--scratch", str(scratch))

    before = spillover("run", str(TINY_STUDY), *common, "--dry-run", cwd=tmp_path)
    assert before.returncode == 0, before.stderr
    assert "no timings yet" in before.stdout and not db.exists() and not scratch.exists()
    planned = int(re.search(r"^(\d+) jobs in the plan", before.stdout, re.M).group(1))

    run = spillover("run", str(TINY_STUDY), *common, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    run_id = re.search(r"^run (\w+), preset analytic", run.stdout, re.M).group(1)
    made = list(connect(db, create=False).query({"metadata.run_id": run_id}, properties=["uuid", "name"]))
    assert planned == len(made) > 0  # the tiny study adds no job at run time

    snapshot = db_snapshot(db)
    after = spillover("run", str(TINY_STUDY), *common, "--dry-run", cwd=tmp_path)
    assert after.returncode == 0, after.stderr
    assert db_snapshot(db) == snapshot  # nothing written
    assert f"run {run_id}" in after.stdout and f"made {len(made)} jobs, {len(made)} of them computed" in after.stdout
    # the bulk relaxations' inputs are known before the run: found by their content hash
    shared = re.search(r"^\| shared\s+\| -\s+\| (\d+)\s+\| (\d+) of (\d+)", after.stdout, re.M)
    assert shared and shared.group(2) == shared.group(3) == shared.group(1)

    sub = spillover("submit", str(TINY_STUDY), "--preset", "analytic", "--db", str(db), "--dry-run", "--json",
                    "--launchpad", str(tmp_path / "missing-launchpad.yaml"), cwd=tmp_path)
    assert sub.returncode == 0, sub.stderr
    report = json.loads(sub.stdout)
    assert report["dry_run"] and report["jobs"] == planned and report["last_run"]["run_id"] == run_id
    assert not (tmp_path / "spillover-launchpad.json").exists()


def test_launch_dry_run_needs_no_launchpad_and_counts_ready_jobs_when_given_one(tmp_path):
    configs = TINY_STUDY.parents[2] / "configs"
    env = {"MONGOMOCK_SERVERSTORE_FILE": str(tmp_path / "launchpad.json"), "SPILLOVER_SCRATCH": str(tmp_path / "s"),
           "SPILLOVER_LAUNCHPAD": ""}
    bare = spillover("launch", "--qadapter", str(configs / "qadapter-slurm.yaml"), "--dry-run", "--json",
                     cwd=tmp_path, env=env)
    assert bare.returncode == 0, bare.stderr
    report = json.loads(bare.stdout)
    assert report["ready_jobs"] is None and "LAUNCHPAD.yaml" in report["script"]
    assert "#SBATCH" in report["script"] and not (tmp_path / "launchpad.json").exists()

    launchpad = str(configs / "launchpad-mongomock.yaml")
    sub = spillover("submit", str(TINY_STUDY), "--preset", "analytic", "--launchpad", launchpad, "--db",
                    str(tmp_path / "db"), cwd=tmp_path, env=env)
    assert sub.returncode == 0, sub.stderr
    given = spillover("launch", "--qadapter", str(configs / "qadapter-slurm.yaml"), "--launchpad", launchpad,
                      "--dry-run", cwd=tmp_path, env=env)
    assert given.returncode == 0, given.stderr
    assert "2 job(s) ready" in given.stderr and "nothing submitted" in given.stderr  # the two bulk relaxations
