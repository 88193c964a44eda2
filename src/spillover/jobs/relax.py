"""Relaxation and single-point jobs, built on atomate2's ASE relaxation machinery."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from atomate2.ase.jobs import AseRelaxMaker
from atomate2.ase.utils import AseRelaxer
from jobflow import job
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor

from spillover.calculators import Preset, close_calculator, load_preset, make_calculator
from spillover.schemas import CalcDoc, IonicStep, as_structure, content_hash, fixed_indices


# Float32 ML potentials are noisy at this level; the failures this guards against are eV-sized.
ENERGY_RISE_TOLERANCE_EV = 1e-3


class RelaxationFailed(RuntimeError):
    """A relaxation ended above the energy it started from: reported, never stored."""


def _ionic_steps(trajectory: Any, free: np.ndarray) -> list[IonicStep]:
    steps = []
    for frame in trajectory.frame_properties:
        forces = np.asarray(frame["forces"])[free]
        fmax = float(np.linalg.norm(forces, axis=1).max()) if len(forces) else 0.0
        steps.append(IonicStep(energy_eV=float(frame["energy"]), max_force_eV_per_A=fmax))
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
    """

    name: str = "relax"
    preset: str = "screen"
    preset_overrides: dict = field(default_factory=dict)
    relax_cell: bool = False
    steps: int | None = None  # type: ignore[assignment]
    fmax: float | None = None

    def resolved_preset(self) -> Preset:
        """The preset with this job's overrides."""
        return load_preset(self.preset, self.preset_overrides or None)

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
        return self.compute(as_structure(structure), label=label, kind=kind, metadata=metadata)

    def compute(
        self, structure: Structure, label: str = "", kind: str = "bulk", metadata: dict | None = None
    ) -> CalcDoc:
        """Do the work of :meth:`make` outside jobflow (used by tests and other jobs)."""
        preset = self.resolved_preset()
        steps = preset.relax.steps if self.steps is None else self.steps
        fmax = preset.relax.fmax if self.fmax is None else self.fmax
        atoms = AseAtomsAdaptor.get_atoms(structure)
        with contextlib.redirect_stdout(io.StringIO()):  # CHGNet prints its device to stdout
            calc, params = make_calculator(preset, atoms, stress=self.relax_cell)
        task = {"steps": steps, "fmax": fmax, "relax_cell": self.relax_cell, "optimizer": preset.relax.optimizer}
        digest = content_hash(atoms, params, task)
        fixed = fixed_indices(atoms)
        free = np.ones(len(atoms), dtype=bool)
        free[fixed] = False

        relaxer = AseRelaxer(calc, optimizer=preset.relax.optimizer, relax_cell=self.relax_cell)
        try:
            result = relaxer.relax(
                atoms, fmax=fmax, steps=steps, final_atoms_object_file=None, use_emmet_models=False
            )
        finally:
            close_calculator(calc)  # GPAW in MPI ranks: the ranks end with the job
        ionic = _ionic_steps(result.trajectory, free)
        if ionic and ionic[-1].energy_eV > ionic[0].energy_eV + ENERGY_RISE_TOLERANCE_EV:
            raise RelaxationFailed(
                f"{label or structure.formula}: relaxation ended at {ionic[-1].energy_eV:.4f} eV, above its "
                f"start {ionic[0].energy_eV:.4f} eV (preset {preset.name}); not stored"
            )
        final: Structure = result.final_mol_or_struct
        energy = ionic[-1].energy_eV
        props = structure.site_properties
        return CalcDoc(
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
            parameters=params,
            ionic_steps=ionic,
            n_ionic_steps=max(len(ionic) - 1, 0),
            wall_time_s=float(result.elapsed_time or 0.0),
            content_hash=digest,
            metadata=metadata or {},
        )


@dataclass
class StaticMaker(RelaxMaker):
    """Single-point energy and forces with a preset (a relaxation of zero steps)."""

    name: str = "static"
    steps: int | None = 0
