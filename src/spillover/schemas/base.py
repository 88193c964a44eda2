"""What every stored document carries (provenance, declared once) and the helpers that fill it."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from importlib import metadata
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from ase import Atoms

VERSIONED_PACKAGES = ("spillover", "ase", "pymatgen", "jobflow", "atomate2", "gpaw", "chgnet", "torch")
#: Calculator keys that do not change a result: GPAW's parallel layout and its text file.
HASH_IGNORED_KEYS = ("parallel", "txt")


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that can change a stored number."""
    versions = {}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def utc_now() -> str:
    """The current UTC time, ISO 8601."""
    return datetime.now(timezone.utc).isoformat()


def fixed_indices(atoms: Atoms) -> list[int]:
    """Indices of atoms held fixed by FixAtoms constraints."""
    from ase.constraints import FixAtoms

    fixed: set[int] = set()
    for constraint in atoms.constraints:
        if isinstance(constraint, FixAtoms):
            fixed.update(int(i) for i in constraint.index)
    return sorted(fixed)


def content_hash(atoms: Atoms, parameters: dict[str, Any], task: dict[str, Any]) -> str:
    """SHA-256 of a structure, its calculator parameters and the task settings.

    Positions are rounded to 1e-5 Å so that a re-serialised structure hashes the same. Keys that
    do not change the result (:data:`HASH_IGNORED_KEYS`) are left out, so a run on 64 MPI ranks
    hashes like the same run in serial. Initial magnetic moments count only for a spin-polarised
    calculator (``spinpol`` in ``parameters``) and only when one is non-zero.
    """
    parameters = {k: v for k, v in parameters.items() if k not in HASH_IGNORED_KEYS}
    payload = {
        "numbers": atoms.numbers.tolist(),
        # + 0.0 turns -0.0 into 0.0: a coordinate of -2e-17 (ASE) and one of 0 (pymatgen) hash the same
        "positions": (np.round(atoms.positions, 5) + 0.0).tolist(),
        "cell": (np.round(np.asarray(atoms.cell), 5) + 0.0).tolist(),
        "pbc": [bool(p) for p in atoms.pbc],
        "fixed": fixed_indices(atoms),
        "parameters": parameters,
        "task": task,
    }
    moments = atoms.get_initial_magnetic_moments()
    if parameters.get("spinpol") and np.any(moments):  # only a spin-polarised calculation depends on them
        payload["magmoms"] = (np.round(moments, 3) + 0.0).tolist()
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def as_structure(value: Any):
    """A pymatgen Structure from a Structure or its dict (references may resolve to either).

    A dict is checked first (:func:`spillover.decoding.check_modules`): pymatgen decodes site
    properties with monty, which would import any module a crafted document names.
    """
    from pymatgen.core import Structure

    from spillover.decoding import check_modules

    if isinstance(value, Structure):
        return value
    check_modules(value, "stored structure")
    return Structure.from_dict(value)


def structure_as_dict(value: Any) -> Any:
    """Validator helper: jobflow's decoder may hand back Structure objects; store their dicts."""
    return value.as_dict() if hasattr(value, "as_dict") else value


def plain(doc: Any) -> Any:
    """A resolved job output as a plain dict (jobflow may hand back the pydantic document)."""
    return doc.model_dump() if hasattr(doc, "model_dump") else doc


class Document(BaseModel):
    """Provenance of every stored document: preset, parameters, versions, content hash, time.

    Subclasses add ``doc_type`` (a ``Literal``, for queries) and their own fields.
    """

    preset: str = Field(description="Calculator preset of the numbers in this document.")
    preset_resolved: dict | None = Field(None, description="The complete resolved preset (after inheritance and overrides).")
    parameters: dict | None = Field(None, description="Exact keyword arguments the calculator was built with.")
    versions: dict[str, str] = Field(
        default_factory=package_versions, description="Versions of spillover and the codes behind the numbers."
    )
    content_hash: str | None = Field(None, description="SHA-256 of the inputs that decide the result.")
    created_at: str = Field(default_factory=utc_now, description="UTC time of completion.")
