"""Per-step checkpoints of relaxations: a killed job started again continues from its last step.

A relaxation's checkpoint directory is named by the content hash of the calculation (input
structure, resolved calculator parameters, task settings), never by the job's folder, which is new
with every run::

    <root>/relax-<first 16 hex digits of the content hash>/
        state.json       the commit record, replaced atomically after every optimizer step: steps and
                         trajectory frames committed, the optimizer's restart data, each run's counters,
                         the GPAW SCF parameters in use and their retry record
        trajectory.traj  ase.io.Trajectory: the input geometry, then the geometry after each step, with
                         energy, forces (and stress); frames past the commit are dropped on resume
        optimizer-<step>.npz
                         the arrays of the optimizer's restart data (FIRE's velocities, a BFGS Hessian),
                         one file per committed step, written before the commit that names it and the
                         older one deleted after it; binary because a 540-atom BFGS Hessian is 53 MB of
                         JSON (2.8 s a step) and 21 MB of float64 (0.05 s)
        optimizer.log    the ASE optimizer log of every run
        lock             flock of the running job: a second job with the same inputs runs without one

``<root>`` is ``$SPILLOVER_SCRATCH/relax-checkpoints`` (see :class:`spillover.jobs.relax.RelaxMaker`).
The directory is deleted once the relaxation has finished and its document is built; a killed or
failed job leaves it for the next run with the same inputs.
"""

from __future__ import annotations

import copy
import fcntl
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import IO, Any

import numpy as np
from ase import Atoms
from ase.cell import Cell
from ase.io.jsonio import decode, encode
from ase.optimize.optimize import Optimizer

from spillover.jobs.scf import GuardedCalculator

CHECKPOINT_SUBDIR = "relax-checkpoints"
STATE_VERSION = 2
#: Optimizer attributes that change later steps but that ASE's restart data leaves out (FIRE's
#: constructor also overwrites the time step its restart file restores).
OPTIMIZER_EXTRA_STATE = {
    "FIRE": ("dt", "a", "Nsteps"),
    "BFGSLineSearch": ("p", "alpha_k", "no_update", "rep_count"),
}

log = logging.getLogger(__name__)


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _split_restart(data: Any) -> tuple[str, dict[str, np.ndarray]]:
    """ASE restart data (what an optimizer passes to ``dump``) as JSON with every array taken out.

    Plain JSON, not ASE's: its decoder turns a list of arrays or of numbers (LBFGS's history) into
    one array, so every array goes to the npz file and numpy scalars become Python numbers.
    """
    arrays: dict[str, np.ndarray] = {}

    def walk(value: Any) -> Any:
        if isinstance(value, (np.ndarray, Cell)):  # BFGS passes a cell filter's reference Cell
            key = f"a{len(arrays)}"
            arrays[key] = np.asarray(value)
            return {"__npz__": key, "cell": isinstance(value, Cell)}
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, (list, tuple)):
            return [walk(v) for v in value]
        return value

    return json.dumps(walk(data)), arrays


def _join_restart(text: str, path: Path) -> Any:
    """Inverse of :func:`_split_restart`; the arrays are read without pickle."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}

    def walk(value: Any) -> Any:
        if isinstance(value, dict) and "__npz__" in value:
            array = arrays[value["__npz__"]]
            return Cell(array) if value.get("cell") else array
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return walk(json.loads(text))


class RelaxCheckpoint:
    """The checkpoint directory of one relaxation, held (flock) by the job that uses it.

    Use :meth:`acquire`; the layout is in the module docstring.
    """

    def __init__(self, path: Path, lock: IO[str], created: list[Path]) -> None:
        self.path = path
        self._lock: IO[str] | None = lock
        self._created = created

    state_file = property(lambda self: self.path / "state.json")
    trajectory_file = property(lambda self: self.path / "trajectory.traj")

    def restart_file(self, steps: int) -> Path:
        """The arrays of the optimizer's restart data after ``steps`` steps."""
        return self.path / f"optimizer-{steps}.npz"
    log_file = property(lambda self: self.path / "optimizer.log")

    @classmethod
    def acquire(cls, path: Path) -> RelaxCheckpoint | None:
        """Make (or find) the directory and lock it; None when another live job holds it."""
        created = [d for d in (path.parent.parent, path.parent) if not d.exists()]
        path.mkdir(parents=True, exist_ok=True)
        lock = open(path / "lock", "a")  # noqa: SIM115 - held until release()
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            log.warning("relaxation checkpoint %s is in use by another job; this one runs without it", path)
            return None
        return cls(path, lock, created)

    def release(self) -> None:
        """Unlock (the kernel also does it when the process dies). Safe to call twice."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def load(self, content_hash: str, optimizer: str) -> tuple[dict[str, Any], list[Atoms]] | None:
        """The committed state and trajectory frames, or None (and a clean directory) when there are none.

        A trajectory holding frames past the commit (the kill came between the two writes) is cut
        back to the committed frames.
        """
        from ase.io import Trajectory, write

        try:
            state = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            state = None
        frames: list[Atoms] = []
        if state is not None and (state.get("version") != STATE_VERSION or state.get("content_hash") != content_hash
                                  or state.get("optimizer") != optimizer):
            state = None
        if state is not None and state.get("optimizer_file") and not (self.path / state["optimizer_file"]).is_file():
            state = None
        if state is not None:
            try:
                with Trajectory(self.trajectory_file) as traj:
                    n_file = len(traj)
                    frames = [traj[k] for k in range(min(state["frames"], n_file))]
            except Exception:  # noqa: BLE001 - an unreadable trajectory is no checkpoint
                frames, n_file = [], 0
            if not frames or len(frames) != state["frames"]:
                state = None
            elif n_file > len(frames):
                tmp = self.trajectory_file.with_name("trajectory.tmp.traj")
                write(tmp, frames, format="traj")
                os.replace(tmp, self.trajectory_file)
        if state is None:
            for stale in (self.state_file, self.trajectory_file, self.log_file, *self.path.glob("optimizer*")):
                stale.unlink(missing_ok=True)
            return None
        return state, frames

    def remove(self) -> None:
        """Delete the directory, then its parent and the directories that acquiring it made, where empty."""
        shutil.rmtree(self.path, ignore_errors=True)
        for directory in dict.fromkeys((self.path.parent, *reversed(self._created))):
            try:
                directory.rmdir()
            except OSError:
                pass
        self.release()


class RelaxRecorder:
    """Builds the relaxation's optimizer and commits a checkpoint after each of its steps.

    Pass :meth:`optimizer` to atomate2's ``AseRelaxer`` as the optimizer: it restores the optimizer
    state (the data ASE's optimizers ``dump`` for a restart, plus :data:`OPTIMIZER_EXTRA_STATE`) and the reference cell of a
    ``FrechetCellFilter``, and attaches this recorder as the optimizer's first observer.

    Parameters
    ----------
    checkpoint
        The held checkpoint directory.
    optimizer_class
        ASE optimizer class.
    calc
        The job's calculator (its force calls and SCF state are committed too).
    content_hash
        Content hash of the calculation, stored in the state.
    previous
        Committed state of earlier runs, or None for a first run.
    """

    def __init__(self, checkpoint: RelaxCheckpoint, optimizer_class: type[Optimizer], calc: GuardedCalculator,
                 content_hash: str, previous: dict[str, Any] | None = None) -> None:
        self.checkpoint = checkpoint
        self.optimizer_class = optimizer_class
        self.calc = calc
        self.previous = previous
        self.base_steps = int(previous["steps"]) if previous else 0
        self.base_calls = int(previous["force_calls"]) if previous else 0
        self.state: dict[str, Any] = copy.deepcopy(previous) if previous else {
            "version": STATE_VERSION, "content_hash": content_hash, "optimizer": optimizer_class.__name__,
            "steps": 0, "frames": 0, "force_calls": 0, "runs": [], "optimizer_data": None, "optimizer_file": None,
            "optimizer_extra": None, "orig_cell": None, "scf": None,
        }
        self.run = {"start_step": self.base_steps, "steps": 0, "force_calls": 0, "start_energy_eV": None,
                    "wall_time_s": 0.0}
        self.state["runs"] = [*self.state["runs"], self.run]
        self.started = time.perf_counter()
        self.opt: Optimizer | None = None
        self.target: Any = None
        self._writer: Any = None
        self._restart: Any = None  # the optimizer's latest restart data, kept in memory until committed
        calc.step = self.base_steps

    def optimizer(self, target: Any, **kwargs: Any) -> Optimizer:
        """The optimizer of ``target`` (the atoms or their cell filter), restored from the checkpoint."""
        from ase.io import Trajectory

        if self.previous and self.previous.get("orig_cell") is not None and hasattr(target, "orig_cell"):
            # FrechetCellFilter's coordinates are relative to the cell it was made with: the input cell
            target.orig_cell = Cell(np.array(self.previous["orig_cell"]))
        self.opt = self.optimizer_class(target, logfile=str(self.checkpoint.log_file), **kwargs)
        # ASE's optimizers pass their restart data to dump() every step: keep it for the commit instead of
        # writing it as JSON, and hand it back through load() + read(), as a restart= file would
        self.opt.dump = self._keep  # type: ignore[method-assign]
        if self.previous and self.previous.get("optimizer_data") is not None:
            data = _join_restart(self.previous["optimizer_data"], self.checkpoint.path / self.previous["optimizer_file"])
            self.opt.load = lambda: data  # type: ignore[method-assign]
            self.opt.read()
        if self.previous and self.previous.get("optimizer_extra"):
            for key, value in decode(self.previous["optimizer_extra"]).items():
                setattr(self.opt, key, value)
        self.target = target
        self._writer = Trajectory(self.checkpoint.trajectory_file, "a")
        self.opt.attach(self, interval=1)
        return self.opt

    def _keep(self, data: Any) -> None:
        self._restart = data

    @property
    def atoms(self) -> Atoms:
        """The atoms themselves (not their cell filter)."""
        return getattr(self.target, "atoms", self.target)

    def __call__(self) -> None:
        """Commit: append the geometry to the trajectory, then replace state.json (the commit)."""
        assert self.opt is not None
        nsteps = self.opt.nsteps
        if nsteps == 0:
            self.run["start_energy_eV"] = float(self.atoms.get_potential_energy())
        if nsteps > 0 or self.previous is None:  # a resumed run starts on the last committed frame
            self._writer.write(self.atoms)
            self.state["frames"] += 1
        steps = self.base_steps + nsteps
        extra = {k: getattr(self.opt, k) for k in OPTIMIZER_EXTRA_STATE.get(self.optimizer_class.__name__, ())}
        old_file = self.state.get("optimizer_file")
        if nsteps > 0 and self._restart is not None:
            text, arrays = _split_restart(self._restart)
            path = self.checkpoint.restart_file(steps)
            tmp = path.with_name(path.name + ".tmp")
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)
            os.replace(tmp, path)
            self.state.update(optimizer_data=text, optimizer_file=path.name)
            self._restart = None
        self.run.update(steps=nsteps, force_calls=self.calc.calls, wall_time_s=time.perf_counter() - self.started)
        self.state.update(
            steps=steps,
            force_calls=self.base_calls + self.calc.calls,
            optimizer_extra=encode(extra) if extra else None,
            orig_cell=np.asarray(self.target.orig_cell).tolist() if hasattr(self.target, "orig_cell") else None,
            scf=self.calc.scf_state() if self.calc.ladder is not None else None,
        )
        _atomic_write_text(self.checkpoint.state_file, json.dumps(self.state))
        if old_file and old_file != self.state["optimizer_file"]:
            (self.checkpoint.path / old_file).unlink(missing_ok=True)
        self.calc.step = steps + 1  # the geometry the next force call computes

    def close(self) -> None:
        """Close the trajectory file."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
