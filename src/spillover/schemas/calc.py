"""The document of one relaxation or single-point calculation."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from spillover.schemas.base import Document, structure_as_dict


class IonicStep(BaseModel):
    """One optimizer step."""

    energy_eV: float = Field(description="Total energy (eV).")
    max_force_eV_per_A: float = Field(description="Largest force on a free atom (eV/Å).")


class RelaxRun(BaseModel):
    """One run of a relaxation: the first, or one resumed from the checkpoint of a killed run."""

    start_step: int = Field(description="Optimizer steps done before this run started (0 for the first run).")
    steps: int = Field(description="Optimizer steps this run took.")
    force_calls: int = Field(description="Energy-and-force evaluations this run made (up to its last checkpoint).")
    start_energy_eV: float | None = Field(
        None, description="Energy this run computed at its first geometry (the last checkpointed one when resumed)."
    )
    wall_time_s: float = Field(0.0, description="Wall time of this run (s).")


class SeededStart(BaseModel):
    """One relaxation of a seeded system cell: of the input (seed 0), or again from its relaxed structure with every
    free atom moved at random."""

    seed: int = Field(description="Random seed of the start's displacements; 0: the input itself, not moved.")
    displacement_A: float = Field(description="How far every free atom was moved (Å); 0 for seed 0.")
    energy_eV: float = Field(description="Energy the relaxation ended at (eV).")
    converged: bool = Field(description="Whether it met the preset's fmax.")
    n_ionic_steps: int = Field(description="Optimizer steps.")
    force_calls: int | None = Field(None, description="Energy-and-force evaluations.")
    chosen: bool = Field(False, description="Whether this start's structure is the document's result.")


class ScfAttempt(BaseModel):
    """One GPAW SCF attempt of a geometry whose SCF cycle did not converge at first."""

    change: str | None = Field(
        description="What this attempt changed, e.g. 'maxiter 7 -> 14'; None: the parameters already in use."
    )
    parameters: dict[str, Any] = Field(description="The exact GPAW keyword arguments of this attempt.")
    converged: bool = Field(description="Whether this attempt's SCF cycle converged.")
    error: str | None = Field(None, description="The exception of a failed attempt, e.g. 'KohnShamConvergenceError'.")
    step: int = Field(0, description="Optimizer step of the geometry (0: the input geometry).")


class CalcDoc(Document):
    """Result of one relaxation or single-point calculation."""

    doc_type: Literal["calculation"] = Field("calculation", description="Document type, for queries.")
    task: str = Field(description="'relax' or 'static'.")
    kind: str = Field(description="Model kind: bulk, slab, interface, molecule, defect.")
    label: str = Field(description="Model name, e.g. 'rutile' or 'rutile-110/Ru-0001'.")
    formula: str = Field(description="Reduced chemical formula.")
    natoms: int = Field(description="Number of atoms.")
    energy_eV: float = Field(description="Final total energy (eV).")
    energy_per_atom_eV: float = Field(description="Final total energy per atom (eV/atom).")
    max_force_eV_per_A: float = Field(description="Largest final force on a free atom (eV/Å).")
    fmax_target_eV_per_A: float = Field(description="Force threshold of the relaxation (eV/Å).")
    converged: bool = Field(description="Whether the relaxation reached the force threshold.")
    relax_cell: bool = Field(description="Whether the cell was relaxed.")
    structure: dict = Field(description="Final structure (pymatgen Structure.as_dict()).")
    input_structure: dict = Field(description="Input structure (pymatgen Structure.as_dict()).")
    cell_volume_A3: float = Field(description="Final cell volume (Å³).")
    layer: list[int] | None = Field(None, description="Layer index per atom, 1 = outermost.")
    part: list[int] | None = Field(None, description="Part per atom: 0 support, 1 first film, 2 second film.")
    fixed_indices: list[int] = Field(default_factory=list, description="Atoms held fixed.")
    calculator: str = Field(description="Calculator name ('chgnet' or 'gpaw').")
    ionic_steps: list[IonicStep] = Field(description="Energy and max force at each optimizer step.")
    n_ionic_steps: int = Field(description="Number of optimizer steps taken.")
    wall_time_s: float = Field(description="Wall time of the calculation (s), over every run.")
    force_calls: int | None = Field(
        None, description="Energy-and-force evaluations over every run; None in documents from before it was counted."
    )
    runs: int = Field(1, description="Times the relaxation was (re)started: 1, or more after a kill (resumed).")
    run_history: list[RelaxRun] = Field(
        default_factory=list,
        description="Each run: where it started, its steps and force calls (empty in older documents).",
    )
    scf_retries: list[ScfAttempt] = Field(
        default_factory=list,
        description="GPAW SCF attempts of the geometries whose SCF did not converge at first, in order; empty: none "
        "needed. 'parameters' of the document are those of the last (successful) attempt.",
    )
    seeded_starts: list[SeededStart] = Field(
        default_factory=list, description="System cells (relax.cell_seeds): every relaxation, seed 0 that of the "
        "input, then those again from seeded starts of its result. The document's structure and energy are the "
        "lowest converged of them (chosen); ionic_steps are that one's, force_calls and wall_time_s count them all.")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Free-form provenance (study, sources).")
    reused_from_job_id: str | None = Field(
        None, description="uuid of the stored calculation this one is a copy of (same content hash, converged); "
        "None: computed by this job.",
    )

    _structures = field_validator("structure", "input_structure", mode="before")(structure_as_dict)


def calc_atoms(doc: Any, which: str = "structure"):
    """A stored calculation's structure as ASE Atoms with its ``layer``/``part`` arrays and fixed atoms.

    Parameters
    ----------
    doc
        A :class:`CalcDoc` or its dict (a job output).
    which
        ``structure`` (final) or ``input_structure``.
    """
    import numpy as np
    from ase.constraints import FixAtoms
    from pymatgen.io.ase import AseAtomsAdaptor

    from spillover.schemas.base import as_structure, plain

    doc = plain(doc)
    atoms = AseAtomsAdaptor.get_atoms(as_structure(doc[which]))
    atoms.set_constraint(FixAtoms(indices=doc["fixed_indices"]) if doc.get("fixed_indices") else None)
    for key in ("layer", "part"):
        if doc.get(key) is not None:
            atoms.arrays[key] = np.asarray(doc[key], dtype=int)
    if doc.get("layer") is not None:
        atoms.set_tags(atoms.arrays["layer"])
    return atoms
