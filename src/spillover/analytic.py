"""A fast analytic calculator for wiring tests: Morse pair potentials with one parameter set per element pair.

ASE's :class:`~ase.calculators.morse.MorsePotential` has one parameter set for every pair; the
models here mix Ru, Ti and O, so this calculator takes one (D, alpha, r0) per element pair. Each
pair term is shifted so that energy and force vanish at the cutoff (shifted-force Morse), which
keeps energies continuous as atoms cross it. Numbers from it exercise the code, not the science.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from ase.calculators.calculator import Calculator, all_changes
from ase.stress import full_3x3_to_voigt_6_stress


def _pair_key(a: str, b: str) -> str:
    return "-".join(sorted((a, b)))


class PairMorse(Calculator):
    """Shifted-force Morse pairs: phi(r) = D [exp(-2 alpha (r - r0)) - 2 exp(-alpha (r - r0))].

    Parameters
    ----------
    pairs
        ``{"O-Ti": {"D": eV, "alpha": 1/Å, "r0": Å}, ...}``; keys are element pairs in alphabetical
        order. Pairs not listed do not interact.
    cutoff
        Interaction range (Å).
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, pairs: dict[str, dict[str, float]], cutoff: float = 6.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pairs = {_pair_key(*key.split("-")): dict(v) for key, v in pairs.items()}
        self.cutoff = float(cutoff)

    def _phi(self, r: np.ndarray, D: np.ndarray, a: np.ndarray, r0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        def raw(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            e1, e2 = np.exp(-a * (x - r0)), np.exp(-2 * a * (x - r0))
            return D * (e2 - 2 * e1), D * (-2 * a * e2 + 2 * a * e1)

        rc = np.full_like(r, self.cutoff)
        e, de = raw(r)
        ec, dec = raw(rc)
        return e - ec - (r - rc) * dec, de - dec

    def _pairs(self, atoms) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every pair (i, j, |d|, d = r_j - r_i) within the cutoff, periodic images included.

        A KD-tree over the atoms and their periodic images (scipy): ASE's neighbour list bins the
        whole cell, vacuum included, and was most of the cost of a force call on slab models.
        """
        from scipy.spatial import cKDTree

        cell = np.asarray(atoms.cell)
        pos = atoms.positions
        reps = []
        for k in range(3):
            if atoms.pbc[k]:
                others = np.cross(cell[(k + 1) % 3], cell[(k + 2) % 3])
                spacing = abs(np.dot(cell[k], others)) / np.linalg.norm(others)
                reps.append(range(-int(np.ceil(self.cutoff / spacing)), int(np.ceil(self.cutoff / spacing)) + 1))
            else:
                reps.append(range(1))
        shifts = np.array([[a, b, c] for a in reps[0] for b in reps[1] for c in reps[2]], dtype=float) @ cell
        images = (pos[None, :, :] + shifts[:, None, :]).reshape(-1, 3)
        found = cKDTree(pos).sparse_distance_matrix(cKDTree(images), self.cutoff, output_type="ndarray")
        i, jimg, d = found["i"], found["j"], found["v"]
        keep = d > 1e-8  # not an atom with itself
        i, jimg, d = i[keep], jimg[keep], d[keep]
        return i, jimg % len(atoms), d, images[jimg] - pos[i]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes) -> None:
        """Energy, forces and (for periodic cells) the virial stress."""
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        i, j, d, vec = self._pairs(atoms)
        elements, species = np.unique(atoms.get_chemical_symbols(), return_inverse=True)
        table = np.zeros((len(elements), len(elements), 3))
        for a, ea in enumerate(elements):
            for b, eb in enumerate(elements):
                p = self.pairs.get(_pair_key(ea, eb))
                if p:
                    table[a, b] = (p["D"], p["alpha"], p["r0"])
        params = table[species[i], species[j]]
        active = params[:, 0] != 0
        i, j, d, vec, params = i[active], j[active], d[active], vec[active], params[active]
        phi, dphi = self._phi(d, params[:, 0], params[:, 1], params[:, 2])
        energy = 0.5 * float(phi.sum())  # every pair appears as (i, j) and (j, i)
        pair_forces = (dphi / d)[:, None] * vec  # force on i from j
        forces = np.zeros((len(atoms), 3))
        np.add.at(forces, i, pair_forces)
        self.results = {"energy": energy, "free_energy": energy, "forces": forces}
        if atoms.cell.rank == 3 and all(atoms.pbc):
            virial = -0.5 * pair_forces.T @ vec
            self.results["stress"] = full_3x3_to_voigt_6_stress(-virial / atoms.get_volume())
