"""Lattice matching of facets (pymatgen's ZSL): candidates, their ranking and the canonical supercell basis.

The rule is stated in :mod:`spillover.build.interfaces` (which builds the models on the first
cell of the ranking); :mod:`spillover.build.scan` applies it to every film facet on every
support facet.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.geometry import minkowski_reduce
from pymatgen.analysis.elasticity.strain import Deformation
from pymatgen.analysis.interfaces.zsl import ZSLGenerator
from pymatgen.core import Composition

from spillover.build.bulk import BULKS, load_bulk, structures_dir
from spillover.build.slabs import make_slab, parse_facet
from spillover.errors import InputError
from spillover.sections.base import AREA, STRAIN, check_search

# Rounding of von Mises strains (percent) in the ranking, so that symmetry-equivalent
# candidates tie exactly and the HNF decides.
_VM_DIGITS = 6
Hnf = tuple[tuple[int, int], tuple[int, int]]


# --- integer lattices ----------------------------------------------------------------------


def _egcd(a: int, b: int) -> tuple[int, int, int]:
    """``(g, x, y)`` with ``x a + y b = g = gcd(a, b) >= 0``."""
    x0, x1, y0, y1 = 1, 0, 0, 1
    while b:
        q = a // b
        a, b, x0, x1, y0, y1 = b, a - q * b, x1, x0 - q * x1, y1, y0 - q * y1
    return (a, x0, y0) if a >= 0 else (-a, -x0, -y0)


def hnf(matrix) -> Hnf:
    """Row-style Hermite normal form ``((a, b), (0, d))``, ``0 <= b < d``, of a 2x2 integer matrix.

    Two supercell matrices describe the same sublattice exactly when their HNFs are equal.
    """
    (p, q), (r, s) = ((int(v) for v in row) for row in np.asarray(matrix))
    g, x, y = _egcd(p, r)
    d = abs(p * s - q * r) // g
    if d == 0:
        raise ValueError(f"singular supercell matrix {np.asarray(matrix).tolist()}")
    return (g, (x * q + y * s) % d), (0, d)


def canonical_basis(sub_hnf: Hnf, cell: np.ndarray) -> np.ndarray:
    """Canonical reduced basis (2x2 integer, rows in surface cells) of a sublattice.

    Parameters
    ----------
    sub_hnf
        The sublattice, as its HNF in surface cells.
    cell
        Surface cell rows (2x2 or 2x3, Cartesian) of the lattice the basis is fixed at.

    Returns
    -------
    numpy.ndarray
        First row the shortest vector (ties: the smallest angle to the first surface vector,
        counter-clockwise before clockwise), second row the shortest vector completing a
        right-handed basis (ties: the smallest angle to the first row).
    """
    cell = np.asarray(cell, dtype=float)[:, :2]
    h = np.array(sub_hnf, dtype=int)
    c3 = np.eye(3)
    c3[:2, :2] = h @ cell
    _, op = minkowski_reduce(c3, pbc=[True, True, False])
    red = np.rint(op[:2, :2]).astype(int) @ h
    vecs = [np.array(c) @ red for c in itertools.product(range(-2, 3), repeat=2) if any(c)]
    cart = [v @ cell for v in vecs]
    length = [float(np.linalg.norm(c)) for c in cart]
    tol = 1e-6 * max(length)
    ref = math.atan2(cell[0, 1], cell[0, 0])

    def turn(c: np.ndarray) -> tuple[float, bool]:  # |angle| from the first surface vector, clockwise last
        ang = (math.atan2(c[1], c[0]) - ref + math.pi) % (2 * math.pi) - math.pi
        return round(abs(ang), 9), ang < 0

    short = min(length)
    i1 = min((i for i in range(len(vecs)) if length[i] <= short + tol), key=lambda i: turn(cart[i]))
    index = round(np.linalg.det(h)) * (1 if np.linalg.det(cell) > 0 else -1)  # right-handed in space
    ok = [i for i in range(len(vecs)) if round(np.linalg.det(np.array([vecs[i1], vecs[i]]))) == index]
    short2 = min(length[i] for i in ok)
    i2 = max((i for i in ok if length[i] <= short2 + tol), key=lambda i: round(float(cart[i1] @ cart[i]), 6))
    return np.array([vecs[i1], vecs[i2]], dtype=int)


def _basis_change(ref: np.ndarray, cell: np.ndarray, tol: float = 0.15) -> np.ndarray | None:
    """Unimodular T with ``cell`` ~ (rotated, strained) ``T @ ref``; None if there is none.

    Of the T whose metric matches within ``tol`` (relative), the one needing the smallest
    in-plane rotation: cuts of a (relaxed) bulk keep the CIF's orientation, but a tie in
    the reduction of the surface cell can pick another basis of the same lattice.
    """
    ref, cell = np.asarray(ref, float)[:, :2], np.asarray(cell, float)[:, :2]
    gram = cell @ cell.T
    best, best_key = None, None
    for entries in itertools.product((-1, 0, 1), repeat=4):
        t = np.array(entries, dtype=int).reshape(2, 2)
        if round(np.linalg.det(t)) != 1:
            continue
        tr = t @ ref
        if np.abs(tr @ tr.T - gram).max() > tol * np.abs(gram).max():
            continue
        cross = float(np.sum(tr[:, 0] * cell[:, 1] - tr[:, 1] * cell[:, 0]))
        key = abs(math.atan2(cross, float(np.sum(tr * cell))))
        if best_key is None or key < best_key - 1e-9:
            best, best_key = t, key
    return best


def rebased(slab: Atoms, ref_cell: np.ndarray, facet: str) -> Atoms:
    """``slab`` with its in-plane cell written in the basis of ``ref_cell`` (same lattice, same atoms)."""
    t = _basis_change(ref_cell, slab.cell[:2])
    if t is None:
        raise InputError("bulks", f"the surface cell of {facet} cut from the given bulk does not correspond "
                         "to the one of the CIF", "a bulk of the same structure within ~7 % strain")
    if (t == np.eye(2, dtype=int)).all():
        return slab
    out = slab.copy()
    cell = out.cell[:].copy()
    cell[:2] = np.rint(np.linalg.inv(t)).astype(int) @ cell[:2]
    out.set_cell(cell, scale_atoms=False)
    out.wrap()
    return out


# --- candidates at the experimental lattices ------------------------------------------------


def cif_stamp(material: str) -> tuple:
    """Path, mtime and size of a material's CIF: the cache key of everything computed from it."""
    path = structures_dir() / BULKS[material]
    st = path.stat() if path.is_file() else None
    return str(path), st.st_mtime_ns if st else None, st.st_size if st else None


@functools.lru_cache(maxsize=64)
def _reference_slab_cached(facet: str, stamp: tuple) -> Atoms:
    return make_slab(facet, layers=1)


def reference_slab(facet: str) -> Atoms:
    """One-layer slab of ``facet`` cut from the CIF (cached; do not modify)."""
    material, _ = parse_facet(facet)
    return _reference_slab_cached(facet, cif_stamp(material))


def inplane_cell(atoms: Atoms) -> np.ndarray:
    """The two in-plane cell vectors (2x3, z set to 0)."""
    vecs = np.array(atoms.cell[:2], dtype=float)
    vecs[:, 2] = 0.0
    return vecs


def _von_mises(film_sl: np.ndarray, sub_sl: np.ndarray) -> float:
    """von Mises strain (fraction) of the deformation film supercell -> substrate supercell."""
    f3 = np.array([film_sl[0], film_sl[1], np.cross(film_sl[0], film_sl[1])])
    n = np.cross(sub_sl[0], sub_sl[1])
    s3 = np.array([sub_sl[0], sub_sl[1], n * np.linalg.norm(f3[2]) / np.linalg.norm(n)])
    deform = Deformation(np.linalg.solve(f3, s3).T)
    return float(deform.green_lagrange_strain.von_mises_strain)


def _measure(sub_m, film_m, sub_cell: np.ndarray, film_cell: np.ndarray) -> tuple[float, list[float], float]:
    """Area (Å²), strains f_i (%) and von Mises strain (%) of a match at the given surface cells."""
    ssl = np.asarray(sub_m, float) @ sub_cell
    fsl = np.asarray(film_m, float) @ film_cell
    ls, lf = np.linalg.norm(ssl, axis=1), np.linalg.norm(fsl, axis=1)
    strain = [float(x) for x in (lf - ls) / ls * 100.0]
    return float(np.linalg.norm(np.cross(*ssl))), strain, 100.0 * _von_mises(fsl, ssl)


@dataclass(frozen=True)
class Candidate:
    """One film's candidate cell (step 1), at the experimental lattices."""

    sub_hnf: Hnf
    film_hnf: Hnf
    sub: tuple[tuple[int, int], tuple[int, int]]  # canonical basis, support surface cells
    film: tuple[tuple[int, int], tuple[int, int]]  # rows matched to ``sub``
    von_mises: float  # percent, at the experimental lattices

    @property
    def index(self) -> int:
        return self.sub_hnf[0][0] * self.sub_hnf[1][1]


def _as_tuple(m: np.ndarray) -> tuple[tuple[int, int], tuple[int, int]]:
    return tuple(tuple(int(x) for x in row) for row in m)  # type: ignore[return-value]


def _zsl_candidates(sub_vecs: np.ndarray, film_vecs: np.ndarray, max_area: float,
                    max_strain_percent: float) -> list[Candidate]:
    """Candidates (step 1 of the rule in :mod:`spillover.build.interfaces`) of a film cell on a support cell."""
    s = max_strain_percent / 100.0
    a_sub = float(np.linalg.norm(np.cross(*sub_vecs)))
    a_film = float(np.linalg.norm(np.cross(*film_vecs)))
    ratio = max(a_film / a_sub, a_sub / a_film)
    zsl = ZSLGenerator(max_area_ratio_tol=((1 + s) ** 2 - 1) * ratio * 1.05, max_area=max_area * (1 + s) ** 2,
                       max_length_tol=s * 1.05, max_angle_tol=s, bidirectional=False)
    basis: dict[Hnf, np.ndarray] = {}
    best: dict[tuple[Hnf, Hnf], Candidate] = {}
    for m in zsl(film_vecs, sub_vecs):
        ms = np.linalg.solve(sub_vecs[:, :2].T, np.asarray(m.substrate_sl_vectors)[:, :2].T).T
        mf = np.linalg.solve(film_vecs[:, :2].T, np.asarray(m.film_sl_vectors)[:, :2].T).T
        if not (np.allclose(ms, np.rint(ms), atol=1e-6) and np.allclose(mf, np.rint(mf), atol=1e-6)):
            continue
        ms, mf = np.rint(ms).astype(int), np.rint(mf).astype(int)
        if np.linalg.det(ms) < 0:  # make the substrate supercell right-handed
            ms[1], mf[1] = -ms[1], -mf[1]
        if np.linalg.det(mf) <= 0:  # mirrored film; for a film lattice with a mirror ZSL also yields its twin
            continue
        h = hnf(ms)
        if h not in basis:
            basis[h] = canonical_basis(h, sub_vecs)
        sub = basis[h]
        u = np.rint(sub @ np.linalg.inv(ms)).astype(int)
        film = u @ mf
        area, strain, vm = _measure(sub, film, sub_vecs, film_vecs)
        if area > max_area + 1e-6 or max(abs(x) for x in strain) > max_strain_percent + 1e-9:
            continue
        cand = Candidate(h, hnf(film), _as_tuple(sub), _as_tuple(film), round(vm, _VM_DIGITS))
        old = best.get((cand.sub_hnf, cand.film_hnf))
        if old is None or (cand.von_mises, cand.film) < (old.von_mises, old.film):
            best[(cand.sub_hnf, cand.film_hnf)] = cand
    return list(best.values())


@functools.lru_cache(maxsize=256)
def _candidates_cached(support: str, film: str, max_area: float, max_strain_percent: float,
                       stamps: tuple) -> tuple[Candidate, ...]:
    sub, flm = reference_slab(support), reference_slab(film)
    return tuple(_zsl_candidates(inplane_cell(sub), inplane_cell(flm), max_area, max_strain_percent))


def _candidates(support: str, film: str, max_area: float, max_strain_percent: float) -> tuple[Candidate, ...]:
    stamps = tuple(cif_stamp(parse_facet(f)[0]) for f in (support, film))
    return _candidates_cached(support, film, float(max_area), float(max_strain_percent), stamps)


def _rank_key(cands: Sequence[Candidate]) -> tuple:
    return (cands[0].index, max(c.von_mises for c in cands), cands[0].sub_hnf, tuple(c.film_hnf for c in cands))


def ranking(support: str, films: Sequence[str], *, max_area: float,
            max_strain_percent: float) -> list[tuple[Candidate, ...]]:
    """Candidate cells of a system in ranking order, at the experimental lattices.

    One entry per substrate sublattice on which every film has a candidate, holding each
    film's least von Mises candidate there (steps 1-3 of the rule in
    :mod:`spillover.build.interfaces`).  For a single
    film all candidates (film sublattices too) are listed.
    """
    per_film = [_candidates(support, f, max_area, max_strain_percent) for f in films]
    if len(films) == 1:
        return sorted(((c,) for c in per_film[0]), key=_rank_key)
    common = set.intersection(*({c.sub_hnf for c in cs} for cs in per_film))
    rows = [tuple(min((c for c in cs if c.sub_hnf == h), key=lambda c: (c.von_mises, c.film_hnf)) for cs in per_film)
            for h in common]
    return sorted(rows, key=_rank_key)


@dataclass
class MeasuredMatch:
    """A ranked cell (one candidate per film) with area, strains and von Mises at some lattices."""

    cands: tuple[Candidate, ...]
    area: float
    strains: list[list[float]]
    von_mises: list[float]


def _at_lattices(ranked: list[tuple[Candidate, ...]], sub_cell: np.ndarray, film_cells: list[np.ndarray],
                 max_strain_percent: float, first: bool) -> list[MeasuredMatch]:
    """The ranked candidates measured at the given surface cells, those within the strain limit."""
    out = []
    for cands in ranked:
        got = [_measure(c.sub, c.film, sub_cell, fc) for c, fc in zip(cands, film_cells)]
        if all(abs(x) <= max_strain_percent + 1e-9 for _, strain, _ in got for x in strain):
            out.append(MeasuredMatch(cands, got[0][0], [g[1] for g in got], [g[2] for g in got]))
            if first:
                break
    return out


# --- input checks ---------------------------------------------------------------------------


def check_limits(max_area: float, max_strain_percent: float) -> None:
    """InputError unless both limits and their product are in range (:mod:`spillover.sections.base`).

    The limits bound the search: pymatgen's ZSL enumeration grows steeply with both (see
    :data:`~spillover.sections.base.SEARCH_MAX`).
    """
    AREA.check(max_area, "max_area")
    STRAIN.check(max_strain_percent, "max_strain_percent")
    check_search(max_area, max_strain_percent, "max_area")


def check_bulks(bulks: dict[str, Atoms] | None) -> None:
    """InputError unless ``bulks`` is None or a dict of known materials with their compositions."""
    if bulks is None:
        return
    if not isinstance(bulks, dict):
        raise InputError("bulks", f"must be a dict name -> ase.Atoms, got {type(bulks).__name__}")
    for key, atoms in bulks.items():
        if key not in BULKS:
            raise InputError("bulks", f"unknown bulk key {key!r}", ", ".join(BULKS))
        if not isinstance(atoms, Atoms):
            raise InputError("bulks", f"bulks[{key!r}] must be an ase.Atoms, got {type(atoms).__name__}")
        want = Composition(load_bulk(key).get_chemical_formula()).reduced_formula
        got = Composition(atoms.get_chemical_formula()).reduced_formula if len(atoms) else "(empty)"
        if got != want:
            raise InputError("bulks", f"bulks[{key!r}] has composition {got}, expected {want}", want)


def bulk_for(name: str, bulks: dict[str, Atoms] | None) -> Atoms | None:
    """The given bulk of the material of facet ``name``, or None (the CIF)."""
    material, _ = parse_facet(name)
    return None if not bulks else bulks.get(material)


def lattices_of(facets: Sequence[str], bulks: dict[str, Atoms] | None) -> str:
    """'given' if a bulk of one of ``facets`` is given, else 'experimental'."""
    return "given" if any(bulk_for(f, bulks) is not None for f in facets) else "experimental"


def surface_cell(facet: str, bulks: dict[str, Atoms] | None) -> np.ndarray:
    """In-plane cell of ``facet`` at the given (or CIF) lattice, in the basis of the CIF's cell."""
    ref = reference_slab(facet)
    bulk = bulk_for(facet, bulks)
    if bulk is None:
        return inplane_cell(ref)
    return inplane_cell(rebased(make_slab(facet, bulk=bulk, layers=1), inplane_cell(ref), facet))


def no_match(what: str, max_area: float, max_strain_percent: float, given: bool) -> InputError:
    """The InputError for 'no lattice match within the limits'."""
    at = " (at the given lattices)" if given else ""
    return InputError("max_strain_percent", f"no lattice match of {what} within {max_strain_percent} % strain "
                      f"and {max_area} Å²{at}", "a larger max_strain_percent or max_area")


def matches_at(support: str, films: Sequence[str], *, bulks: dict[str, Atoms] | None = None,
               max_area: float = 120.0, max_strain_percent: float = 6.0, first: bool = False,
               cells: dict[str, np.ndarray] | None = None) -> list[MeasuredMatch]:
    """The system's ranked cells (rule of :mod:`spillover.build.interfaces`) at the given lattices.

    Measured at the lattices of ``bulks`` (the CIFs' for missing materials).

    ``cells`` (facet -> surface cell in the CIF basis) overrides the cells cut from ``bulks``.
    An empty list means no match within the limits.
    """
    ranked = ranking(support, films, max_area=max_area, max_strain_percent=max_strain_percent)
    cells = dict(cells or {})
    for f in (support, *films):
        if f not in cells:
            cells[f] = surface_cell(f, bulks)
    return _at_lattices(ranked, cells[support], [cells[f] for f in films], max_strain_percent, first)


__all__ = ["Candidate", "MeasuredMatch", "canonical_basis", "hnf", "matches_at", "ranking"]
