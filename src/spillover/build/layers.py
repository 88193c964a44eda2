"""Layer bookkeeping for slabs: which atom belongs to which layer.

A *layer* is a group of cation planes (every non-O atom is a cation here) less than
:data:`LAYER_GAP` apart in z, together with the O atoms nearest to them in z.  For
r-TiO2(110) and RuO2(110) that is one O-M2O2-O trilayer, for a-TiO2(101) one saw-tooth
Ti2O4 layer (Ti5c and Ti6c heights 0.9 Å apart), for Ru(0001) one atomic plane.
Layer 1 is the outermost (top) layer.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

from spillover.build import symmetry

ANION = "O"
#: Largest z gap (Å) between cation planes of one layer.
LAYER_GAP = 1.2


def cation_mask(atoms: Atoms) -> np.ndarray:
    """Boolean mask of the cations (all non-O atoms; all atoms of a pure metal)."""
    symbols = np.array(atoms.get_chemical_symbols())
    mask = symbols != ANION
    if not mask.any():
        raise ValueError("no cations to define layers")
    return mask


def assign_layers(atoms: Atoms, tol: float = LAYER_GAP) -> np.ndarray:
    """Layer index of every atom (1 = top layer, increasing downward).

    Parameters
    ----------
    atoms
        A slab with its surface normal along z and the top surface at the largest z.
    tol
        Cation planes closer than this in z (Å) belong to the same layer (the two Ti
        heights of a saw-tooth a-TiO2(101) layer are 0.9 Å apart, successive layers 2.6 Å).

    Returns
    -------
    numpy.ndarray
        Integer array of length ``len(atoms)``; O atoms get the layer of the cation
        nearest to them in z.
    """
    z = atoms.positions[:, 2]
    cat = cation_mask(atoms)
    zc = z[cat]
    order = np.argsort(-zc)
    steps = np.concatenate([[0], (-np.diff(zc[order]) > tol).astype(int)])
    cat_layer = np.empty(len(zc), dtype=int)
    cat_layer[order] = 1 + np.cumsum(steps)
    layer = np.empty(len(atoms), dtype=int)
    layer[cat] = cat_layer
    ani = np.flatnonzero(~cat)
    if len(ani):
        nearest = np.argmin(np.abs(z[ani, None] - zc[None, :]), axis=1)
        layer[ani] = cat_layer[nearest]
    return layer


def layer_counts(layer: np.ndarray) -> dict[int, int]:
    """Number of atoms in each layer, keyed by layer index."""
    values, counts = np.unique(np.asarray(layer), return_counts=True)
    return {int(v): int(c) for v, c in zip(values, counts)}


def keep_top_layers(atoms: Atoms, layer: np.ndarray, n: int) -> tuple[Atoms, np.ndarray]:
    """Drop all layers below layer ``n``; returns the trimmed atoms and layer array."""
    keep = np.asarray(layer) <= n
    return atoms[keep], np.asarray(layer)[keep]


def flips_z(atoms: Atoms, symprec: float = symmetry.SYMPREC) -> bool:
    """True if the slab has a symmetry operation that maps top onto bottom.

    Species only (``layer`` arrays and constraints are ignored), on the periodic cell (the
    vacuum keeps the two surfaces apart): the criterion of pymatgen's ``Slab.is_symmetric``.
    See :func:`spillover.build.symmetry.flips_z`.
    """
    return symmetry.flips_z(atoms, symprec)
