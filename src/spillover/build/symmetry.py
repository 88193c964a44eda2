"""Symmetry operations of a host as permutations of its atoms, and the orbits they make.

This is the one place of the build package that asks spglib (through pymatgen's
:class:`~pymatgen.symmetry.analyzer.SpacegroupAnalyzer`) for symmetry. Each operation of the
host becomes a permutation of its atoms plus the lattice translation every atom picks up. By
default only operations that keep the host's labels (species, the ``layer`` and ``part``
arrays, fixed atoms) are kept, so the two faces of a slab with a fixed bottom, or the support
and the film of an interface, are never mixed. From these operations come

* orbits of atoms (symmetry-distinct sites, e.g. vacancy sites),
* images of directed atom pairs with their lattice translation (hops),
* permutations and orbits of extra points that are not atoms (adsorption and interstitial
  sites), optionally under the operations that keep +z only,
* whether an operation maps the top of a slab onto its bottom.

Two things are equivalent when an operation maps one onto the other, never because their
coordinates look alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms

from spillover.errors import InputError

#: Distance tolerance of spglib's search for operations (Å).
SYMPREC = 0.05
#: An operation must put every atom (or point) within this of an atom (point) of the same kind (Å).
#: spglib accepts an operation when each atom lands within about ``symprec`` of its partner; twice
#: that never rejects what it found and stays far below any interatomic or site-site distance.
MATCH_TOL = 2 * SYMPREC


@dataclass
class Symmetry:
    """Symmetry operations of a host as atom permutations (identity first).

    Attributes
    ----------
    perms
        ``(n_ops, n_atoms)``: operation g maps atom k onto atom ``perms[g, k]`` ...
    shifts
        ``(n_ops, n_atoms, 3)``: ... plus this lattice translation (integers).
    rotations
        ``(n_ops, 3, 3)``: integer rotations in fractional coordinates.
    translations
        ``(n_ops, 3)``: translations in fractional coordinates.
    cell
        ``(3, 3)``: the host's cell vectors as rows (Å).
    """

    perms: np.ndarray
    shifts: np.ndarray
    rotations: np.ndarray
    translations: np.ndarray
    cell: np.ndarray

    def __len__(self) -> int:
        return len(self.perms)

    def orbit_of_site(self, k: int) -> list[int]:
        """Every atom index an operation maps atom ``k`` onto, sorted."""
        return sorted({int(p) for p in self.perms[:, k]})

    def site_orbits(self, indices: np.ndarray | list[int] | None = None) -> list[list[int]]:
        """Orbits of the atoms ``indices`` (all atoms if ``None``), in order of their first member.

        Each orbit is sorted; atoms of one orbit that are not in ``indices`` are included too.
        """
        todo = range(self.perms.shape[1]) if indices is None else [int(k) for k in indices]
        seen: set[int] = set()
        orbits = []
        for k in todo:
            if k not in seen:
                orbit = self.orbit_of_site(k)
                seen.update(orbit)
                orbits.append(orbit)
        return orbits

    def image_hops(self, j: int, i: int, n: np.ndarray) -> list[tuple[int, int, tuple[int, int, int]]]:
        """Images of the directed pair (j -> i + n), ``n`` a lattice translation, under every operation, in order."""
        new_n = self.shifts[:, i] + np.einsum("gab,b->ga", self.rotations, np.asarray(n)) - self.shifts[:, j]
        return [
            (int(pj), int(pi), tuple(int(x) for x in nn))
            for pj, pi, nn in zip(self.perms[:, j], self.perms[:, i], new_n)
        ]

    def cartesian_rotations(self) -> np.ndarray:
        """``(n_ops, 3, 3)`` rotations acting on Cartesian column vectors."""
        a_t = self.cell.T
        return np.einsum("ab,gbc,cd->gad", a_t, self.rotations, np.linalg.inv(a_t))

    def keeps_z(self) -> np.ndarray:
        """Per operation: True if it keeps +z (the top of a slab stays on top)."""
        return self.cartesian_rotations()[:, 2, 2] > 0.5

    def flips_z(self) -> bool:
        """True if some operation maps +z onto -z (the top of a slab onto its bottom)."""
        return bool(np.any(~self.keeps_z()))

    def point_permutations(
        self, points: np.ndarray, keep_z: bool = False, match_tol: float = MATCH_TOL
    ) -> list[np.ndarray]:
        """Permutations of extra points (not atoms) induced by the operations, identity first, no repeats.

        Parameters
        ----------
        points
            Cartesian positions ``(n, 3)`` in the host's frame (Å); images one lattice vector
            apart are the same point.
        keep_z
            Use only the operations that keep +z (e.g. sites on one face of a slab).
        match_tol
            An operation counts only if it puts every point within this of a point (Å).

        Returns
        -------
        list of numpy.ndarray
            Operation g maps point k onto point ``perm[k]``; operations that do not map the
            point set onto itself are left out.
        """
        points = np.asarray(points, dtype=float).reshape(-1, 3)
        n = len(points)
        identity = np.arange(n)
        if n == 0:
            return [identity]
        frac = np.linalg.solve(self.cell.T, points.T).T
        use = self.keeps_z() if keep_z else np.ones(len(self), dtype=bool)
        perms = [identity]
        seen = {identity.tobytes()}
        for rot, trans in zip(self.rotations[use], self.translations[use]):
            diff = (frac @ rot.T + trans)[:, None, :] - frac[None, :, :]
            diff -= np.rint(diff)
            dist = np.linalg.norm(diff @ self.cell, axis=-1)
            perm = dist.argmin(axis=1)
            if dist[identity, perm].max() >= match_tol or len(set(perm.tolist())) != n:
                continue
            key = perm.tobytes()
            if key not in seen:
                seen.add(key)
                perms.append(perm)
        return perms

    def point_orbits(self, points: np.ndarray, keep_z: bool = False, match_tol: float = MATCH_TOL) -> list[list[int]]:
        """Orbits of extra points (indices into ``points``), in order of their first member, each sorted.

        See :meth:`point_permutations` for the parameters.
        """
        perms = np.array(self.point_permutations(points, keep_z, match_tol))
        orbits: list[list[int]] = []
        seen: set[int] = set()
        for k in range(perms.shape[1]):
            if k not in seen:
                orbit = sorted({int(p) for p in perms[:, k]})
                seen.update(orbit)
                orbits.append(orbit)
        return orbits


def label_array(atoms: Atoms) -> np.ndarray:
    """One integer per atom combining element, ``layer``, ``part`` and fixed flag."""
    from spillover.schemas import fixed_indices

    columns = [atoms.numbers]
    for key in ("layer", "part"):
        if key in atoms.arrays:
            columns.append(np.asarray(atoms.arrays[key], dtype=int))
    fixed = np.zeros(len(atoms), dtype=int)
    fixed[fixed_indices(atoms)] = 1
    columns.append(fixed)
    _, inverse = np.unique(np.stack(columns, axis=1), axis=0, return_inverse=True)
    return inverse.ravel()


def host_symmetry(
    atoms: Atoms, symprec: float = SYMPREC, labels: bool = True, match_tol: float = MATCH_TOL
) -> Symmetry:
    """The host's symmetry operations (spglib via pymatgen) as atom permutations.

    Parameters
    ----------
    atoms
        The host (periodic in all three directions; a slab's vacuum keeps its faces apart).
    symprec
        Distance tolerance of the search for operations (Å).
    labels
        Keep only operations that preserve the labels of :func:`label_array` (species,
        ``layer``/``part`` arrays, FixAtoms constraints); ``False``: species only.
    match_tol
        An operation counts only if it puts every atom within this of an atom (Å); it is
        raised to ``2 * symprec`` for a looser search so that no operation spglib finds is lost.

    Returns
    -------
    Symmetry
        Identity first. Where spglib cannot determine the symmetry at all (e.g. atoms on top
        of each other) the identity alone: nothing is reduced.

    Raises
    ------
    InputError
        Non-positive ``symprec`` or ``match_tol``, or an empty host.
    """
    from pymatgen.io.ase import AseAtomsAdaptor
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    for name, value in (("symprec", symprec), ("match_tol", match_tol)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not value > 0:
            raise InputError(name, f"must be a positive number of Å, got {value!r}", f"> 0, e.g. {SYMPREC}")
    if not isinstance(atoms, Atoms) or len(atoms) == 0:
        raise InputError("host", "needs an ase.Atoms with at least one atom")
    tol = max(float(match_tol), 2 * float(symprec))
    plain = Atoms(atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=True)
    structure = AseAtomsAdaptor.get_structure(plain)
    frac = structure.frac_coords
    kinds = label_array(atoms) if labels else atoms.numbers
    n = len(structure)
    try:
        ops = SpacegroupAnalyzer(structure, symprec=symprec).get_symmetry_operations(cartesian=False)
    except ValueError:  # spglib gives up (SymmetryUndeterminedError is a ValueError)
        ops = []
    perms, shifts, rotations, translations = [np.arange(n)], [np.zeros((n, 3), dtype=int)], [np.eye(3, dtype=int)], [
        np.zeros(3)
    ]
    for op in ops:
        rot = np.rint(op.rotation_matrix).astype(int)
        trans = np.asarray(op.translation_vector, dtype=float)
        if np.array_equal(rot, np.eye(3, dtype=int)) and np.allclose(trans - np.rint(trans), 0, atol=1e-8):
            continue  # the identity is already first
        moved = op.operate_multi(frac)
        # which atom sits where the operation puts atom k (pymatgen's periodic distances)
        dist = structure.lattice.get_all_distances(moved, frac)
        perm = dist.argmin(axis=1)
        if dist[np.arange(n), perm].max() > tol or len(set(perm.tolist())) != n:
            continue
        if not np.array_equal(kinds[perm], kinds):
            continue
        perms.append(perm)
        shifts.append(np.rint(moved - frac[perm]).astype(int))
        rotations.append(rot)
        translations.append(trans)
    return Symmetry(np.array(perms), np.array(shifts), np.array(rotations), np.array(translations),
                    np.asarray(atoms.cell, dtype=float).copy())


def site_orbits(
    atoms: Atoms, indices: np.ndarray | list[int] | None = None, symprec: float = SYMPREC
) -> list[list[int]]:
    """Orbits of atoms under the label-preserving operations (see :meth:`Symmetry.site_orbits`)."""
    return host_symmetry(atoms, symprec).site_orbits(indices)


def point_permutations(
    atoms: Atoms, points: np.ndarray, keep_z: bool = False, symprec: float = SYMPREC, labels: bool = True
) -> list[np.ndarray]:
    """Permutations of extra points under the host's operations (see :meth:`Symmetry.point_permutations`)."""
    return host_symmetry(atoms, symprec, labels).point_permutations(points, keep_z)


def point_orbits(
    atoms: Atoms, points: np.ndarray, keep_z: bool = False, symprec: float = SYMPREC, labels: bool = True
) -> list[list[int]]:
    """Orbits of extra points under the host's operations (see :meth:`Symmetry.point_orbits`)."""
    return host_symmetry(atoms, symprec, labels).point_orbits(points, keep_z)


def flips_z(atoms: Atoms, symprec: float = SYMPREC) -> bool:
    """True if an operation of the species (labels ignored) maps the top of a slab onto its bottom.

    The criterion of pymatgen's ``Slab.is_symmetric``; the vacuum of the periodic cell keeps
    the two faces apart.
    """
    return host_symmetry(atoms, symprec, labels=False).flips_z()


__all__ = [
    "MATCH_TOL",
    "SYMPREC",
    "Symmetry",
    "flips_z",
    "host_symmetry",
    "label_array",
    "point_orbits",
    "point_permutations",
    "site_orbits",
]
