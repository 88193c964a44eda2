"""Output documents stored in the results database (pydantic, JSON-safe fields only)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from importlib import metadata
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, Field, field_validator

if TYPE_CHECKING:
    from ase import Atoms

VERSIONED_PACKAGES = ("spillover", "ase", "pymatgen", "jobflow", "atomate2", "gpaw", "chgnet", "torch")


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that can change a stored number."""
    versions = {}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def fixed_indices(atoms: Atoms) -> list[int]:
    """Indices of atoms held fixed by FixAtoms constraints."""
    from ase.constraints import FixAtoms

    fixed: set[int] = set()
    for constraint in atoms.constraints:
        if isinstance(constraint, FixAtoms):
            fixed.update(int(i) for i in constraint.index)
    return sorted(fixed)


HASH_IGNORED_KEYS = ("parallel", "txt")


def content_hash(atoms: Atoms, parameters: dict[str, Any], task: dict[str, Any]) -> str:
    """SHA-256 of a structure, its calculator parameters and the task settings.

    Positions are rounded to 1e-5 Å so that a re-serialised structure hashes the same. Keys that
    do not change the result (:data:`HASH_IGNORED_KEYS`: GPAW's ``parallel`` layout and ``txt``
    file) are left out, so a run on 64 MPI ranks hashes like the same run in serial.
    """
    parameters = {k: v for k, v in parameters.items() if k not in HASH_IGNORED_KEYS}
    payload = {
        "numbers": atoms.numbers.tolist(),
        "positions": np.round(atoms.positions, 5).tolist(),
        "cell": np.round(np.asarray(atoms.cell), 5).tolist(),
        "pbc": [bool(p) for p in atoms.pbc],
        "fixed": fixed_indices(atoms),
        "parameters": parameters,
        "task": task,
    }
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def as_structure(value: Any):
    """A pymatgen Structure from a Structure or its dict (references may resolve to either)."""
    from pymatgen.core import Structure

    return value if isinstance(value, Structure) else Structure.from_dict(value)


def _structure_as_dict(value: Any) -> Any:
    # jobflow's MontyDecoder turns stored structure dicts back into Structure objects.
    return value.as_dict() if hasattr(value, "as_dict") else value


class IonicStep(BaseModel):
    """One optimizer step."""

    energy_eV: float = Field(description="Total energy (eV).")
    max_force_eV_per_A: float = Field(description="Largest force on a free atom (eV/Å).")


class CalcDoc(BaseModel):
    """Result of one relaxation or single-point calculation."""

    doc_type: str = Field("calculation", description="Document type, for queries.")
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
    preset: str = Field(description="Calculator preset name.")
    preset_resolved: dict = Field(description="The complete resolved preset (after inheritance and overrides).")
    calculator: str = Field(description="Calculator name ('chgnet' or 'gpaw').")
    parameters: dict = Field(description="Exact keyword arguments the calculator was built with.")
    versions: dict[str, str] = Field(description="Versions of spillover and the codes behind the number.")
    ionic_steps: list[IonicStep] = Field(description="Energy and max force at each optimizer step.")
    n_ionic_steps: int = Field(description="Number of optimizer steps taken.")
    wall_time_s: float = Field(description="Wall time of the calculation (s).")
    content_hash: str = Field(description="SHA-256 of input structure + parameters + task settings.")
    created_at: str = Field(
        default_factory=lambda: datetime.now(timezone.utc).isoformat(), description="UTC time of completion."
    )
    metadata: dict[str, Any] = Field(default_factory=dict, description="Free-form provenance (study, sources).")

    _structures = field_validator("structure", "input_structure", mode="before")(_structure_as_dict)


class InterfaceDoc(BaseModel):
    """A lattice-matched interface model and its match report."""

    doc_type: str = Field("interface-model", description="Document type, for queries.")
    label: str = Field(description="'support/film[/film]'.")
    support: str = Field(description="Support facet, e.g. 'rutile-110'.")
    films: list[str] = Field(description="Films from the support outwards.")
    film: str = Field(description="Outermost film.")
    substrate_matrix: list[list[int]] = Field(description="Support supercell in its surface cell (2x2).")
    film_matrix: list[list[int]] = Field(
        description="Outermost film's supercell in its surface cell (2x2); for a stack the match of the "
        "outermost film on everything below it."
    )
    area_A2: float = Field(description="In-plane area of the matched cell (Å²).")
    strain_percent: list[float] = Field(description="Mismatch f_i along the two in-plane vectors (%).")
    von_mises_percent: float = Field(description="Von Mises strain of the film (%).")
    natoms: int = Field(description="Atoms in the interface model.")
    report: dict[str, Any] = Field(description="The builder's full match report.")
    structure: dict = Field(description="The interface model (pymatgen Structure.as_dict()).")
    layer: list[int] = Field(description="Layer index per atom within its part, 1 = top of that part.")
    part: list[int] = Field(description="Part per atom: 0 support, 1 first film, 2 second film.")
    bulk_sources: dict[str, str] = Field(description="Material -> uuid of the bulk relaxation it was cut from.")
    preset: str = Field(description="Preset of the bulk relaxations the lattices come from.")
    builder_settings: dict[str, Any] = Field(description="Lattice-match and model-size settings used.")
    versions: dict[str, str] = Field(description="Versions of spillover and the codes behind the model.")
    created_at: str = Field(
        default_factory=lambda: datetime.now(timezone.utc).isoformat(), description="UTC time of creation."
    )
    metadata: dict[str, Any] = Field(default_factory=dict, description="Free-form provenance.")

    _structures = field_validator("structure", mode="before")(_structure_as_dict)
