"""Threefold hollows of a close-packed layer: periodic in-plane distances and the fcc/hcp rule.

A threefold hollow of an hcp(0001) or fcc(111) layer is ``hcp`` when an atom of the layer
behind it (the next layer into the metal) sits right under it in plane, and ``fcc`` when it
does not (it then lies over a hollow of that layer, a/sqrt(3) = 1.56 Å from its nearest atom
for Ru). The same rule serves the surface hollows (layer behind = second layer) and the
hollows under the contact layer of a film at a buried interface (layer behind = the layer
above the contact layer).
"""

from __future__ import annotations

import numpy as np

from spillover.errors import InputError

#: In-plane distance (Å) below which an atom of the layer behind makes a hollow ``hcp``: the two
#: kinds sit 0 and a/sqrt(3) = 1.56 Å (Ru) from it, and 0.5 Å leaves room for strain and relaxation.
HCP_TOL = 0.5


def _as_xy(points: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(points, dtype=float)
    if arr.size == 0:
        return np.zeros((0, 2))
    if arr.ndim != 2 or arr.shape[1] not in (2, 3):
        raise InputError(name, f"must be an (n, 2) or (n, 3) array of positions, got shape {arr.shape}")
    return arr[:, :2]


def _as_cell2(cell2: np.ndarray) -> np.ndarray:
    c = np.asarray(cell2, dtype=float)
    if c.shape == (3, 3):
        c = c[:2, :2]
    if c.shape != (2, 2) or abs(np.linalg.det(c)) < 1e-8:
        raise InputError("cell", f"needs two independent in-plane cell vectors, got {c.tolist()}")
    return c


def in_plane_offsets(points: np.ndarray, ref: np.ndarray, cell2: np.ndarray) -> np.ndarray:
    """Minimum-image in-plane vectors from every point to every reference point.

    Parameters
    ----------
    points, ref
        Positions ``(n, 2)`` or ``(n, 3)`` (only x, y are used), Å.
    cell2
        The in-plane cell vectors as rows ``(2, 2)`` (or the full ``(3, 3)`` cell of a slab
        whose third vector is along z), Å.

    Returns
    -------
    numpy.ndarray
        ``(len(points), len(ref), 2)``: ``ref[j] - points[i]`` folded into the cell around 0.
    """
    xy, rxy, c = _as_xy(points, "points"), _as_xy(ref, "ref"), _as_cell2(cell2)
    d = rxy[None, :, :] - xy[:, None, :]
    frac = np.linalg.solve(c.T, d.reshape(-1, 2).T).T
    frac -= np.rint(frac)
    return (frac @ c).reshape(len(xy), len(rxy), 2)


def nearest_in_plane(points: np.ndarray, ref: np.ndarray, cell2: np.ndarray) -> np.ndarray:
    """Smallest periodic in-plane distance (Å) of each point to the set ``ref`` (inf if it is empty)."""
    xy = _as_xy(points, "points")
    if len(_as_xy(ref, "ref")) == 0:
        return np.full(len(xy), np.inf)
    return np.linalg.norm(in_plane_offsets(points, ref, cell2), axis=-1).min(axis=1)


def hollow_kinds(hollows: np.ndarray, behind: np.ndarray, cell2: np.ndarray, tol: float = HCP_TOL) -> list[str]:
    """``'hcp'`` or ``'fcc'`` for each threefold hollow.

    Parameters
    ----------
    hollows
        In-plane (or Cartesian) positions of the hollows, Å.
    behind
        Positions of the atoms of the layer behind the hollows' layer (the second layer for
        surface hollows, the layer above the contact layer for hollows under a film), Å.
    cell2
        In-plane cell vectors (rows), Å.
    tol
        An atom behind within this in-plane distance makes the hollow ``hcp`` (Å).

    Returns
    -------
    list of str
        One per hollow; with no atoms behind (a one-layer film) nothing is under any hollow,
        so all are ``'fcc'`` by the rule.

    Raises
    ------
    InputError
        A bad tolerance, positions or cell.
    """
    if isinstance(tol, bool) or not isinstance(tol, (int, float, np.number)) or not 0 < tol:
        raise InputError("tol", f"must be a positive distance in Å, got {tol!r}", f"e.g. {HCP_TOL}")
    return ["hcp" if d < tol else "fcc" for d in nearest_in_plane(hollows, behind, cell2)]


__all__ = ["HCP_TOL", "hollow_kinds", "in_plane_offsets", "nearest_in_plane"]
