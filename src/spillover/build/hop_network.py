"""The O-vacancy hop network of a system's cell: nodes, symmetry-distinct hops and band endpoints.

Nodes are the symmetry-distinct lattice O of support layers 1..L (counted from the interface) and of
the interlayer oxide film, the vacancy sites of the profile (:func:`spillover.build.mu_profile.cell_vacancy_sites`).
Edges are the symmetry-distinct hops (:func:`spillover.build.barriers.enumerate_hops`) of four kinds:

``in-layer``
    both sites in one support layer;
``between-layers``
    sites in neighbouring support layers k and k+1 (the O moves from k+1 to k);
``interlayer``
    both sites in the oxide film;
``across-interface``
    the O moves from support layer 1 into a vacancy of the film.

Hops between the two sites of one orbit join a node to itself: they can lie on no best path to the
interface. A band's endpoints are the relaxed vacancies of the two nodes, carried by a symmetry
operation onto the hop's sites (:func:`vacancy_on_site`), so every relaxed vacancy is computed once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms

from spillover.build.barriers import Hop, enumerate_hops, hop_endpoints
from spillover.build.mu_profile import OxygenSite, cell_vacancy_sites
from spillover.build.symmetry import Symmetry, host_symmetry

HOP_KINDS = ("in-layer", "between-layers", "interlayer", "across-interface")


@dataclass
class Network:
    """Nodes and symmetry-distinct hops of one cell.

    Attributes
    ----------
    nodes
        The vacancy sites (one per orbit), support layers first.
    node_of
        Atom index -> representative index of its node, for every atom of every node's orbit.
    hops
        Every symmetry-distinct hop of :data:`HOP_KINDS`, ``region`` set to its kind, shortest first.
    targets
        Representative indices of the interface nodes: the film's O where the cell has an oxide
        film, else the O of support layer 1.
    """

    nodes: list[OxygenSite]
    node_of: dict[int, int]
    hops: list[Hop]
    targets: list[int]

    def node(self, index: int) -> OxygenSite:
        """The node whose orbit holds atom ``index``."""
        rep = self.node_of[index]
        return next(n for n in self.nodes if n.index == rep)

    def ends(self, hop: Hop) -> tuple[int, int]:
        """Representatives of the hop's (initial vacancy, final vacancy) nodes: ``to_index``, ``from_index``."""
        return self.node_of[hop.to_index], self.node_of[hop.from_index]


def hop_kind(cell: Atoms, j: int, i: int) -> str | None:
    """Kind of the hop of the O at ``j`` into the vacancy at ``i``, or None where the network has no such hop."""
    layer, part = cell.arrays["layer"], cell.arrays["part"]
    if part[j] == 0 and part[i] == 0:
        if layer[j] == layer[i]:
            return "in-layer"
        if layer[j] == layer[i] + 1:
            return "between-layers"
        return None
    if part[j] > 0 and part[i] > 0:
        return "interlayer"
    if part[j] == 0 and layer[j] == 1 and part[i] > 0:
        return "across-interface"
    return None


def cell_network(cell: Atoms, depth: int, cutoff: float) -> Network:
    """The hop network of a system's relaxed cell.

    Parameters
    ----------
    cell
        The cell with its ``layer`` and ``part`` arrays (support part 0, layer 1 at the interface).
    depth
        L: support layers 1..L are in the network.
    cutoff
        Longest hop (Å).

    Raises
    ------
    InputError
        ``depth`` exceeds the free support layers, or the cell is too small for the cutoff.
    """
    nodes = cell_vacancy_sites(cell, depth)
    node_of = {int(k): int(n.index) for n in nodes for k in n.equivalent}

    def allow(j: int, i: int) -> bool:
        return j in node_of and i in node_of and hop_kind(cell, j, i) is not None

    hops = enumerate_hops(cell, cutoff, allow=allow)
    for hop in hops:
        hop.region = str(hop_kind(cell, hop.from_index, hop.to_index))
    hops.sort(key=lambda h: (HOP_KINDS.index(h.region), h.to_layer or 0, h.distance_A, h.from_index, h.to_index))
    film = [n.index for n in nodes if n.region == "interlayer"]
    targets = film or [n.index for n in nodes if n.region == "support" and n.layer == 1]
    return Network(nodes=nodes, node_of=node_of, hops=hops, targets=sorted(targets))


def vacancy_on_site(cell: Atoms, sym: Symmetry, rep: int, relaxed: np.ndarray, site: int) -> np.ndarray:
    """Positions of the cell with a relaxed vacancy at ``site``, from the relaxed vacancy at ``rep``.

    Parameters
    ----------
    cell
        The cell (all atoms).
    sym
        Its symmetry operations (:func:`spillover.build.symmetry.host_symmetry`).
    rep
        Index of the vacancy that was relaxed.
    relaxed
        ``(len(cell) - 1, 3)``: the relaxed positions of the cell without atom ``rep``, in the cell's order.
    site
        A site of the orbit of ``rep``.

    Returns
    -------
    numpy.ndarray
        ``(len(cell), 3)`` in the cell's order; row ``site`` holds the cell's unrelaxed position of
        the vacated O (a placeholder, the caller removes or moves it). Each atom lies in the image
        nearest its position in the cell.

    Raises
    ------
    ValueError
        No operation of ``sym`` maps ``rep`` onto ``site``.
    """
    ops = np.flatnonzero(sym.perms[:, rep] == site)
    if len(ops) == 0:
        raise ValueError(f"atom {site} is not in the orbit of atom {rep}")
    g = int(ops[0])
    full = np.asarray(cell.positions, dtype=float).copy()
    others = np.array([k for k in range(len(cell)) if k != rep])
    full[others] = relaxed
    lattice = np.asarray(cell.cell, dtype=float)
    frac = np.linalg.solve(lattice.T, full.T).T @ sym.rotations[g].T.astype(float) + sym.translations[g]
    out = np.empty_like(frac)
    out[sym.perms[g]] = frac
    ref = np.linalg.solve(lattice.T, np.asarray(cell.positions, dtype=float).T).T
    out -= np.rint(out - ref)
    positions = out @ lattice
    positions[site] = cell.positions[site]
    return positions


def band_endpoints(cell: Atoms, sym: Symmetry, hop: Hop, relaxed: dict[int, np.ndarray]) -> tuple[Atoms, Atoms]:
    """The hop's initial and final structures built from the relaxed vacancies of its two nodes.

    Same atoms in the same order as :func:`spillover.build.barriers.hop_endpoints` (the moving O
    last, layers, parts and fixed atoms kept); the final O sits where the hop's vector takes it.

    Parameters
    ----------
    relaxed
        Representative index -> relaxed positions of the cell without that atom (cell order).
    """
    j, i = hop.from_index, hop.to_index
    initial, final = hop_endpoints(cell, hop)
    rest = [k for k in range(len(cell)) if k not in (i, j)]
    orbit_rep = {int(k): int(r) for r in relaxed for k in sym.orbit_of_site(r)}
    at_i = vacancy_on_site(cell, sym, orbit_rep[i], relaxed[orbit_rep[i]], i)
    at_j = vacancy_on_site(cell, sym, orbit_rep[j], relaxed[orbit_rep[j]], j)
    lattice = np.asarray(cell.cell, dtype=float)
    target = at_i[j] + np.asarray(hop.vector_A)
    shift = np.rint(np.linalg.solve(lattice.T, target - at_j[i])) @ lattice
    initial.set_positions(np.vstack([at_i[rest], at_i[j]]), apply_constraint=False)
    final.set_positions(np.vstack([at_j[rest], at_j[i] + shift]), apply_constraint=False)
    return initial, final


__all__ = ["HOP_KINDS", "Network", "band_endpoints", "cell_network", "hop_kind", "host_symmetry", "vacancy_on_site"]
