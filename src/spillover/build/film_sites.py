"""Interstitial O sites between the atomic layers of an hcp(0001) metal film (e.g. the Ru of an interface cell).

Between two close-packed layers A (below) and B (above), ``h`` apart, every atom has one tetrahedral
hole on the side facing the other layer (above each A atom at ``z_A + 3h/4``, below each B atom at
``z_A + h/4``) and the gap has one octahedral hole per atom, at mid-height above the positions that
neither layer occupies. The holes are found as Voronoi vertices of the film atoms, repeated in-plane
only, so a strained or relaxed film needs no ideal stacking: a vertex is a point equidistant from
the atoms whose Voronoi cells meet there. A distorted octahedron splits into several nearby vertices
of four atoms each, which are merged (:data:`MERGE_RADIUS`); a hole is then named by how many
distinct atoms its vertices touch (4 tetrahedral, 6 octahedral), never by a distance tolerance.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

from spillover.build.mu_profile import OxygenSite
from spillover.build.sites import in_plane_offsets
from spillover.build.symmetry import SYMPREC, host_symmetry
from spillover.errors import InputError

#: Vertices closer than this (Å, in-plane minimum image) belong to one hole. The holes of a
#: close-packed gap are at least ~1.5 Å apart (a tetrahedral and an octahedral hole: a/sqrt(3) in-plane,
#: h/4 along z), while the vertices of a distorted octahedron stay within a few tenths of an Å.
MERGE_RADIUS = 0.5
#: A hole must lie this far (Å) inside the two layers' mean heights (the holes are >= h/4 ~ 0.5 Å in).
Z_MARGIN = 0.2
KINDS = {4: "tetrahedral", 6: "octahedral"}


def _film_layers(atoms: Atoms) -> tuple[np.ndarray, list[int]]:
    """Indices of the outermost part's atoms and its layer numbers, interface side (highest) first."""
    if not isinstance(atoms, Atoms) or "layer" not in atoms.arrays:
        raise InputError("host", "needs an ase.Atoms with a 'layer' array", "make_slab or make_interface output")
    part = np.asarray(atoms.arrays.get("part", np.zeros(len(atoms), dtype=int)))
    film = np.flatnonzero(part == part.max())
    return film, sorted({int(n) for n in atoms.arrays["layer"][film]}, reverse=True)


def _holes(pos: np.ndarray, cell2: np.ndarray, z_lo: float, z_hi: float) -> list[tuple[np.ndarray, int]]:
    """Holes ``(position, number of distinct atoms)`` of points ``pos`` with ``z_lo < z < z_hi``, one per hole."""
    from scipy.spatial import Voronoi

    shifts = np.array([[i, j, 0.0] for i in range(-2, 3) for j in range(-2, 3)])
    shifts[:, :2] = shifts[:, :2] @ cell2
    cloud = (pos[None] + shifts[:, None]).reshape(-1, 3)
    vor = Voronoi(cloud)
    touching: dict[int, set[int]] = {}
    for k, region in enumerate(vor.point_region):
        for v in vor.regions[region]:
            if v >= 0:
                touching.setdefault(v, set()).add(k)
    verts = vor.vertices
    frac = np.linalg.solve(cell2.T, verts[:, :2].T).T
    # the central cell and a sliver around it: far inside the cloud, so exact vertices
    keep = np.flatnonzero((verts[:, 2] > z_lo) & (verts[:, 2] < z_hi) & np.all((frac > -0.05) & (frac < 1.05), axis=1))
    clusters: list[list[int]] = []
    for v in keep:
        for c in clusters:
            d = np.linalg.norm(in_plane_offsets(verts[c], verts[[v]], cell2)[:, 0], axis=-1)
            dz = np.abs(verts[c, 2] - verts[v, 2])
            if d[0] < MERGE_RADIUS and dz[0] < MERGE_RADIUS:
                if not np.any((d < 1e-3) & (dz < 1e-3)):  # a vertex on the cell's edge comes from two images
                    c.append(v)
                break
        else:
            clusters.append([v])
    out = []
    for c in clusters:
        offsets = np.column_stack([in_plane_offsets(verts[[c[0]]], verts[c], cell2)[0], verts[c, 2] - verts[c[0], 2]])
        # the atoms around the hole as vectors from its first vertex: one atom seen by two vertices from
        # different images is still one atom, and the images of one atom in a small cell are several
        around: list[np.ndarray] = []
        for w in (cloud[k] - verts[v] + off for v, off in zip(c, offsets) for k in touching[v]):
            if all(np.linalg.norm(w - u) > 0.1 for u in around):
                around.append(w)
        centre = verts[c[0]] + offsets.mean(axis=0)
        centre[:2] = (np.linalg.solve(cell2.T, centre[:2]) % 1.0) @ cell2
        out.append((centre, len(around)))
    return out


def film_interstitial_sites(atoms: Atoms, symprec: float = SYMPREC) -> list[OxygenSite]:
    """Symmetry-distinct octahedral and tetrahedral holes between the layers of the outermost film.

    Parameters
    ----------
    atoms
        A slab or interface cell with a ``layer`` array (1 = outer surface) and, for an interface,
        a ``part`` array; the film is the part with the largest number (the whole slab without
        ``part``). Its third cell vector must be along z.
    symprec
        Tolerance of the search for the host's operations (Å).

    Returns
    -------
    list of OxygenSite
        Region ``'ru-interstitial'``, kind ``'added'``; ``layer`` is the gap counted from the
        interface (gap 1 lies between the film's interface layer and the next one up), ``site`` e.g.
        ``'gap1 octahedral'`` (``'gap1 tetrahedral #2'`` where a gap has several orbits of a kind),
        ``equivalent`` every hole of the orbit under the whole cell's operations. Sorted by gap,
        kind and index; empty for a film of fewer than two layers.
    """
    film, numbers = _film_layers(atoms)
    cell2 = np.asarray(atoms.cell)[:2, :2]
    layer = atoms.arrays["layer"][film]
    pos = atoms.positions[film]
    points, gaps, kinds = [], [], []
    for gap, (below, above) in enumerate(zip(numbers, numbers[1:]), start=1):
        z_lo, z_hi = pos[layer == below, 2].mean(), pos[layer == above, 2].mean()
        if z_hi - z_lo < 2 * Z_MARGIN:
            raise InputError("host", f"film layer {above} is not above layer {below}", "layer 1 at the outer surface")
        for centre, count in _holes(pos, cell2, z_lo + Z_MARGIN, z_hi - Z_MARGIN):
            points.append(centre)
            gaps.append(gap)
            kinds.append(KINDS.get(count, f"{count}-fold"))
    if not points:
        return []
    points = np.array(points)
    # a fixed order makes the representatives (first members) and the #k labels reproducible
    order = np.lexsort((points[:, 0].round(2), points[:, 1].round(2), points[:, 2].round(2)))
    points, gaps, kinds = points[order], [gaps[k] for k in order], [kinds[k] for k in order]
    by_label: dict[tuple[int, str], list[list[int]]] = {}
    for orbit in host_symmetry(atoms, symprec).point_orbits(points):
        by_label.setdefault((gaps[orbit[0]], kinds[orbit[0]]), []).append(orbit)
    out = []
    for (gap, kind), orbits in sorted(by_label.items()):
        for k, orbit in enumerate(orbits, start=1):
            name = f"gap{gap} {kind}" + (f" #{k}" if len(orbits) > 1 else "")
            out.append(OxygenSite("ru-interstitial", name, "added", None, points[orbit[0]].tolist(), gap,
                                  [points[m].tolist() for m in orbit]))
    return out


__all__ = ["MERGE_RADIUS", "Z_MARGIN", "film_interstitial_sites"]
