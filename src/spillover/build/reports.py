"""Plain-dict reports of built structures, for the CLI (text and --json)."""

from __future__ import annotations

from typing import Any

import numpy as np
from ase import Atoms


def bulk_report(name: str, atoms: Atoms) -> dict[str, Any]:
    """Name, formula, atom count, cell lengths and angles, space group of a bulk."""
    import spglib

    cell = (np.asarray(atoms.cell), atoms.get_scaled_positions(), atoms.numbers)
    spacegroup = spglib.get_spacegroup(cell, symprec=1e-3)
    return {
        "name": name,
        "formula": atoms.get_chemical_formula(mode="hill"),
        "natoms": len(atoms),
        "cell_lengths_A": [round(float(x), 4) for x in atoms.cell.lengths()],
        "cell_angles_deg": [round(float(x), 3) for x in atoms.cell.angles()],
        "volume_A3": round(float(atoms.get_volume()), 4),
        "spacegroup": spacegroup,
    }


def slab_report(name: str, atoms: Atoms) -> dict[str, Any]:
    """Name, formula, atom count, layers, area, thickness and vacuum (per side) of a slab."""
    from spillover.schemas import fixed_indices

    z = atoms.positions[:, 2]
    thickness = float(z.max() - z.min())
    info = atoms.info.get("slab", {})
    return {
        "name": name,
        "miller": list(info.get("miller", [])),
        "formula": atoms.get_chemical_formula(mode="hill"),
        "natoms": len(atoms),
        "layers": int(atoms.arrays["layer"].max()),
        "atoms_per_layer": np.bincount(atoms.arrays["layer"])[1:].tolist(),
        "area_A2": round(float(np.linalg.norm(np.cross(atoms.cell[0], atoms.cell[1]))), 4),
        "thickness_A": round(thickness, 4),
        "vacuum_A": round((float(atoms.cell[2, 2]) - thickness) / 2.0, 4),  # per side, as ASE's vacuum
        "fixed_atoms": len(fixed_indices(atoms)),
    }
