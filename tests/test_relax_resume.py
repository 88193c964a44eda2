"""Relaxations checkpoint every step and resume after a kill: a CHGNet slab SIGKILLed mid-run and
started again in a new process, cell relaxations of every optimizer stopped and resumed (analytic
potential), and what happens without the checkpoint."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from ase.io import Trajectory, write
from pymatgen.io.ase import AseAtomsAdaptor

from spillover.analytic import PairMorse
from spillover.build.bulk import load_bulk
from spillover.build.slabs import make_slab
from spillover.jobs.checkpoint import RelaxCheckpoint
from spillover.jobs.relax import RelaxMaker
from spillover.schemas import CalcDoc

# One torch/BLAS thread: two threads per process oversubscribe a shared 2-core machine.
ONE_THREAD = {"OMP_NUM_THREADS": "1"}
KILL_AFTER_STEPS = 8
SLAB_FMAX = 0.01

_RUN = """
import json, sys
from pymatgen.core import Structure
from spillover.jobs.relax import RelaxMaker
spec = json.load(open(sys.argv[1]))
doc = RelaxMaker(preset="screen", fmax=spec["fmax"], checkpoint_dir=spec["checkpoint_dir"]).compute(
    Structure.from_dict(spec["structure"]), label="Ru(0001)", kind="slab")
open(spec["output"], "w").write(doc.model_dump_json())
"""


class Killed(Exception):
    """Stands in for SIGKILL in the in-process tests: raised from inside a force call."""


def _ru_slab():
    """Ru(0001), 4 layers, bottom fixed, rattled and stretched: about 20 BFGSLineSearch (70 FIRE) steps at fmax 0.01 with CHGNet."""
    atoms = make_slab("Ru-0001", layers=4, vacuum=4.0, fixed_layers=1)
    layer = atoms.arrays["layer"]
    free = layer < layer.max()
    atoms.positions[free] += np.random.default_rng(1).normal(0, 0.15, (free.sum(), 3))
    atoms.positions[:, 2] += 0.2 * (layer.max() - layer)
    return AseAtomsAdaptor.get_structure(atoms)


def _checkpoint_dirs(root: Path) -> list[Path]:
    return sorted(root.glob("relax-*")) if root.is_dir() else []


@pytest.fixture(scope="module")
def killed_slab(tmp_path_factory):
    """The uninterrupted run, and a run SIGKILLed after a few steps then started again in a new process."""
    import torch

    work = tmp_path_factory.mktemp("resume")
    structure = _ru_slab()
    before_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        reference = RelaxMaker(preset="screen", fmax=SLAB_FMAX, checkpoint_dir=str(work / "ref")).compute(
            structure, label="Ru(0001)", kind="slab")
    finally:
        torch.set_num_threads(before_threads)

    root = work / "checkpoints"
    spec = {"structure": structure.as_dict(), "fmax": SLAB_FMAX, "checkpoint_dir": str(root),
            "output": str(work / "doc.json")}
    (work / "spec.json").write_text(json.dumps(spec))
    env = {**os.environ, **ONE_THREAD}
    (work / "first").mkdir()
    proc = subprocess.Popen([sys.executable, "-c", _RUN, str(work / "spec.json")], cwd=work / "first",
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    before, deadline = None, time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        states = [d / "state.json" for d in _checkpoint_dirs(root) if (d / "state.json").is_file()]
        if states and json.loads(states[0].read_text())["steps"] >= KILL_AFTER_STEPS:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            (ckpt,) = _checkpoint_dirs(root)
            before = json.loads((ckpt / "state.json").read_text())
            with Trajectory(ckpt / "trajectory.traj") as traj:
                last = traj[before["frames"] - 1]
                frames = {"n": len(traj), "energy": last.get_potential_energy()}
            log_lines = (ckpt / "optimizer.log").read_text().splitlines()[1:]  # "BFGSLineSearch:   12[ 14] ..."
            logged = [int(re.match(r"\S+:\s*(\d+)", line).group(1)) for line in log_lines]
            files = sorted(p.name for p in ckpt.iterdir())
            break
        time.sleep(0.02)
    assert proc.returncode == -signal.SIGKILL, f"the relaxation was not killed mid-run: {proc.stderr.read()[-2000:]}"

    # started again in a new process and a new folder: same inputs, same checkpoint
    (work / "second").mkdir()
    resumed = subprocess.run([sys.executable, "-c", _RUN, str(work / "spec.json")], cwd=work / "second",
                             capture_output=True, text=True, env=env, timeout=600, check=False)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    doc = CalcDoc.model_validate_json((work / "doc.json").read_text())
    return {"reference": reference, "doc": doc, "before": before, "frames": frames, "logged": logged,
            "files": files, "root": root}


@pytest.mark.chgnet
def test_killed_slab_resumes_from_its_last_step(killed_slab):
    ref, doc, before, frames = (killed_slab[k] for k in ("reference", "doc", "before", "frames"))
    assert 12 <= ref.n_ionic_steps <= 80 and ref.converged and ref.runs == 1
    steps = killed_slab["before"]["steps"]
    # the optimizer's arrays of the committed step; a file of the step after may be on its way, and the
    # step before's may not be deleted yet (it goes right after state.json commits the new one)
    assert {"lock", f"optimizer-{steps}.npz", "optimizer.log", "state.json", "trajectory.traj"} <= set(
        killed_slab["files"]) <= {"lock", f"optimizer-{steps - 1}.npz", f"optimizer-{steps}.npz",
                                  f"optimizer-{steps + 1}.npz", f"optimizer-{steps + 1}.npz.tmp", "optimizer.log",
                                  "state.json", "trajectory.traj"}
    # at most one step lost: the optimizer had logged at most one step past the last commit
    assert before["steps"] >= KILL_AFTER_STEPS and before["frames"] == before["steps"] + 1
    assert max(killed_slab["logged"], default=0) <= before["steps"] + 1 and frames["n"] <= before["frames"] + 1

    assert doc.runs == 2 and [r.start_step for r in doc.run_history] == [0, before["steps"]]
    first, second = doc.run_history
    assert first.steps == before["steps"] and second.steps > 0
    # the second run's first calculation is the last checkpointed geometry, not the input
    assert second.start_energy_eV == pytest.approx(frames["energy"], abs=1e-6)
    assert abs(second.start_energy_eV - first.start_energy_eV) > 0.1
    assert doc.ionic_steps[0].energy_eV == pytest.approx(ref.ionic_steps[0].energy_eV, abs=1e-6)

    assert doc.converged and abs(doc.energy_eV - ref.energy_eV) < 1e-4
    assert doc.n_ionic_steps == ref.n_ionic_steps
    assert doc.force_calls == first.force_calls + second.force_calls == ref.force_calls + 1
    assert doc.content_hash == ref.content_hash and doc.wall_time_s > first.wall_time_s
    assert _checkpoint_dirs(killed_slab["root"]) == []  # deleted once the document was built


def _bulk_strained():
    atoms = load_bulk("rutile")
    atoms.set_cell(atoms.cell * 1.03, scale_atoms=True)
    return AseAtomsAdaptor.get_structure(atoms)


def _kill_after(monkeypatch, calls: int) -> None:
    """Make the analytic potential die in its ``calls + 1``-th calculation."""
    original, count = PairMorse.calculate, [0]

    def dying(self, *args, **kwargs):
        count[0] += 1
        if count[0] > calls:
            raise Killed
        return original(self, *args, **kwargs)

    monkeypatch.setattr(PairMorse, "calculate", dying)


def _killed_then_resumed(monkeypatch, maker: RelaxMaker, structure, calls: int) -> CalcDoc:
    with monkeypatch.context() as patch:
        _kill_after(patch, calls)
        with pytest.raises(Killed):
            maker.compute(structure)
    return maker.compute(structure)


@pytest.mark.parametrize("optimizer", ["FIRE", "BFGS", "LBFGS", "MDMin", "BFGSLineSearch"])
def test_cell_relaxation_resumes_on_the_same_path(tmp_path, monkeypatch, optimizer):
    structure = _bulk_strained()
    maker = RelaxMaker(preset="analytic", relax_cell=True, checkpoint_dir=str(tmp_path),
                       preset_overrides={"relax": {"optimizer": optimizer}})
    ref = maker.compute(structure)
    assert ref.n_ionic_steps > 6 and ref.cell_volume_A3 < structure.volume - 1
    doc = _killed_then_resumed(monkeypatch, maker, structure, ref.force_calls // 2)
    assert doc.runs == 2 and doc.run_history[1].start_step > 0
    # FrechetCellFilter's reference cell and the whole optimizer state come back: the very same path
    assert [s.energy_eV for s in doc.ionic_steps] == pytest.approx([s.energy_eV for s in ref.ionic_steps], abs=1e-9)
    assert np.allclose(doc.structure["lattice"]["matrix"], ref.structure["lattice"]["matrix"], atol=1e-9)
    assert doc.force_calls == ref.force_calls + 1  # the resumed run recomputes its first geometry
    assert _checkpoint_dirs(tmp_path) == []


def test_without_the_checkpoint_a_restart_starts_from_the_input(tmp_path, monkeypatch):
    structure = AseAtomsAdaptor.get_structure(make_slab("rutile-110", layers=3, vacuum=4.0, fixed_layers=1))
    kw = {"preset": "analytic", "checkpoint_dir": str(tmp_path / "ck")}
    ref = RelaxMaker(**kw).compute(structure)
    calls = ref.force_calls // 2
    input_energy = ref.ionic_steps[0].energy_eV

    cold = _killed_then_resumed(monkeypatch, RelaxMaker(**kw, checkpoint=False), structure, calls)
    assert cold.runs == 1 and cold.run_history[0].start_step == 0
    assert cold.run_history[0].start_energy_eV == pytest.approx(input_energy, abs=1e-9)
    assert cold.force_calls == ref.force_calls  # everything before the kill was done again
    assert not (tmp_path / "ck").exists()

    warm = _killed_then_resumed(monkeypatch, RelaxMaker(**kw), structure, calls)
    assert warm.runs == 2 and warm.run_history[1].start_step == calls - 1
    assert warm.run_history[1].start_energy_eV < input_energy - 0.1
    assert warm.run_history[1].force_calls == ref.force_calls - calls + 1
    assert warm.energy_eV == pytest.approx(ref.energy_eV, abs=1e-9)


def test_torn_writes_of_the_kill_are_not_read(tmp_path, monkeypatch):
    """A kill between the trajectory append and the commit, or inside ASE's restart-file write."""
    structure = _bulk_strained()
    maker = RelaxMaker(preset="analytic", relax_cell=True, checkpoint_dir=str(tmp_path))
    ref = maker.compute(structure)
    with monkeypatch.context() as patch:
        _kill_after(patch, 12)
        with pytest.raises(Killed):
            maker.compute(structure)
    (ckpt,) = _checkpoint_dirs(tmp_path)
    state = json.loads((ckpt / "state.json").read_text())
    with Trajectory(ckpt / "trajectory.traj") as traj:
        extra = traj[0]
    extra.positions += 0.3
    write(ckpt / "trajectory.traj", extra, format="traj", append=True)  # a frame past the commit
    (ckpt / f"optimizer-{state['steps'] + 1}.npz.tmp").write_bytes(b"PK\x03")  # arrays cut by the kill
    (ckpt / f"optimizer-{state['steps'] + 1}.npz").write_bytes(b"PK\x03")  # written, but no commit names it
    doc = maker.compute(structure)
    assert doc.runs == 2 and doc.run_history[1].start_step == state["steps"]
    assert [s.energy_eV for s in doc.ionic_steps] == pytest.approx([s.energy_eV for s in ref.ionic_steps], abs=1e-9)


def test_a_checkpoint_in_use_is_left_alone(tmp_path):
    structure = _bulk_strained()
    maker = RelaxMaker(preset="analytic", checkpoint_dir=str(tmp_path))
    ref = maker.compute(structure)
    held = RelaxCheckpoint.acquire(tmp_path / f"relax-{ref.content_hash[:16]}")
    assert held is not None
    try:
        doc = maker.compute(structure)  # another job with the same inputs: runs, without the checkpoint
        assert doc.runs == 1 and doc.energy_eV == pytest.approx(ref.energy_eV, abs=1e-9)
        assert sorted(p.name for p in held.path.iterdir()) == ["lock"]
    finally:
        held.remove()


def test_static_runs_keep_no_checkpoint_and_old_documents_validate(tmp_path):
    structure = _bulk_strained()
    doc = RelaxMaker(preset="analytic", steps=0, checkpoint_dir=str(tmp_path)).compute(structure)
    assert doc.task == "static" and doc.runs == 1 and doc.force_calls == 1 and doc.scf_retries == []
    assert not any(tmp_path.iterdir())
    old = doc.model_dump(exclude={"force_calls", "runs", "run_history", "scf_retries"})
    again = CalcDoc.model_validate(old)
    assert again.runs == 1 and again.force_calls is None and again.run_history == [] and again.scf_retries == []


def test_checkpoints_live_under_the_scratch_base_fixed_when_the_maker_is_made(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SPILLOVER_SCRATCH", "scratch")
    maker = RelaxMaker(preset="analytic")
    assert maker.checkpoint_dir == str(tmp_path / "scratch" / "relax-checkpoints")
    (tmp_path / "job-folder").mkdir()
    monkeypatch.chdir(tmp_path / "job-folder")  # where jobflow runs the job: no matter
    assert RelaxMaker.from_dict(maker.as_dict()).checkpoint_dir == maker.checkpoint_dir
