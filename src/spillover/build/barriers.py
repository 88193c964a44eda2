"""Oxygen-vacancy sites and symmetry-distinct vacancy hops of a host structure.

Symmetry comes from :func:`spillover.build.symmetry.host_symmetry`: each operation of the host
is a permutation of its atoms plus the lattice translation every atom picks up, and only
operations that keep the host's labels (species, the ``layer`` and ``part`` arrays, fixed
atoms) are kept, so the two faces of a slab with a fixed bottom, or the support and the film
of an interface, are never mixed. Sites and hops are grouped by their orbits under those
permutations: two hops are equivalent when an operation maps one onto the other (in either
direction), never because their coordinates look alike.

A hop ``j -> i`` moves the O atom at site ``j`` into the vacancy at site ``i``; the vacancy
goes the other way. Its initial state has the vacancy at ``i``, its final state at ``j``.
Between layers the hops are oriented outward (the O moves from layer k+1 to layer k, the vacancy
inward), which is the direction of oxygen spillover (:mod:`spillover.build.hop_network`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
from ase import Atoms

from spillover.build.symmetry import SYMPREC, Symmetry, host_symmetry
from spillover.errors import InputError
from spillover.sections.base import CUTOFF, SUPERCELL

PART_NAMES = {0: "TiO2", 1: "RuO2"}
DEFAULT_SYMPREC = SYMPREC  # kept for callers of the old name
_WIDTH_MARGIN = 0.05  # Å beyond 2 x cutoff, so that no hop can reach two images of a site


@dataclass
class VacancySite:
    """A symmetry-distinct vacancy site and the sites it stands for.

    Attributes
    ----------
    index
        Representative atom index in the host.
    equivalent
        Every atom index of its orbit (the representative included), sorted.
    symbol, layer, part
        Element, layer index (1 = outermost) and part (0 support, 1 film) of the site;
        ``None`` where the host has no such array.
    """

    index: int
    equivalent: list[int]
    symbol: str = "O"
    layer: int | None = None
    part: int | None = None


@dataclass
class Hop:
    """A vacancy hop: the O at ``from_index`` moves into the vacancy at ``to_index``.

    Attributes
    ----------
    from_index, to_index
        Host indices of the site the O leaves (final vacancy) and the site it fills
        (initial vacancy).
    image
        Lattice translation of ``to_index`` reached by the hop (fractional, integers).
    distance_A, vector_A
        Length and Cartesian displacement of the moving O (Å).
    from_layer, to_layer, from_part, to_part
        Layer and part of the two sites (``None`` for bulk hosts).
    equivalent
        Every hop of the host this one stands for, as ``[from, to, [n1, n2, n3]]``
        (itself first); each undirected hop appears once.
    endpoints_equivalent
        The two sites are in one orbit, so the reaction energy vanishes by symmetry.
    reverse_equivalent
        The reversed hop is in the orbit, so the path itself is symmetric.
    direction
        Low-index crystal direction of the hop in the bulk cell (e.g. ``[001]``), if any.
    region
        Where the hop runs (:data:`spillover.build.hop_network.HOP_KINDS` in a network).
    """

    from_index: int
    to_index: int
    image: tuple[int, int, int]
    distance_A: float
    vector_A: list[float]
    from_layer: int | None = None
    to_layer: int | None = None
    from_part: int | None = None
    to_part: int | None = None
    equivalent: list[list] = field(default_factory=list)
    endpoints_equivalent: bool = False
    reverse_equivalent: bool = False
    direction: str | None = None
    region: str = ""

    @property
    def multiplicity(self) -> int:
        """Number of hops of the host this one stands for."""
        return len(self.equivalent)

    def site_label(self, which: str) -> str:
        """``L<layer>:O<index>`` (``P<part>`` in front for interfaces) of the 'from' or 'to' site."""
        index, layer, part = (
            (self.from_index, self.from_layer, self.from_part)
            if which == "from"
            else (self.to_index, self.to_layer, self.to_part)
        )
        text = f"O{index}"
        if layer is not None:
            text = f"L{layer}:{text}"
        if part is not None:
            text = f"{PART_NAMES.get(part, f'part{part}')}:{text}"
        return text

    @property
    def label(self) -> str:
        """Human-readable hop, e.g. ``L2:O40 -> L1:O3 (2.78 Å)`` or ``O5 -> O17 [001] (2.96 Å)``."""
        text = f"{self.site_label('from')} -> {self.site_label('to')}"
        if self.direction:
            text += f" {self.direction}"
        return f"{text} ({self.distance_A:.2f} Å)"

    def to_dict(self) -> dict:
        """JSON-safe dictionary, with ``label`` and ``multiplicity`` added."""
        d = asdict(self)
        d["image"] = [int(x) for x in self.image]
        d["label"] = self.label
        d["multiplicity"] = self.multiplicity
        return d


def vacancy_sites(
    atoms: Atoms,
    element: str = "O",
    allow: Callable[[int], bool] | None = None,
    symprec: float = DEFAULT_SYMPREC,
) -> list[VacancySite]:
    """Symmetry-distinct sites of ``element``, each with the sites it stands for.

    Parameters
    ----------
    atoms
        Host structure (bulk supercell, slab with ``layer``, interface with ``part``).
    element
        Element whose sites are vacancy sites.
    allow
        Keep only sites ``k`` with ``allow(k)`` true (e.g. the outer layers of a slab).
    symprec
        Symmetry tolerance (Å).

    Returns
    -------
    list of VacancySite
        Sorted by (part, layer, index); the representative is the first allowed index.
    """
    candidates = [int(k) for k in np.flatnonzero(np.array(atoms.get_chemical_symbols()) == element)]
    if allow is not None:
        candidates = [k for k in candidates if allow(k)]
    allowed = set(candidates)
    sites = []
    for orbit in host_symmetry(atoms, symprec).site_orbits(candidates):
        k = next(m for m in orbit if m in allowed)  # orbits are sorted: the first allowed index
        sites.append(VacancySite(k, orbit, element, *_layer_part(atoms, k)))
    return sorted(sites, key=lambda s: (s.part or 0, s.layer or 0, s.index))


def _layer_part(atoms: Atoms, k: int) -> tuple[int | None, int | None]:
    layer = int(atoms.arrays["layer"][k]) if "layer" in atoms.arrays else None
    part = int(atoms.arrays["part"][k]) if "part" in atoms.arrays else None
    return layer, part


def cell_widths(atoms: Atoms) -> np.ndarray:
    """Distances between opposite faces of the cell (Å), one per cell vector."""
    cell = np.asarray(atoms.cell)
    volume = abs(np.linalg.det(cell))
    return np.array([volume / np.linalg.norm(np.cross(cell[(k + 1) % 3], cell[(k + 2) % 3])) for k in range(3)])


def supercell_for_cutoff(
    atoms: Atoms, cutoff: float, directions: tuple[bool, bool, bool] = (True, True, True)
) -> tuple[int, int, int]:
    """Smallest diagonal repetition whose cell widths all exceed ``2 * cutoff``.

    Then no hop shorter than the cutoff can reach two periodic images of one site, and the
    minimum-image path between the two endpoints is the hop.
    """
    widths = cell_widths(atoms)
    need = 2 * cutoff + _WIDTH_MARGIN
    return tuple(int(math.ceil(need / w)) if d else 1 for w, d in zip(widths, directions))  # type: ignore[return-value]


def _check_cutoff(cutoff: float) -> None:
    # the host grows as cutoff**3 (cell widths > 2 x cutoff): the range keeps hop enumeration bounded
    CUTOFF.check(cutoff, "cutoff")


def _direction(
    vector: np.ndarray, unit_cell: np.ndarray | None, max_index: int = 1, tol_deg: float = 1.0
) -> str | None:
    """The low-index direction [uvw] of the unit cell parallel to ``vector`` (up to sign), if any."""
    if unit_cell is None:
        return None
    v = np.asarray(vector, dtype=float)
    best = None
    rng = range(-max_index, max_index + 1)
    for uvw in ((a, b, c) for a in rng for b in rng for c in rng):
        if not any(uvw) or math.gcd(*(abs(x) for x in uvw)) != 1:
            continue
        w = np.asarray(uvw) @ unit_cell
        cos = abs(v @ w) / (np.linalg.norm(v) * np.linalg.norm(w))
        angle = math.degrees(math.acos(min(1.0, cos)))
        if angle < tol_deg:
            sign = 1 if v @ w > 0 else -1
            uvw = tuple(sign * x for x in uvw)
            key = (sum(abs(x) for x in uvw), angle)
            if best is None or key < best[0]:
                best = (key, uvw)
    if best is None:
        return None
    return "[" + "".join(f"-{-x}" if x < 0 else str(x) for x in best[1]) + "]"


def _neighbour_pairs(
    atoms: Atoms, cutoff: float, element: str, only: tuple[int, int] | None = None
) -> list[tuple[int, int, tuple[int, int, int], float]]:
    """All (j, i, image, distance) with both atoms ``element`` closer than ``cutoff`` (pymatgen neighbour list).

    ``only`` restricts the result (and the check below) to one pair ``(j, i)``.

    Raises
    ------
    InputError
        A pair within the cutoff is reachable through two periodic images (cell too small).
    """
    from pymatgen.io.ase import AseAtomsAdaptor

    plain = Atoms(atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    structure = AseAtomsAdaptor.get_structure(plain)
    sel = np.flatnonzero(np.array(atoms.get_chemical_symbols()) == element)
    centres, points, images, dists = structure.get_neighbor_list(r=cutoff, sites=[structure[int(k)] for k in sel])
    centres = sel[centres]
    pairs: dict[tuple[int, int], list] = {}
    for c, p, img, d in zip(centres, points, images, dists):
        if atoms.numbers[p] != atoms.numbers[c] or d < 1e-6:
            continue
        pairs.setdefault((int(c), int(p)), []).append((tuple(int(x) for x in img), float(d)))
    out = []
    for (j, i), found in pairs.items():
        if only is not None and (j, i) != tuple(only):
            continue
        if i == j or len(found) > 1:
            dist = ", ".join(f"{d:.2f}" for _, d in sorted(found, key=lambda t: t[1]))
            suggestion = supercell_for_cutoff(atoms, cutoff, tuple(bool(p) for p in atoms.pbc))
            raise InputError(
                "supercell",
                f"too small for a {cutoff} Å hop cutoff: {element}{j} reaches {element}{i} through "
                f"{len(found)} periodic images ({dist} Å)",
                f"cell widths > {2 * cutoff:.2f} Å, i.e. a further repetition {suggestion}",
            )
        (img, d), = found
        out.append((j, i, img, d))
    return sorted(out, key=lambda t: (round(t[3], 3), t[0], t[1], t[2]))


def _undirected(key: tuple[int, int, tuple[int, int, int]]) -> tuple:
    j, i, n = key
    return min((j, i, n), (i, j, tuple(-x for x in n)))


def _make_hop(atoms: Atoms, sym: Symmetry, j: int, i: int, n: tuple[int, int, int], d: float, region: str,
              unit_cell: np.ndarray | None) -> Hop:
    orbit = sym.image_hops(j, i, np.asarray(n))
    equivalent, seen = [], set()
    for key in orbit:
        u = _undirected(key)
        if u not in seen:
            seen.add(u)
            equivalent.append([key[0], key[1], list(key[2])])
    reverse = (i, j, tuple(-x for x in n))
    vector = atoms.positions[i] + np.asarray(n) @ np.asarray(atoms.cell) - atoms.positions[j]
    fl, fp = _layer_part(atoms, j)
    tl, tp = _layer_part(atoms, i)
    return Hop(
        from_index=j, to_index=i, image=n, distance_A=round(d, 6), vector_A=[float(x) for x in vector],
        from_layer=fl, to_layer=tl, from_part=fp, to_part=tp, equivalent=equivalent,
        endpoints_equivalent=i in set(sym.perms[:, j].tolist()), reverse_equivalent=reverse in set(orbit),
        direction=_direction(vector, unit_cell), region=region,
    )


def _unit_cell(atoms: Atoms) -> np.ndarray | None:
    rep = atoms.info.get("supercell")
    if rep is None or "layer" in atoms.arrays:
        return None
    return np.asarray(atoms.cell) / np.asarray(rep, dtype=float)[:, None]


def enumerate_hops(
    atoms: Atoms,
    cutoff: float,
    allow: Callable[[int, int], bool] | None = None,
    element: str = "O",
    symprec: float = DEFAULT_SYMPREC,
    region: str = "",
) -> list[Hop]:
    """Symmetry-distinct vacancy hops of a host up to a cutoff distance.

    Parameters
    ----------
    atoms
        Host structure. ``info["supercell"]`` (the repetition of a bulk cell) lets hops be
        named by crystal direction.
    cutoff
        Longest hop (Å).
    allow
        Keep only directed hops ``j -> i`` with ``allow(j, i)`` true (e.g. layer k+1 -> k).
        ``None`` keeps every hop, each undirected hop once.
    element
        The migrating element.
    symprec
        Symmetry tolerance (Å).
    region
        Region name stored on every hop.

    Returns
    -------
    list of Hop
        One per class of equivalent hops, shortest first, each listing the hops it stands for.

    Raises
    ------
    InputError
        Non-positive cutoff, or a cell so small that a hop within the cutoff is ambiguous.
    """
    _check_cutoff(cutoff)
    sym = host_symmetry(atoms, symprec)
    unit_cell = _unit_cell(atoms)
    assigned: set[tuple] = set()
    hops = []
    for j, i, n, d in _neighbour_pairs(atoms, cutoff, element):
        key = (j, i, n)
        if (allow is not None and not allow(j, i)) or _undirected(key) in assigned:
            continue
        hop = _make_hop(atoms, sym, j, i, n, d, region, unit_cell)
        assigned.update(_undirected((a, b, tuple(c))) for a, b, c in hop.equivalent)
        hops.append(hop)
    return hops


def hop_between(
    atoms: Atoms,
    from_index: int,
    to_index: int,
    cutoff: float,
    symprec: float = DEFAULT_SYMPREC,
    region: str = "",
) -> Hop:
    """The hop of the O at ``from_index`` into a vacancy at ``to_index`` (minimum image).

    Raises
    ------
    InputError
        Bad indices, different elements, a hop longer than ``cutoff``, or a cell so small
        that two periodic images of ``to_index`` are equally close.
    """
    _check_cutoff(cutoff)
    n_atoms = len(atoms)
    for name, k in (("from_index", from_index), ("to_index", to_index)):
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k < n_atoms:
            raise InputError(name, f"no atom {k!r} in a host of {n_atoms} atoms", f"0..{n_atoms - 1}")
    if from_index == to_index or atoms.numbers[from_index] != atoms.numbers[to_index]:
        raise InputError("to_index", "a hop joins two different sites of one element")
    element = atoms.get_chemical_symbols()[from_index]
    dist = atoms.get_distance(from_index, to_index, mic=True)
    if dist > cutoff:
        raise InputError("hop", f"{element}{from_index} -> {element}{to_index} is {dist:.2f} Å, longer than the "
                         f"cutoff {cutoff} Å", f"hops up to {cutoff} Å")
    for j, i, n, d in _neighbour_pairs(atoms, cutoff, element, only=(int(from_index), int(to_index))):
        if (j, i) == (int(from_index), int(to_index)):
            return _make_hop(atoms, host_symmetry(atoms, symprec), j, i, n, d, region, _unit_cell(atoms))
    raise InputError("hop", f"{element}{from_index} -> {element}{to_index} not found within {cutoff} Å")


def hop_endpoints(atoms: Atoms, hop: Hop) -> tuple[Atoms, Atoms]:
    """Initial (vacancy at ``to_index``) and final (vacancy at ``from_index``) structures.

    Both carry the host's other atoms in the host's order, and the moving O last, so the
    two endpoints have the same atoms in the same order. The final O sits at the image of
    ``to_index`` the hop reaches (it may lie outside the cell). Constraints and the
    ``layer``/``part`` arrays are kept (the moving O carries the values of its site). Both
    endpoints start with the same magnetic moments, on the Ti next to either site
    (:mod:`spillover.build.magmoms`), so that every image of the band starts alike.
    """
    from spillover.build.magmoms import vacancy_moments

    j, i = hop.from_index, hop.to_index
    base = atoms.copy()
    del base[[i, j]]  # ASE re-indexes FixAtoms
    base.set_initial_magnetic_moments(vacancy_moments(base, [atoms.positions[i], atoms.positions[j]]))
    endpoints = []
    for site, position in ((j, atoms.positions[j]), (i, atoms.positions[j] + np.asarray(hop.vector_A))):
        mover = atoms[[site]]
        mover.positions[0] = position
        mover.set_constraint()
        state = base.copy()
        state.extend(mover)
        state.info = {k: v for k, v in atoms.info.items() if k != "slab"}
        endpoints.append(state)
    return endpoints[0], endpoints[1]


def check_endpoints(initial: Atoms, final: Atoms, max_hop_A: float | None = None) -> float:
    """Check that two structures can be the ends of one band; return the largest displacement.

    Raises
    ------
    InputError
        Different atom counts, different species order, different cells, or an atom that
        moves farther than ``max_hop_A`` (minimum image).
    """
    if len(initial) != len(final):
        raise InputError("endpoints", f"initial has {len(initial)} atoms, final {len(final)}", "the same atoms in both")
    if not np.array_equal(initial.numbers, final.numbers):
        k = int(np.flatnonzero(initial.numbers != final.numbers)[0])
        raise InputError(
            "endpoints",
            f"species order differs (atom {k} is {initial.get_chemical_symbols()[k]} in the initial state, "
            f"{final.get_chemical_symbols()[k]} in the final)",
            "the same species in the same order",
        )
    if not np.allclose(np.asarray(initial.cell), np.asarray(final.cell), atol=1e-4):
        raise InputError("endpoints", "the two endpoints have different cells", "one cell for the whole band")
    from ase.geometry import find_mic

    moves, _ = find_mic(final.positions - initial.positions, initial.cell, initial.pbc)
    longest = float(np.linalg.norm(moves, axis=1).max()) if len(moves) else 0.0
    if max_hop_A is not None:
        CUTOFF.check(max_hop_A, "max_hop_A")
    if max_hop_A is not None and longest > max_hop_A:
        k = int(np.linalg.norm(moves, axis=1).argmax())
        raise InputError(
            "hop", f"atom {k} moves {longest:.2f} Å between the endpoints, longer than the cutoff {max_hop_A} Å",
            f"hops up to {max_hop_A} Å",
        )
    return longest


def bulk_host(
    name: str,
    bulks: dict[str, Atoms] | None = None,
    *,
    cutoff: float = 3.0,
    supercell: tuple[int, int, int] | None = None,
) -> Atoms:
    """A bulk supercell of ``name`` large enough for hops up to ``cutoff`` (cell widths > 2 x cutoff).

    Parameters
    ----------
    name
        Bulk material (``rutile``, ``anatase``, ``RuO2``, ...).
    bulks
        Relaxed bulks by material name; a missing one comes from ``structures/``.
    cutoff
        Longest hop (Å); sets the smallest repetition.
    supercell
        Repetition to use instead.

    Returns
    -------
    ase.Atoms
        ``info["supercell"]`` set, so hops are named by crystal direction.
    """
    from ase.build import make_supercell

    from spillover.build.bulk import load_bulk

    _check_cutoff(cutoff)
    if supercell is not None:
        try:
            ok = len(supercell) == 3 and all(SUPERCELL.contains(r) for r in supercell)
        except TypeError:
            ok = False
        if not ok:
            raise InputError("supercell", f"must be three repeats, got {supercell!r}", f"each {SUPERCELL.text}")
    unit = (bulks or {}).get(name) or load_bulk(name)
    rep = tuple(supercell) if supercell else supercell_for_cutoff(unit, cutoff)
    host = make_supercell(unit, np.diag(rep))
    host.info = {"supercell": [int(x) for x in rep]}
    return host


__all__ = [
    "Hop",
    "VacancySite",
    "bulk_host",
    "cell_widths",
    "check_endpoints",
    "enumerate_hops",
    "hop_between",
    "hop_endpoints",
    "host_symmetry",
    "supercell_for_cutoff",
    "vacancy_sites",
]
