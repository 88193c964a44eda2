"""Lattice-matched film/support interfaces (Zur-McGill matching with pymatgen's ZSL).

Every film of a system is strained onto ONE in-plane cell of the support (the support
lattice is kept) and the parts are stacked with :func:`ase.build.stack`.  Strain along
supercell vector i (docs/science.md, "Quantities"): ``f_i = (|film_i| - |sub_i|) / |sub_i| * 100``; the von
Mises strain is that of the Green-Lagrange strain of the deformation mapping the film
supercell on the substrate supercell (pymatgen's ``Strain.von_mises_strain``), in percent.

Rule for the cell (implemented in :mod:`spillover.build.scan`); the same system gets the
same supercell, in the same basis and atom order, for every preset and every run:

1. Candidates.  For each film, every match of pymatgen's ``ZSLGenerator`` between the
   support's and the film's surface cells (one-layer slabs of :mod:`spillover.build.slabs`)
   with area <= ``max_area``, |f_i| <= ``max_strain_percent`` along both (canonical)
   supercell vectors and a right-handed, non-mirrored film.  A candidate is a pair of
   sublattices, keyed by (HNF of the substrate matrix, HNF of the film matrix); of several
   ZSL matches with one key the least von Mises one is kept.
2. One cell for all films.  The substrate sublattices of a system are those on which every
   film has a candidate; there each film takes its least von Mises candidate (ties: the
   smallest film HNF).  Every strain is relative to that common support cell.
3. Ranking.  Smallest index det(substrate matrix) (i.e. area), then the smallest largest
   von Mises strain over the films, then the lexicographically smallest substrate HNF, then
   film HNFs.  Candidates and ranking are computed at the EXPERIMENTAL lattices (the CIFs of
   :func:`spillover.build.bulk.load_bulk`), never at relaxed ones.  With ``bulks`` the first
   candidate of that ranking whose strains at the given lattices are still within
   ``max_strain_percent`` is taken (the area is not re-checked), and area, strains and von
   Mises are reported at the given lattices (``MatchReport.lattices``).
4. Basis.  The substrate supercell is an integer matrix in a canonical reduced basis of its
   sublattice, fixed once at the experimental lattice: Minkowski-reduce the HNF's vectors
   (:func:`ase.geometry.minkowski_reduce`); first vector the shortest (ties: the smallest
   angle to the first support surface vector, counter-clockwise before clockwise, so of
   +-v the one pointing along that vector), second vector the shortest one completing a
   right-handed basis (ties: the smallest angle to the first).  Each film matrix carries the
   same unimodular change of basis (F' = U F), so film rows stay matched to substrate rows.
   A surface cell cut from a given bulk is rewritten in the basis of the CIF's surface cell
   (a reduction tie, as in a-TiO2(101), may pick another basis), so the matrices mean the
   same vectors at every lattice.
5. Registry.  RuO2(110) on r-TiO2(110) continues the rutile lattice ('epitaxial'); other
   films get the shift (12 x 12 grid) that maximises the shortest distance across the
   interface ('max-min-distance'), chosen at the experimental lattices and, for given
   bulks, carried along with the interface layers.
6. Atom order.  The model is turned so that the first supercell vector lies along x, and
   its atoms are sorted by (part, layer, atomic number, fractional z descending, y, x), the
   fractional coordinates in steps of 1e-3 (on a grid offset so that k/2^n fractions are
   not on a rounding boundary): a key that homogeneous strain does not change.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from ase import Atoms
from ase.build import make_supercell, stack
from ase.constraints import FixAtoms

from spillover.build.matching import (
    Candidate,
    MeasuredMatch,
    bulk_for,
    check_bulks,
    check_limits,
    cif_stamp,
    inplane_cell,
    lattices_of,
    matches_at,
    no_match,
    rebased,
    reference_slab,
)
from spillover.build.slabs import make_slab, parse_facet
from spillover.errors import InputError
from spillover.sections.base import GAP, LAYERS, VACUUM, Bound

#: Supported supports and film sequences (support side first) of :func:`make_interface`.
SUPPORTED: dict[str, tuple[tuple[str, ...], ...]] = {
    "rutile-110": (("Ru-0001",), ("RuO2-110",), ("RuO2-110", "Ru-0001")),
    "anatase-101": (("Ru-0001",), ("RuO2-110",), ("RuO2-110", "Ru-0001")),
}
#: Default number of film layers (RuO2: trilayers, Ru: atomic layers); others 3.
DEFAULT_FILM_LAYERS: dict[str, int] = {"RuO2-110": 1, "Ru-0001": 3}
# Distance (Å) between a non-epitaxial film and the part below it when no gap is given.
DEFAULT_GAP = 2.0
DEFAULT_SUPPORT_LAYERS = 3


@dataclass
class FilmMatch:
    """One film on the common in-plane cell.

    Attributes
    ----------
    film
        Film facet.
    film_matrix
        Film supercell in its surface cell; row i is matched to substrate row i.
    strain_percent
        ``f_i`` along the two canonical supercell vectors.
    von_mises_percent
        von Mises strain of the film's deformation onto the cell, percent.
    """

    film: str
    film_matrix: list[list[int]]
    strain_percent: list[float]
    von_mises_percent: float


@dataclass
class MatchReport:
    """One lattice match (or the match of a built interface).

    Attributes
    ----------
    support, films
        Support facet, film facets from the support outward.
    substrate_matrix
        Support supercell in the canonical reduced basis, in support surface cells (those of
        the CIF's slab).
    substrate_hnf
        Hermite normal form ``[[a, b], [0, d]]`` (0 <= b < d) of ``substrate_matrix``.
    area_A2
        In-plane area of the supercell, Å².
    matches
        One :class:`FilmMatch` per film, support side first, all on ``substrate_matrix``.
    natoms, part_natoms
        Atoms of the model and of each part (support, films).
    support_layers, film_layers
        Layers of the support and of each film.
    registry
        How each film was placed in-plane: 'epitaxial' (continues the support lattice,
        RuO2 on r-TiO2) or 'max-min-distance'; empty for :func:`find_matches`.
    lattices
        'experimental' (CIFs) or 'given' (``bulks``): the lattices of area and strains.
    """

    support: str
    films: list[str]
    substrate_matrix: list[list[int]]
    substrate_hnf: list[list[int]]
    area_A2: float
    matches: list[FilmMatch]
    natoms: int
    support_layers: int
    film_layers: list[int]
    part_natoms: list[int]
    registry: list[str]
    lattices: str

    def to_dict(self) -> dict:
        """JSON-safe plain-type dictionary (``matches`` as a list of dicts)."""
        d = asdict(self)
        d["area_A2"] = float(self.area_A2)
        d["substrate_matrix"] = _int_rows(self.substrate_matrix)
        d["substrate_hnf"] = _int_rows(self.substrate_hnf)
        d["matches"] = [{"film": m.film, "film_matrix": _int_rows(m.film_matrix),
                         "strain_percent": [float(x) for x in m.strain_percent],
                         "von_mises_percent": float(m.von_mises_percent)} for m in self.matches]
        for key in ("natoms", "support_layers"):
            d[key] = int(d[key])
        d["film_layers"] = [int(x) for x in self.film_layers]
        d["part_natoms"] = [int(x) for x in self.part_natoms]
        return d


def _int_rows(m) -> list[list[int]]:
    return [[int(x) for x in row] for row in m]


def _report(support: str, films: Sequence[str], m: MeasuredMatch, natoms: list[int], support_layers: int,
            film_layers: list[int], lattices: str, registry: list[str] | None = None) -> MatchReport:
    c0 = m.cands[0]
    return MatchReport(
        support=support, films=list(films), substrate_matrix=[list(r) for r in c0.sub],
        substrate_hnf=[list(r) for r in c0.sub_hnf], area_A2=round(m.area, 4),
        matches=[FilmMatch(film=f, film_matrix=[list(r) for r in c.film], strain_percent=[round(x, 4) for x in s],
                           von_mises_percent=round(v, 4))
                 for f, c, s, v in zip(films, m.cands, m.strains, m.von_mises)],
        natoms=int(sum(natoms)), support_layers=int(support_layers), film_layers=[int(n) for n in film_layers],
        part_natoms=[int(n) for n in natoms], registry=list(registry or []), lattices=lattices)


def find_matches(support: str, film: str, *, bulks: dict[str, Atoms] | None = None, max_area: float = 120.0,
                 max_strain_percent: float = 6.0) -> list[MatchReport]:
    """Lattice matches of a film facet on a support facet, in ranking order.

    Parameters
    ----------
    support, film
        Facet names, e.g. ``'rutile-110'`` and ``'RuO2-110'``.
    bulks
        Optional bulks (e.g. relaxed) by material name; missing ones come from the CIFs.
    max_area
        Largest support supercell area (at the experimental lattices), Å².
    max_strain_percent
        Largest |f_i| along either supercell vector, percent; the angle between the
        supercell vectors may differ by the same fraction (ZSL's relative angle tolerance).

    Returns
    -------
    list of MatchReport
        One per candidate (substrate and film sublattice), ranked at the experimental
        lattices as in the module rule; with ``bulks`` only those still within
        ``max_strain_percent`` at the given lattices, with the numbers there.
        ``natoms`` counts a model with 3 support layers and the default film layers.

    Raises
    ------
    InputError
        For bad names, bulks or limits, or when no match exists within the limits.
    """
    check_limits(max_area, max_strain_percent)
    check_bulks(bulks)
    found = matches_at(support, [film], bulks=bulks, max_area=max_area, max_strain_percent=max_strain_percent)
    lattices = lattices_of([support, film], bulks)
    if not found:
        raise no_match(f"{film} on {support}", max_area, max_strain_percent, lattices == "given")
    nsub, nfilm = len(reference_slab(support)), len(reference_slab(film))
    nfl = DEFAULT_FILM_LAYERS.get(film, 3)
    return [_report(support, [film], m, [nsub * DEFAULT_SUPPORT_LAYERS * m.cands[0].index,
                                         nfilm * nfl * round(np.linalg.det(m.cands[0].film))],
                    DEFAULT_SUPPORT_LAYERS, [nfl], lattices) for m in found]


# --- building -------------------------------------------------------------------------------


def _supercell(atoms: Atoms, matrix) -> Atoms:
    p = np.eye(3, dtype=int)
    p[:2, :2] = np.asarray(matrix, dtype=int)
    return make_supercell(atoms, p)


def _tight(atoms: Atoms, extra: float) -> Atoms:
    """Atoms moved to z >= 0 with cell height = thickness + ``extra``."""
    atoms = atoms.copy()
    atoms.set_constraint()
    z = atoms.positions[:, 2]
    atoms.translate([0.0, 0.0, -z.min()])
    cell = atoms.cell[:].copy()
    cell[2] = [0.0, 0.0, float(z.max() - z.min() + extra)]
    atoms.set_cell(cell, scale_atoms=False)
    return atoms


def _kinds(atoms: Atoms) -> np.ndarray:
    return (np.array(atoms.get_chemical_symbols()) == "O").astype(int)


def _translations(fs: np.ndarray, ks: np.ndarray, fd: np.ndarray, kd: np.ndarray, c2: np.ndarray,
                  tol: float = 0.3) -> list[np.ndarray]:
    """Fractional in-plane shifts t with ``fs + t == fd`` as sets modulo the cell ``c2`` (kinds matched)."""
    if len(fs) != len(fd) or not len(fs):
        return []
    out = []
    i0 = int(np.argmin(ks))
    for j in np.flatnonzero(kd == ks[i0]):
        t = fd[j] - fs[i0]
        diff = fs[:, None, :] + t - fd[None, :, :]
        diff -= np.rint(diff)
        ok = (np.linalg.norm(diff @ c2, axis=-1) < tol) & (ks[:, None] == kd[None, :])
        if ok.any(axis=1).all() and ok.any(axis=0).all():
            out.append(t)
    return out


def _translation_between(src: Atoms, dst: Atoms, cell: np.ndarray, tol: float = 0.3) -> np.ndarray | None:
    """In-plane shift t with ``src + t == dst`` as sets modulo ``cell`` (O onto O, cation onto cation)."""
    c2 = np.asarray(cell)[:2, :2]
    inv = np.linalg.inv(c2)
    found = _translations(src.positions[:, :2] @ inv, _kinds(src), dst.positions[:, :2] @ inv, _kinds(dst), c2, tol)
    return np.append(found[0] @ c2, 0.0) if found else None


def _continuation_shift(lower: Atoms, upper: Atoms) -> np.ndarray | None:
    """Shift that puts the bottom layer of ``upper`` where the next layer of ``lower`` would be.

    Works when the film layer is the support layer with other cations (RuO2(110) on
    r-TiO2(110)): the layer-2 -> layer-1 translation of the top part of ``lower`` is applied
    once more.  Returns None when the film does not continue the lattice (RuO2(110) on
    a-TiO2(101), Ru on anything).
    """
    top_part = lower[lower.arrays["part"] == lower.arrays["part"].max()]
    layer = top_part.arrays["layer"]
    if layer.max() < 2:
        return None
    first, second = top_part[layer == 1], top_part[layer == 2]
    d = _translation_between(second, first, lower.cell)
    if d is None:
        return None
    following = first.copy()
    following.translate(d)
    bottom = upper[upper.arrays["layer"] == upper.arrays["layer"].max()]
    return _translation_between(bottom, following, lower.cell)


def _maximin_shift(lower: Atoms, upper: Atoms, gap: float, n: int = 12) -> np.ndarray:
    """In-plane shift of ``upper`` (n x n grid) that maximises the shortest distance across the interface.

    Shifts within 1e-3 Å of the best count as equal and the first on the grid wins, so that
    symmetry-equivalent shifts do not flip with rounding noise.
    """
    zl, zu = lower.positions[:, 2], upper.positions[:, 2]
    a = lower[zl > zl.max() - 1.5].positions
    b = upper[zu < zu.min() + 1.5].positions + [0.0, 0.0, zl.max() + gap - zu.min()]
    cell = np.asarray(lower.cell[:2])
    images = np.array([i * cell[0] + j * cell[1] for i in (-1, 0, 1) for j in (-1, 0, 1)])
    grid = np.array([(u, v) for u in range(n) for v in range(n)], dtype=float) / n
    dmin = np.empty(len(grid))
    for k, t in enumerate(grid @ cell):
        d = (b[:, None, None, :] + t + images[None, :, None, :]) - a[None, None, :, :]
        dmin[k] = np.sqrt((d**2).sum(-1)).min()
    return grid[int(np.flatnonzero(dmin >= dmin.max() - 1e-3)[0])] @ cell


def _layer_gap(lower: Atoms) -> float:
    """Vertical gap between layers 2 and 1 of the top part of ``lower`` (the lattice's own spacing)."""
    top_part = lower[lower.arrays["part"] == lower.arrays["part"].max()]
    z, layer = top_part.positions[:, 2], top_part.arrays["layer"]
    return float(z[layer == 1].min() - z[layer == 2].max())


@dataclass
class _Registry:
    """How a film was placed: fractional shift, and the layers on both sides of the interface (fractional xy, kinds)."""

    shift: np.ndarray
    lower: tuple[np.ndarray, np.ndarray]  # fractional xy, kinds
    upper: tuple[np.ndarray, np.ndarray]


_Layer = tuple[np.ndarray, np.ndarray]  # fractional xy, kinds (O or cation)


def _interface_layers(lower: Atoms, upper: Atoms) -> tuple[_Layer, _Layer]:
    """Top layer of the top part of ``lower`` and bottom layer of ``upper``, fractional in ``lower``'s cell."""
    inv = np.linalg.inv(np.asarray(lower.cell)[:2, :2])
    top = lower[(lower.arrays["part"] == lower.arrays["part"].max()) & (lower.arrays["layer"] == 1)]
    bottom = upper[upper.arrays["layer"] == upper.arrays["layer"].max()]
    return (top.positions[:, :2] @ inv, _kinds(top)), (bottom.positions[:, :2] @ inv, _kinds(bottom))


def _drift(ref: _Layer, now: _Layer, c2: np.ndarray) -> np.ndarray:
    """Smallest fractional translation that takes layer ``ref`` onto layer ``now`` (zero if none does)."""
    found = [t - np.rint(t) for t in _translations(ref[0], ref[1], now[0], now[1], c2, tol=0.5)]
    return min(found, key=lambda t: float(np.linalg.norm(t @ c2))) if found else np.zeros(2)


def _stack(lower: Atoms, upper: Atoms, gap: float | None, top_extra: float,
           ref: _Registry | None = None) -> tuple[Atoms, str, _Registry]:
    """Stack ``upper`` (strained to ``lower``'s in-plane cell, rows matched) above ``lower``.

    The in-plane registry is the lattice continuation when the film continues the
    support's lattice ('epitaxial'), otherwise the shift that maximises the shortest
    distance across the interface ('max-min-distance').  With ``ref`` (the registry chosen
    for the same cell at the CIF lattices) that max-min shift is reused, corrected for how
    far the two interface layers moved in the cell.  ``gap=None`` takes the support's own
    inter-layer gap for an epitaxial film and :data:`DEFAULT_GAP` otherwise.
    """
    up = _tight(upper, top_extra)
    up.set_cell(np.vstack([lower.cell[:2], up.cell[2:]]), scale_atoms=True)
    shift = _continuation_shift(lower, up)
    registry = "epitaxial" if shift is not None else "max-min-distance"
    if gap is None:
        gap = _layer_gap(lower) if shift is not None else DEFAULT_GAP
    lo = _tight(lower, gap)
    c2 = np.asarray(lo.cell)[:2, :2]
    layers = _interface_layers(lo, up)
    if shift is None and ref is None:
        shift = _maximin_shift(lo, up, gap)
    elif shift is None:
        frac = ref.shift + _drift(ref.lower, layers[0], c2) - _drift(ref.upper, layers[1], c2)
        shift = np.append(frac @ c2, 0.0)
    up.translate(shift)
    up.wrap()
    used = _Registry(np.linalg.solve(c2.T, shift[:2]), *layers)
    return stack(lo, up, axis=2, fix=0.0, maxstrain=None), registry, used


def _grid(x: np.ndarray) -> np.ndarray:
    """Fractions in units of 1e-3, on a grid offset so that k/2^n fractions are not on a rounding boundary."""
    return np.floor(np.asarray(x) * 1000.0 + 0.123).astype(int) % 1000


def _canonical_frame(atoms: Atoms) -> Atoms:
    """First cell vector along x, second in the half-plane y > 0; atoms sorted by the canonical key."""
    cell = atoms.cell[:]
    a1, a2 = cell[0], cell[1]
    l1 = float(np.linalg.norm(a1))
    new = np.array([[l1, 0.0, 0.0], [a1 @ a2 / l1, float(np.cross(a1, a2)[2]) / l1, 0.0], cell[2]])
    atoms.set_cell(new, scale_atoms=True)
    atoms.wrap()
    frac = _grid(atoms.get_scaled_positions(wrap=True))
    order = np.lexsort((frac[:, 0], frac[:, 1], -frac[:, 2], atoms.numbers, atoms.arrays["layer"],
                        atoms.arrays["part"]))
    return atoms[order]


def _assemble(slabs: list[Atoms], cands: Sequence[Candidate], gap: float | None, vacuum: float,
              refs: list[_Registry] | None = None) -> tuple[Atoms, list[str], list[_Registry]]:
    """Supercells of the (rebased) slabs stacked upward; ``refs``: registries to reuse (see :func:`_stack`)."""
    parts = [_supercell(slabs[0], cands[0].sub)] + [_supercell(s, c.film) for s, c in zip(slabs[1:], cands)]
    for k, p in enumerate(parts):
        p.arrays["part"] = np.full(len(p), k, dtype=int)
    atoms, registry, used = parts[0], [], []
    for k, p in enumerate(parts[1:]):
        atoms, reg, frac = _stack(atoms, p, gap, 2.0 * vacuum, None if refs is None else refs[k])
        registry.append(reg)
        used.append(frac)
    atoms.translate([0.0, 0.0, vacuum])
    atoms.pbc = True
    return _canonical_frame(atoms), registry, used


@functools.lru_cache(maxsize=32)
def _cif_slab_cached(facet: str, layers: int, vacuum: float, stamp: tuple) -> Atoms:
    return rebased(make_slab(facet, layers=layers, vacuum=vacuum), inplane_cell(reference_slab(facet)), facet)


def _slab(facet: str, layers: int, vacuum: float, bulks: dict[str, Atoms] | None) -> Atoms:
    """Slab of ``facet`` at the given (or CIF) lattice, in-plane cell in the basis of the CIF's cell."""
    bulk = bulk_for(facet, bulks)
    if bulk is None:
        return _cif_slab_cached(facet, int(layers), float(vacuum), cif_stamp(parse_facet(facet)[0])).copy()
    slab = make_slab(facet, bulk=bulk, layers=layers, vacuum=vacuum)
    return rebased(slab, inplane_cell(reference_slab(facet)), facet)


def _check_build_args(support: str, films: list[str], support_layers: int, film_layers: list[int] | None,
                      vacuum: float, gap: float | None, fixed_layers: int) -> list[int]:
    allowed = "; ".join(f"{s}: " + ", ".join("[" + ", ".join(f) + "]" for f in fs) for s, fs in SUPPORTED.items())
    if support not in SUPPORTED:
        raise InputError("support", f"unsupported support {support!r}", ", ".join(SUPPORTED))
    if tuple(films) not in SUPPORTED[support]:
        raise InputError("films", f"unsupported films {films!r} on {support}", allowed)
    LAYERS.check(support_layers, "support_layers")
    try:
        layers = [DEFAULT_FILM_LAYERS[f] for f in films] if film_layers is None else list(film_layers)
    except TypeError:
        layers = []
    if len(layers) != len(films) or not all(LAYERS.contains(n) for n in layers):
        raise InputError("film_layers", f"need one integer in {LAYERS.text} per film, got {film_layers!r}",
                         f"{len(films)} integers in {LAYERS.text}")
    VACUUM.check(vacuum, "vacuum")
    if gap is not None:
        GAP.check(gap, "gap")
    Bound(0, support_layers - 1, integer=True).check(fixed_layers, "fixed_layers")
    return [int(n) for n in layers]


def make_interface(support: str, films: Sequence[str], *, bulks: dict[str, Atoms] | None = None,
                   max_area: float = 120.0, max_strain_percent: float = 6.0, support_layers: int = 3,
                   film_layers: Sequence[int] | None = None, vacuum: float = 6.0, gap: float | None = None,
                   fixed_layers: int = 1) -> tuple[Atoms, MatchReport]:
    """Build a lattice-matched film/support interface on the first cell of the module rule.

    Parameters
    ----------
    support
        ``'rutile-110'`` or ``'anatase-101'``.
    films
        ``['Ru-0001']``, ``['RuO2-110']`` or ``['RuO2-110', 'Ru-0001']``; all films share
        one in-plane cell of the support.
    bulks
        Optional (relaxed) bulks by material name; missing ones come from the CIFs.  The
        cell is chosen at the CIF lattices (module rule), the model is cut from these.
    max_area, max_strain_percent
        Limits of the lattice match (see :func:`find_matches`).
    support_layers
        Support layers (trilayers of r-TiO2(110), Ti2O4 layers of a-TiO2(101)).
    film_layers
        Layers per film; default RuO2 1 trilayer, Ru 3 atomic layers.
    vacuum
        Vacuum on each side of the model along z, Å, as ASE's ``vacuum``: the outermost film and the
        bottom of the support are ``2 * vacuum`` apart across the periodic boundary.
    gap
        Vertical distance between the top atom of one part and the lowest atom of the next, Å.
        ``None``: the support's own inter-layer gap for an epitaxial film (RuO2 on r-TiO2
        continues the rutile lattice), :data:`DEFAULT_GAP` for the others.
    fixed_layers
        Bottom support layers held by FixAtoms.

    Returns
    -------
    tuple
        ``(atoms, report)``; atoms carry ``arrays["layer"]`` (1 = top layer of each part;
        for the support the layer at the interface), ``arrays["part"]`` (0 support,
        1 first film, 2 second film), tags = layer, and
        ``info["interface"] = report.to_dict()``; first cell vector along x, atoms in the
        canonical order of the module rule.

    Raises
    ------
    InputError
        For unsupported combinations, bad numbers, or no match within the limits.

    Notes
    -----
    In-plane registry (``report.registry``): RuO2(110) on r-TiO2(110) is placed where the
    next rutile trilayer would be ('epitaxial'; needs ``support_layers >= 2``); with the
    default ``gap=None`` it also sits at the next trilayer's height (0.71 Å above the top O
    for the experimental lattice), so the film continues the rutile lattice and the
    interfacial Ti are six-fold.  Other films (RuO2 on a-TiO2(101), Ru) get the shift that
    maximises the shortest distance across the interface.
    """
    films = [films] if isinstance(films, str) else list(films)
    layers = _check_build_args(support, films, support_layers, film_layers, vacuum, gap, fixed_layers)
    check_limits(max_area, max_strain_percent)
    check_bulks(bulks)

    facets = [support, *films]
    nlayers = [support_layers, *layers]
    slabs = [_slab(f, n, vacuum, bulks) for f, n in zip(facets, nlayers)]
    found = matches_at(support, films, max_area=max_area, max_strain_percent=max_strain_percent, first=True,
                       cells={f: inplane_cell(s) for f, s in zip(facets, slabs)})
    lattices = lattices_of(facets, bulks)
    if not found:
        raise no_match(" / ".join(films) + f" on {support} (one common cell)", max_area, max_strain_percent,
                        lattices == "given")
    m = found[0]
    refs = None
    if lattices == "given":  # the max-min registry is chosen at the CIF lattices too
        _, _, refs = _assemble([_slab(f, n, vacuum, None) for f, n in zip(facets, nlayers)], m.cands, gap, vacuum)
    atoms, registry, _ = _assemble(slabs, m.cands, gap, vacuum, refs)
    part, layer = atoms.arrays["part"], atoms.arrays["layer"]
    fixed = np.flatnonzero((part == 0) & (layer > support_layers - fixed_layers))
    atoms.set_constraint(FixAtoms(indices=fixed) if len(fixed) else None)
    atoms.set_tags(layer)
    natoms = [int((part == k).sum()) for k in range(len(facets))]
    report = _report(support, films, m, natoms, support_layers, layers, lattices, registry)
    atoms.info = {"interface": report.to_dict()}
    return atoms, report


__all__ = ["DEFAULT_FILM_LAYERS", "SUPPORTED", "FilmMatch", "MatchReport", "find_matches", "make_interface"]
