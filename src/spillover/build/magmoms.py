"""Initial magnetic moments of reduced TiO2: on the Ti next to an O vacancy, nowhere else.

Removing a neutral O leaves two electrons on the Ti around the site (Ti3+ polarons). A
spin-polarised calculation started from zero moments stays in the closed-shell solution, one
started from moments everywhere wanders; so the Ti atoms that were bonded to the removed O
start with ``MOMENT_MUB`` each, every other atom with zero. Calculators without spin (CHGNet) and
unpolarised GPAW presets ignore the moments, and the content hash covers them only for
spin-polarised calculators (:func:`spillover.schemas.base.content_hash`).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from ase import Atoms

#: Ti-O bonds of rutile and anatase are 1.93-1.98 Å; 2.4 Å takes every Ti bonded to the site and no
#: second neighbour (next Ti at 3.4 Å and more).
NEIGHBOUR_CUTOFF_A = 2.4
#: Initial moment per reduced Ti (Bohr magnetons): one unpaired 3d electron.
MOMENT_MUB = 1.0
#: Elements that take the moment.
REDUCIBLE = ("Ti",)


def vacancy_moments(atoms: Atoms, sites: Iterable[np.ndarray], cutoff: float = NEIGHBOUR_CUTOFF_A) -> np.ndarray:
    """Initial moments of ``atoms`` for vacancies at the positions ``sites`` (Å).

    Parameters
    ----------
    atoms
        The structure without the O (its cell and pbc give the minimum-image distances).
    sites
        Cartesian positions of the removed O atoms.
    cutoff
        Ti within this distance of a site get :data:`MOMENT_MUB`.

    Returns
    -------
    numpy.ndarray
        One moment per atom: ``MOMENT_MUB`` on the Ti next to a site, 0 elsewhere.
    """
    from ase.geometry import get_distances

    moments = np.zeros(len(atoms))
    cations = np.flatnonzero(np.isin(atoms.get_chemical_symbols(), REDUCIBLE))
    points = np.atleast_2d(np.asarray(list(sites), dtype=float))
    if not len(cations) or not points.size:
        return moments
    _, dist = get_distances(points, atoms.positions[cations], cell=atoms.cell, pbc=atoms.pbc)
    moments[cations[(dist <= cutoff).any(axis=0)]] = MOMENT_MUB
    return moments


def with_vacancy_moments(atoms: Atoms, sites: Iterable[np.ndarray]) -> Atoms:
    """``atoms`` with :func:`vacancy_moments` set as its initial magnetic moments (in place; returned)."""
    atoms.set_initial_magnetic_moments(vacancy_moments(atoms, sites))
    return atoms


__all__ = ["MOMENT_MUB", "NEIGHBOUR_CUTOFF_A", "vacancy_moments", "with_vacancy_moments"]
