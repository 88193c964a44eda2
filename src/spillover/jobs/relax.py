"""Relaxation and single-point jobs, built on atomate2's ASE relaxation machinery.

Relaxations checkpoint every optimizer step (:mod:`spillover.jobs.checkpoint`) and resume after a
kill; GPAW SCF failures are retried with bounded changes (:mod:`spillover.jobs.scf`).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import io
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from atomate2.ase.jobs import AseRelaxMaker
from atomate2.ase.utils import OPTIMIZERS, AseRelaxer
from jobflow import job
from ase import Atoms
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor

from spillover.calculators import (
    Preset,
    calculator_parameters,
    close_calculator,
    gpaw_calculator,
    load_preset,
    make_calculator,
)
from spillover.jobs.reuse import stored_calculation
from spillover.jobs.checkpoint import CHECKPOINT_SUBDIR, RelaxCheckpoint, RelaxRecorder
from spillover.jobs.scf import GuardedCalculator, ScfConvergenceFailed
from spillover.schemas import CalcDoc, IonicStep, as_structure, calc_atoms, content_hash, fixed_indices
from spillover.schemas.calc import RelaxRun, ScfAttempt, SeededStart
from spillover.settings import get_settings

# Float32 ML potentials are noisy at this level; the failures this guards against are eV-sized.
ENERGY_RISE_TOLERANCE_EV = 1e-3


class RelaxationFailed(RuntimeError):
    """A relaxation ended above the energy it started from: reported, never stored."""


def _ionic_steps(frames: list[tuple[float, np.ndarray]], free: np.ndarray) -> list[IonicStep]:
    steps = []
    for energy, forces in frames:
        forces = np.asarray(forces)[free]
        fmax = float(np.linalg.norm(forces, axis=1).max()) if len(forces) else 0.0
        steps.append(IonicStep(energy_eV=float(energy), max_force_eV_per_A=fmax))
    return steps


@dataclass
class RelaxMaker(AseRelaxMaker):
    """Relax positions (and optionally the cell) with a spillover calculator preset.

    The relaxation loop is atomate2's :class:`~atomate2.ase.utils.AseRelaxer`; this Maker adds
    the preset system and stores a :class:`~spillover.schemas.CalcDoc`.

    Parameters
    ----------
    name
        Job name.
    preset
        Calculator preset name.
    preset_overrides
        Nested overrides deep-merged into the preset for this job.
    relax_cell
        Relax the cell as well as the positions.
    steps
        Maximum optimizer steps; ``None`` takes the preset's. ``0`` gives a single point.
    fmax
        Force threshold (eV/Å); ``None`` takes the preset's.
    checkpoint
        Checkpoint every optimizer step so that a killed job started again with the same inputs
        resumes from its last step (single points are never checkpointed).
    checkpoint_dir
        Directory of the checkpoint directories; ``None``: ``$SPILLOVER_SCRATCH/relax-checkpoints``,
        made absolute when the Maker is made (jobs run in their own folders, which change with every
        run). A relaxation's checkpoint is ``<checkpoint_dir>/relax-<content hash[:16]>/``
        (:mod:`spillover.jobs.checkpoint`); it is deleted when the relaxation has finished and its
        document is built, and kept when the job is killed or fails.
    seeds
        After a converged relaxation, relax again from this many seeded starts (every free atom of the
        relaxed structure moved by ``seed_displacement_A`` in a random direction, seeds 1..n) and return
        the lowest converged result (``seeded_starts``). The system cells take ``relax.cell_seeds``.
    seed_displacement_A
        Length of those moves (Å).

    Notes
    -----
    The stored document counts force calls over every run (``force_calls``), the runs
    (``runs``, ``run_history``) and any GPAW SCF retries (``scf_retries``). ``parameters`` and
    ``content_hash`` are those of the calculator that produced the stored numbers: after an SCF
    retry, the changed parameters.
    """

    name: str = "relax"
    preset: str = "screen"
    preset_overrides: dict = field(default_factory=dict)
    relax_cell: bool = False
    steps: int | None = None  # type: ignore[assignment]
    fmax: float | None = None
    checkpoint: bool = True
    checkpoint_dir: str | None = None
    seeds: int = 0
    seed_displacement_A: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.checkpoint_dir is None:
            self.checkpoint_dir = str((Path(get_settings().scratch) / CHECKPOINT_SUBDIR).resolve())

    def resolved_preset(self) -> Preset:
        """The preset with this job's overrides."""
        return load_preset(self.preset, self.preset_overrides or None)

    def task_settings(self, preset: Preset) -> dict:
        """The settings of this calculation that enter its content hash besides structure and calculator."""
        steps = preset.relax.steps if self.steps is None else self.steps
        fmax = preset.relax.fmax if self.fmax is None else self.fmax
        task = {"steps": steps, "fmax": fmax, "relax_cell": self.relax_cell, "optimizer": preset.relax.optimizer}
        if self.seeds:  # unseeded relaxations keep the hashes they had before seeds existed
            task.update(seeds=self.seeds, seed_displacement_A=self.seed_displacement_A)
        return task

    def content_hash(self, structure: Structure | Atoms, parameters: dict | None = None) -> str:
        """The content hash :meth:`compute` gives ``structure``, without building the calculator.

        ``parameters`` replaces the preset's calculator parameters: those an SCF retry arrived at.
        """
        preset = self.resolved_preset()
        atoms = structure.copy() if isinstance(structure, Atoms) else AseAtomsAdaptor.get_atoms(structure)
        params = calculator_parameters(preset, atoms)
        if preset.calculator == "gpaw" and "dipolelayer" in params.get("poissonsolver", {}):
            atoms.pbc = [True, True, False]  # as make_calculator does
        return content_hash(atoms, params if parameters is None else parameters, self.task_settings(preset))

    @job(output_schema=CalcDoc)
    def make(  # type: ignore[override]
        self,
        structure: Structure | dict,
        label: str = "",
        kind: str = "bulk",
        metadata: dict | None = None,
    ) -> CalcDoc:
        """Run the relaxation (or single point) and return its document.

        Parameters
        ----------
        structure
            Input structure; site properties ``layer``/``part`` and ``selective_dynamics``
            (fixed atoms) are kept.
        label
            Model name stored with the result.
        kind
            Model kind stored with the result (bulk, slab, interface, molecule, defect).
        metadata
            Extra provenance stored with the result.
        """
        structure = as_structure(structure)
        stored = stored_calculation(self.content_hash(structure))
        if stored is not None:
            return stored.model_copy(update={"label": label or stored.label, "kind": kind,
                                             "metadata": metadata or {}})
        return self.compute(structure, label=label, kind=kind, metadata=metadata)

    def compute(
        self, structure: Structure, label: str = "", kind: str = "bulk", metadata: dict | None = None
    ) -> CalcDoc:
        """Do the work of :meth:`make` outside jobflow (used by tests and other jobs)."""
        if self.seeds:
            return self._seeded(structure, label, kind, metadata)
        preset = self.resolved_preset()
        task = self.task_settings(preset)
        steps, fmax = task["steps"], task["fmax"]
        atoms = AseAtomsAdaptor.get_atoms(structure)
        with contextlib.redirect_stdout(io.StringIO()):  # CHGNet prints its device to stdout
            inner, params = make_calculator(preset, atoms, stress=self.relax_cell)
        digest = content_hash(atoms, params, task)
        input_atoms = atoms.copy()
        fixed = fixed_indices(atoms)
        free = np.ones(len(atoms), dtype=bool)
        free[fixed] = False

        ckpt = None
        if self.checkpoint and steps > 1:
            ckpt = RelaxCheckpoint.acquire(Path(str(self.checkpoint_dir)) / f"relax-{digest[:16]}")
        try:
            loaded = ckpt.load(digest, preset.relax.optimizer) if ckpt is not None else None
            previous, frames = loaded if loaded is not None else (None, [])
            scf = (previous or {}).get("scf") or {}
            gpaw = preset.calculator == "gpaw"
            if gpaw and scf.get("parameters") not in (None, params):
                close_calculator(inner)  # a resumed job keeps the parameters its SCF retries arrived at
                inner = gpaw_calculator(scf["parameters"])
            calc = GuardedCalculator(
                inner, scf.get("parameters", params), ["energy", "forces", *(["stress"] if self.relax_cell else [])],
                settings=preset.scf if gpaw else None, rebuild=gpaw_calculator if gpaw else None,
                attempts=scf.get("attempts"), position=scf.get("position", 0),
            )
            done = int(previous["steps"]) if previous else 0
            if frames:
                atoms.set_cell(frames[-1].cell, scale_atoms=False)
                atoms.set_positions(frames[-1].positions, apply_constraint=False)
            # AseRelaxer takes steps <= 1 for a single point: the last step of a resumed run becomes two
            run_steps = steps if previous is None else (0 if done >= steps else max(steps - done, 2))
            recorder = None
            if ckpt is not None:
                recorder = RelaxRecorder(ckpt, OPTIMIZERS[preset.relax.optimizer], calc, digest, previous)
            relaxer = AseRelaxer(calc, optimizer=recorder.optimizer if recorder else preset.relax.optimizer,
                                 relax_cell=self.relax_cell)
            started = time.perf_counter()
            try:
                result = relaxer.relax(
                    atoms, fmax=fmax, steps=run_steps, final_atoms_object_file=None, use_emmet_models=False
                )
            except ScfConvergenceFailed as err:
                raise ScfConvergenceFailed(f"{label or structure.formula} (preset {preset.name}): {err}",
                                           err.attempts) from None
            finally:
                if recorder is not None:
                    recorder.close()
                close_calculator(calc.inner)  # GPAW in MPI ranks: the ranks end with the job
            wall = time.perf_counter() - started

            run_frames = [(f["energy"], f["forces"]) for f in result.trajectory.frame_properties]
            if previous is not None:  # this run's first frame is the last committed one
                run_frames = [(f.get_potential_energy(), f.get_forces()) for f in frames] + run_frames[1:]
            ionic = _ionic_steps(run_frames, free)
            runs = [RelaxRun(**r) for r in (previous or {}).get("runs", [])]
            this_run = result.trajectory.frame_properties  # first geometry, one per step, the last again
            runs.append(RelaxRun(
                start_step=done, steps=len(this_run) - 2 if run_steps > 1 else 0, force_calls=calc.calls,
                start_energy_eV=float(this_run[0]["energy"]), wall_time_s=wall,
            ))
            if ionic and ionic[-1].energy_eV > ionic[0].energy_eV + ENERGY_RISE_TOLERANCE_EV:
                raise RelaxationFailed(
                    f"{label or structure.formula}: relaxation ended at {ionic[-1].energy_eV:.4f} eV, above its "
                    f"start {ionic[0].energy_eV:.4f} eV (preset {preset.name}); not stored"
                )
            used = calc.parameters_in_use
            final: Structure = result.final_mol_or_struct
            energy = ionic[-1].energy_eV
            props = structure.site_properties
            doc = CalcDoc(
                task="relax" if steps > 1 else "static",
                kind=kind,
                label=label or structure.composition.reduced_formula,
                formula=final.composition.reduced_formula,
                natoms=len(final),
                energy_eV=energy,
                energy_per_atom_eV=energy / len(final),
                max_force_eV_per_A=ionic[-1].max_force_eV_per_A,
                fmax_target_eV_per_A=fmax,
                converged=bool(result.is_force_converged) if steps > 1 else True,
                relax_cell=self.relax_cell,
                structure=final.as_dict(),
                input_structure=structure.as_dict(),
                cell_volume_A3=float(final.volume),
                layer=[int(x) for x in props["layer"]] if "layer" in props else None,
                part=[int(x) for x in props["part"]] if "part" in props else None,
                fixed_indices=fixed,
                preset=preset.name,
                preset_resolved=preset.model_dump(),
                calculator=preset.calculator,
                parameters=copy.deepcopy(used),
                ionic_steps=ionic,
                n_ionic_steps=max(len(ionic) - 1, 0),
                wall_time_s=sum(r.wall_time_s for r in runs),
                force_calls=sum(r.force_calls for r in runs),
                runs=len(runs),
                run_history=runs,
                scf_retries=[ScfAttempt(**a) for a in calc.attempts],
                content_hash=digest if used == params else content_hash(input_atoms, used, task),
                metadata=metadata or {},
            )
            if ckpt is not None:
                ckpt.remove()
            return doc
        finally:
            if ckpt is not None:
                ckpt.release()

    def _seeded(self, structure: Structure, label: str, kind: str, metadata: dict | None) -> CalcDoc:
        """The relaxation, then again from ``seeds`` seeded starts of its result; the lowest converged wins."""
        from spillover.jobs.neb import seed_displacement

        single = dataclasses.replace(self, seeds=0)
        first = best = single.compute(structure, label=label, kind=kind, metadata=metadata)
        docs = [first]
        if first.converged and first.task == "relax":
            relaxed = calc_atoms(first)
            for seed in range(1, self.seeds + 1):
                atoms = relaxed.copy()
                seed_displacement([atoms], first.fixed_indices, self.seed_displacement_A, seed)
                start = Structure(structure.lattice, structure.species, atoms.get_positions(),
                                  coords_are_cartesian=True, site_properties=structure.site_properties)
                doc = single.compute(start, label=label, kind=kind, metadata=metadata)
                docs.append(doc)
                if doc.converged and doc.energy_eV < best.energy_eV - ENERGY_RISE_TOLERANCE_EV:
                    best = doc
        # seed 0 is the relaxation of the input itself
        starts = [SeededStart(seed=seed, displacement_A=self.seed_displacement_A if seed else 0.0,
                              energy_eV=doc.energy_eV, converged=doc.converged, n_ionic_steps=doc.n_ionic_steps,
                              force_calls=doc.force_calls, chosen=doc is best)
                  for seed, doc in enumerate(docs)]
        return best.model_copy(update={
            # as unseeded: the hash of the parameters that produced the stored numbers
            "content_hash": self.content_hash(structure, best.parameters), "input_structure": structure.as_dict(),
            "seeded_starts": starts, "force_calls": sum(d.force_calls or 0 for d in docs),
            "wall_time_s": sum(d.wall_time_s for d in docs),
        })


@dataclass
class StaticMaker(RelaxMaker):
    """Single-point energy and forces with a preset (a relaxation of zero steps)."""

    name: str = "static"
    steps: int | None = 0
