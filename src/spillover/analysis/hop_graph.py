"""Minimax paths of a vacancy-hop network and the lazy choice of which bands to compute.

The network is an undirected graph: nodes are vacancy sites with their energies, an edge is a hop
whose weight is its saddle energy (the initial vacancy's energy plus its forward barrier; the same
from either side). The effective barrier from a start node to a set of target nodes is the minimax
path: over all paths, the lowest highest saddle, relative to the start (docs/science.md,
"Quantities"). In a minimum spanning tree the path between two nodes is a minimax path, so
networkx's spanning tree and its path search do the work.

A hop's saddle is never below its higher endpoint: that energy is a lower bound. :func:`explore`
computes bands in the order of their lower bounds and stops when every uncomputed hop's bound is
at or above the highest point of every start's best path; those hops can lie on no better path.
Pure functions of numbers: no store, no calculator.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

import networkx as nx

TARGET = "__interface__"


@dataclass(frozen=True)
class Edge:
    """One hop of the network: its key and the two nodes it joins."""

    key: Hashable
    u: Hashable
    v: Hashable


@dataclass
class Path:
    """The best path from one start: highest saddle (absolute, eV), hop keys and nodes in order."""

    start: Hashable
    saddle_eV: float
    hops: list[Hashable] = field(default_factory=list)
    nodes: list[Hashable] = field(default_factory=list)

    @property
    def found(self) -> bool:
        """Whether some computed path reaches the targets."""
        return math.isfinite(self.saddle_eV)


def minimax_path(energies: dict[Hashable, float], saddles: dict[Hashable, tuple[Hashable, Hashable, float]],
                 start: Hashable, targets: set[Hashable]) -> Path:
    """The minimax path from ``start`` to any of ``targets`` over the edges with a known saddle.

    Parameters
    ----------
    energies
        Node -> vacancy energy (eV).
    saddles
        Edge key -> (u, v, saddle energy in eV).
    start, targets
        The start node and the target nodes.

    Returns
    -------
    Path
        ``saddle_eV`` is the start's own energy when it is a target, ``inf`` when no computed path
        reaches a target.
    """
    if start in targets:
        return Path(start, energies[start], [], [start])
    graph = nx.Graph()
    graph.add_nodes_from([*energies, TARGET])
    for key, (u, v, saddle) in saddles.items():
        a, b = (TARGET if u in targets else u), (TARGET if v in targets else v)
        if a == b:
            continue
        if not graph.has_edge(a, b) or saddle < graph[a][b]["weight"]:
            graph.add_edge(a, b, weight=saddle, key=key, ends=(u, v))
    if not nx.has_path(graph, start, TARGET):
        return Path(start, math.inf)
    tree = nx.minimum_spanning_tree(graph, weight="weight")
    route = nx.shortest_path(tree, start, TARGET)
    hops, nodes = [], [start]
    for a, b in zip(route, route[1:]):
        data = tree[a][b]
        hops.append(data["key"])
        u, v = data["ends"]
        nodes.append(v if u == nodes[-1] else u)
    return Path(start, max(tree[a][b]["weight"] for a, b in zip(route, route[1:])), hops, nodes)


@dataclass
class Exploration:
    """What :func:`explore` computed and why it left the rest.

    Attributes
    ----------
    saddles
        Edge key -> saddle energy of every computed band that converged.
    failed
        Keys of computed bands that did not converge (excluded from the graph).
    skipped
        Edge key -> reason, for every hop whose band was not computed.
    paths
        Start -> its best path.
    rounds
        Batches of bands computed.
    """

    saddles: dict[Hashable, float]
    failed: list[Hashable]
    skipped: dict[Hashable, str]
    paths: dict[Hashable, Path]
    rounds: int


def explore(energies: dict[Hashable, float], edges: Sequence[Edge], starts: Sequence[Hashable],
            targets: set[Hashable], compute: Callable[[list[Edge]], dict[Hashable, float | None]],
            batch: int = 1, lazy: bool = True) -> Exploration:
    """Compute the bands the best paths need (all bands with ``lazy=False``) and find the paths.

    Parameters
    ----------
    energies
        Node -> vacancy energy (eV); every node of ``edges`` must have one.
    edges
        Every hop of the network. A hop joining a node to itself, or two targets, is never computed.
    starts, targets
        Start nodes (one per layer) and the interface nodes.
    compute
        Runs the bands of a batch of edges; returns key -> saddle energy (eV), None where the band
        did not converge.
    batch
        Bands per call of ``compute`` (the workers that run them side by side).
    lazy
        Compute a band only while its lower bound (the higher endpoint energy) is below the
        highest point of some start's best path so far.

    Returns
    -------
    Exploration
    """
    lower = {e.key: max(energies[e.u], energies[e.v]) for e in edges}
    saddles: dict[Hashable, float] = {}
    failed: list[Hashable] = []
    skipped: dict[Hashable, str] = {}
    for e in edges:
        if e.u == e.v:
            skipped[e.key] = "joins two equivalent sites: on no path between different sites"
        elif e.u in targets and e.v in targets:
            skipped[e.key] = "joins two interface sites: a path ends at the first"
    pending = sorted((e for e in edges if e.key not in skipped), key=lambda e: (lower[e.key], str(e.key)))
    ends = {e.key: (e.u, e.v) for e in edges}
    rounds = 0

    def paths() -> dict[Hashable, Path]:
        known = {k: (*ends[k], s) for k, s in saddles.items()}
        return {s: minimax_path(energies, known, s, targets) for s in starts}

    best = paths()
    while pending:
        worst = max((p.saddle_eV for p in best.values()), default=-math.inf)
        if lazy and not lower[pending[0].key] < worst:
            break
        todo, pending = (pending[:batch], pending[batch:]) if lazy else (pending, [])
        results = compute(todo)
        rounds += 1
        for e in todo:
            value = results.get(e.key)
            if value is None:
                failed.append(e.key)
            else:
                saddles[e.key] = max(value, lower[e.key])
        best = paths()
    worst = max((p.saddle_eV for p in best.values()), default=-math.inf)
    ref = min(energies.values(), default=0.0)
    for e in pending:
        skipped[e.key] = (f"lower bound {lower[e.key] - ref:.2f} eV is not below {worst - ref:.2f} eV, the highest "
                          "point of every layer's best path (both above the lowest vacancy)")
    return Exploration(saddles=saddles, failed=failed, skipped=skipped, paths=best, rounds=rounds)


__all__ = ["Edge", "Exploration", "Path", "explore", "minimax_path"]
