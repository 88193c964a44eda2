"""Lattice-matched film/support interfaces (Zur-McGill matching with pymatgen's ZSL).

The in-plane supercells come from :class:`pymatgen.analysis.interfaces.zsl.ZSLGenerator`
applied to the surface cells of the slabs of :mod:`spillover.build.slabs`; the film is
strained onto the support (the support lattice is kept) and stacked with
:func:`ase.build.stack`.  Strain along matched supercell vector i (SCIENCE.md):
``f_i = (|film_i| - |sub_i|) / |sub_i| * 100``; the von Mises strain is that of the
Green-Lagrange strain of the deformation mapping the film supercell on the substrate
supercell (pymatgen's ``Strain.von_mises_strain``), in percent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
from ase import Atoms
from ase.build import make_supercell, stack
from ase.constraints import FixAtoms
from pymatgen.analysis.elasticity.strain import Deformation
from pymatgen.analysis.interfaces.zsl import ZSLGenerator
from pymatgen.core import Composition

from spillover.build.bulk import BULKS, load_bulk
from spillover.build.slabs import make_slab, parse_facet
from spillover.errors import InputError

#: Supported supports and film sequences of :func:`make_interface`.
SUPPORTED: dict[str, tuple[tuple[str, ...], ...]] = {
    "rutile-110": (("Ru-0001",), ("RuO2-110",), ("RuO2-110", "Ru-0001")),
    "anatase-101": (("Ru-0001",),),
}
#: Default number of film layers (RuO2: trilayers, Ru: atomic layers); others 3.
DEFAULT_FILM_LAYERS: dict[str, int] = {"RuO2-110": 1, "Ru-0001": 3}
# Distance (Å) between a non-epitaxial film and the part below it when no gap is given.
DEFAULT_GAP = 2.0
DEFAULT_SUPPORT_LAYERS = 3


@dataclass
class MatchReport:
    """One lattice match (or the match of a built interface).

    Attributes
    ----------
    support, films, film
        Support facet, film facets from the support outward, outermost film.
    substrate_matrix
        Support in-plane supercell in terms of the support slab's surface cell.
    film_matrix
        In-plane supercell of the first film in terms of its own surface cell.
    area_A2
        In-plane area of the (support) supercell, Å².
    strain_percent
        ``f_i`` along the two matched supercell vectors, first film on the support.
    von_mises_percent
        von Mises strain of the first film's deformation, percent.
    natoms
        Atoms in the interface model (with ``support_layers`` and ``film_layers``).
    support_layers, film_layers, part_natoms
        Layers of the support and of each film, atoms of each part.
    registry
        How each film was placed in-plane: 'epitaxial' (continues the support lattice,
        RuO2 on r-TiO2) or 'max-min-distance'; empty for :func:`find_matches`.
    stack
        For a multi-film interface, one report per film on what is beneath it.
    """

    support: str
    films: list[str]
    film: str
    substrate_matrix: list[list[int]]
    film_matrix: list[list[int]]
    area_A2: float
    strain_percent: list[float]
    von_mises_percent: float
    natoms: int
    support_layers: int = DEFAULT_SUPPORT_LAYERS
    film_layers: list[int] = field(default_factory=list)
    part_natoms: list[int] = field(default_factory=list)
    registry: list[str] = field(default_factory=list)
    stack: list[MatchReport] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-safe plain-type dictionary (``stack`` as a list of dicts)."""
        d = asdict(self)
        d["area_A2"] = float(self.area_A2)
        d["von_mises_percent"] = float(self.von_mises_percent)
        d["strain_percent"] = [float(x) for x in self.strain_percent]
        d["substrate_matrix"] = [[int(x) for x in row] for row in self.substrate_matrix]
        d["film_matrix"] = [[int(x) for x in row] for row in self.film_matrix]
        d["stack"] = [r.to_dict() for r in self.stack]
        return d


@dataclass
class _Match:
    sub_matrix: np.ndarray  # 2x2 int, rows = supercell vectors in substrate cell vectors
    film_matrix: np.ndarray  # 2x2 int
    area: float
    strain: list[float]
    von_mises: float


def _inplane(atoms: Atoms) -> np.ndarray:
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


def _check_limits(max_area: float, max_strain_percent: float) -> None:
    for key, value in (("max_area", max_area), ("max_strain_percent", max_strain_percent)):
        if not isinstance(value, (int, float, np.number)) or not math.isfinite(value) or value <= 0:
            raise InputError(key, f"must be a positive number, got {value!r}", "> 0")


def _match_cells(sub_vecs: np.ndarray, film_vecs: np.ndarray, max_area: float,
                 max_strain_percent: float) -> list[_Match]:
    """ZSL matches of two in-plane cells, filtered, deduplicated and sorted."""
    s = max_strain_percent / 100.0
    a_sub = float(np.linalg.norm(np.cross(*sub_vecs)))
    a_film = float(np.linalg.norm(np.cross(*film_vecs)))
    ratio = max(a_film / a_sub, a_sub / a_film)
    zsl = ZSLGenerator(max_area_ratio_tol=((1 + s) ** 2 - 1) * ratio * 1.05, max_area=max_area * (1 + s) ** 2,
                       max_length_tol=s * 1.05, max_angle_tol=s, bidirectional=False)
    found: list[tuple] = []
    for m in zsl(film_vecs, sub_vecs):
        fsl = np.array(m.film_sl_vectors, dtype=float)
        ssl = np.array(m.substrate_sl_vectors, dtype=float)
        ms = np.linalg.solve(sub_vecs[:, :2].T, ssl[:, :2].T).T
        mf = np.linalg.solve(film_vecs[:, :2].T, fsl[:, :2].T).T
        if not (np.allclose(ms, np.rint(ms), atol=1e-6) and np.allclose(mf, np.rint(mf), atol=1e-6)):
            continue
        ms, mf = np.rint(ms).astype(int), np.rint(mf).astype(int)
        if np.linalg.det(ms) < 0:  # make the substrate supercell right-handed
            ms[1], mf[1], ssl[1], fsl[1] = -ms[1], -mf[1], -ssl[1], -fsl[1]
        if np.linalg.det(mf) <= 0:  # would need a mirrored film
            continue
        area = float(np.linalg.norm(np.cross(*ssl)))
        if area > max_area + 1e-6:
            continue
        strain = [float((np.linalg.norm(fsl[i]) - np.linalg.norm(ssl[i])) / np.linalg.norm(ssl[i]) * 100)
                  for i in range(2)]
        if max(abs(x) for x in strain) > max_strain_percent + 1e-9:
            continue
        vm = 100.0 * _von_mises(fsl, ssl)
        found.append((area, vm, int(np.abs(ms).sum() + np.abs(mf).sum()), _Match(ms, mf, area, strain, vm)))
    found.sort(key=lambda t: (round(t[0], 2), round(t[1], 3), t[2]))
    out: list[_Match] = []
    seen: set[tuple] = set()
    for area, _, _, match in found:
        key = (round(area, 2), *sorted(round(x, 2) for x in match.strain))
        if key not in seen:
            seen.add(key)
            out.append(match)
    return out


def _bulk_for(name: str, bulks: dict[str, Atoms] | None) -> Atoms | None:
    material, _ = parse_facet(name)
    return None if not bulks else bulks.get(material)


def _check_bulks(bulks: dict[str, Atoms] | None) -> None:
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


def _report(support: str, films: list[str], m: _Match, natoms: list[int], support_layers: int,
            film_layers: list[int]) -> MatchReport:
    return MatchReport(support=support, films=list(films), film=films[-1],
                       substrate_matrix=m.sub_matrix.tolist(), film_matrix=m.film_matrix.tolist(),
                       area_A2=round(m.area, 4), strain_percent=[round(x, 4) for x in m.strain],
                       von_mises_percent=round(m.von_mises, 4), natoms=int(sum(natoms)),
                       support_layers=support_layers, film_layers=list(film_layers),
                       part_natoms=[int(n) for n in natoms])


def find_matches(support: str, film: str, *, bulks: dict[str, Atoms] | None = None, max_area: float = 120.0,
                 max_strain_percent: float = 6.0) -> list[MatchReport]:
    """Lattice matches of a film facet on a support facet.

    Parameters
    ----------
    support, film
        Facet names, e.g. ``'rutile-110'`` and ``'RuO2-110'``.
    bulks
        Optional bulks (e.g. relaxed) by material name; missing ones come from the CIFs.
    max_area
        Largest support supercell area, Å².
    max_strain_percent
        Largest |f_i| in either direction, percent; the angle between the supercell
        vectors may differ by the same fraction (ZSL's relative angle tolerance).

    Returns
    -------
    list of MatchReport
        Sorted by area, then von Mises strain; equivalent matches (same area and strains
        up to 0.01) dropped.  ``natoms`` counts a model with 3 support layers and the
        default film layers.

    Raises
    ------
    InputError
        For bad names or limits, or when no match exists within the limits.
    """
    _check_limits(max_area, max_strain_percent)
    _check_bulks(bulks)
    sub = make_slab(support, bulk=_bulk_for(support, bulks), layers=1)
    flm = make_slab(film, bulk=_bulk_for(film, bulks), layers=1)
    matches = _match_cells(_inplane(sub), _inplane(flm), max_area, max_strain_percent)
    if not matches:
        raise InputError("max_strain_percent",
                         f"no lattice match of {film} on {support} within {max_strain_percent} % strain "
                         f"and {max_area} Å²", "a larger max_strain_percent or max_area")
    nfl = DEFAULT_FILM_LAYERS.get(film, 3)
    return [_report(support, [film], m, [len(sub) * DEFAULT_SUPPORT_LAYERS * round(np.linalg.det(m.sub_matrix)),
                                         len(flm) * nfl * round(np.linalg.det(m.film_matrix))],
                    DEFAULT_SUPPORT_LAYERS, [nfl]) for m in matches]


def _supercell(atoms: Atoms, matrix: np.ndarray) -> Atoms:
    p = np.eye(3, dtype=int)
    p[:2, :2] = matrix
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


def _translation_between(src: Atoms, dst: Atoms, cell: np.ndarray, tol: float = 0.3) -> np.ndarray | None:
    """In-plane shift t with ``src + t == dst`` as sets modulo ``cell`` (O onto O, cation onto cation)."""
    if len(src) != len(dst) or not len(src):
        return None
    ks, kd = _kinds(src), _kinds(dst)
    c2 = np.asarray(cell)[:2, :2]
    fs, fd = src.positions[:, :2] @ np.linalg.inv(c2), dst.positions[:, :2] @ np.linalg.inv(c2)
    i0 = int(np.argmin(ks))
    for j in np.flatnonzero(kd == ks[i0]):
        t = fd[j] - fs[i0]
        diff = fs[:, None, :] + t - fd[None, :, :]
        diff -= np.rint(diff)
        ok = (np.linalg.norm(diff @ c2, axis=-1) < tol) & (ks[:, None] == kd[None, :])
        if ok.any(axis=1).all() and ok.any(axis=0).all():
            return np.append(t @ c2, 0.0)
    return None


def _continuation_shift(lower: Atoms, upper: Atoms) -> np.ndarray | None:
    """Shift that puts the bottom layer of ``upper`` where the next layer of ``lower`` would be.

    Works when the film layer is the support layer with other cations (RuO2(110) on
    r-TiO2(110)): the layer-2 -> layer-1 translation of the top part of ``lower`` is applied
    once more.  Returns None when the film does not continue the lattice.
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
    """In-plane shift of ``upper`` that maximises the shortest distance across the interface."""
    zl, zu = lower.positions[:, 2], upper.positions[:, 2]
    a = lower[zl > zl.max() - 1.5].positions
    b = upper[zu < zu.min() + 1.5].positions + [0.0, 0.0, zl.max() + gap - zu.min()]
    cell = lower.cell[:2]
    images = np.array([i * cell[0] + j * cell[1] for i in (-1, 0, 1) for j in (-1, 0, 1)])
    best, best_d = np.zeros(3), -1.0
    for u in np.arange(n) / n:
        for v in np.arange(n) / n:
            t = u * cell[0] + v * cell[1]
            d = (b[:, None, None, :] + t + images[None, :, None, :]) - a[None, None, :, :]
            dmin = float(np.sqrt((d**2).sum(-1)).min())
            if dmin > best_d + 1e-6:
                best, best_d = t, dmin
    return best


def _layer_gap(lower: Atoms) -> float:
    """Vertical gap between layers 2 and 1 of the top part of ``lower`` (the lattice's own spacing)."""
    top_part = lower[lower.arrays["part"] == lower.arrays["part"].max()]
    z, layer = top_part.positions[:, 2], top_part.arrays["layer"]
    return float(z[layer == 1].min() - z[layer == 2].max())


def _stack(lower: Atoms, upper: Atoms, gap: float | None, top_extra: float) -> tuple[Atoms, str]:
    """Stack ``upper`` (strained to ``lower``'s in-plane cell) above ``lower``.

    The in-plane registry is the lattice continuation when the film continues the
    support's lattice ('epitaxial'), otherwise the shift that maximises the shortest
    distance across the interface ('max-min-distance'). ``gap=None`` takes the support's
    own inter-layer gap for an epitaxial film and :data:`DEFAULT_GAP` otherwise.
    """
    up = _tight(upper, top_extra)
    up.set_cell(np.vstack([lower.cell[:2], up.cell[2:]]), scale_atoms=True)
    shift = _continuation_shift(lower, up)
    registry = "epitaxial" if shift is not None else "max-min-distance"
    if gap is None:
        gap = _layer_gap(lower) if shift is not None else DEFAULT_GAP
    lo = _tight(lower, gap)
    if shift is None:
        shift = _maximin_shift(lo, up, gap)
    up.translate(shift)
    up.wrap()
    return stack(lo, up, axis=2, fix=0.0, maxstrain=None), registry


def make_interface(support: str, films: Sequence[str], *, bulks: dict[str, Atoms] | None = None,
                   max_area: float = 120.0, max_strain_percent: float = 6.0, support_layers: int = 3,
                   film_layers: Sequence[int] | None = None, vacuum: float = 12.0, gap: float | None = None,
                   fixed_layers: int = 1) -> tuple[Atoms, MatchReport]:
    """Build a lattice-matched film/support interface with the smallest match.

    Parameters
    ----------
    support
        ``'rutile-110'`` or ``'anatase-101'``.
    films
        ``['Ru-0001']``, ``['RuO2-110']`` (rutile only) or ``['RuO2-110', 'Ru-0001']``
        (rutile only: RuO2 matched on r-TiO2, then Ru on the RuO2/TiO2 in-plane cell).
    bulks
        Optional (relaxed) bulks by material name; missing ones come from the CIFs.
    max_area, max_strain_percent
        Limits of the lattice match (see :func:`find_matches`).
    support_layers
        Support layers (trilayers).
    film_layers
        Layers per film; default RuO2 1 trilayer, Ru 3 atomic layers.
    vacuum
        Vacuum above the outermost film (total, across the periodic boundary), Å.
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
        1 first film, 2 second film) and ``info["interface"] = report.to_dict()``.
        The report describes the model: final supercell matrices and area, atom counts;
        its strains are those of the first film on the support (the deformation does not
        depend on the supercell).  For two films, ``report.stack`` holds the two matches
        as found (RuO2 on r-TiO2; Ru on the RuO2/TiO2 cell, substrate matrix in support
        surface cells), with atom counts scaled to each match's area.

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
    interfacial Ti are six-fold.  Other
    films get the shift that maximises the shortest distance across the interface.
    """
    if isinstance(films, str):
        films = [films]
    films = list(films)
    allowed = "; ".join(f"{s}: " + ", ".join("[" + ", ".join(f) + "]" for f in fs) for s, fs in SUPPORTED.items())
    if support not in SUPPORTED:
        raise InputError("support", f"unsupported support {support!r}", ", ".join(SUPPORTED))
    if tuple(films) not in SUPPORTED[support]:
        raise InputError("films", f"unsupported films {films!r} on {support}", allowed)
    _check_limits(max_area, max_strain_percent)
    _check_bulks(bulks)
    if isinstance(support_layers, bool) or not isinstance(support_layers, (int, np.integer)) or support_layers < 1:
        raise InputError("support_layers", f"must be an integer >= 1, got {support_layers!r}", ">= 1")
    if film_layers is None:
        film_layers = [DEFAULT_FILM_LAYERS[f] for f in films]
    film_layers = list(film_layers)
    if len(film_layers) != len(films) or any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1
                                             for n in film_layers):
        raise InputError("film_layers", f"need one integer >= 1 per film, got {film_layers!r}",
                         f"{len(films)} integers >= 1")
    for key, value in (("vacuum", vacuum), ("gap", DEFAULT_GAP if gap is None else gap)):
        if not isinstance(value, (int, float, np.number)) or not math.isfinite(value) or value <= 0:
            raise InputError(key, f"must be a positive number of Å, got {value!r}", "> 0")
    if isinstance(fixed_layers, bool) or not isinstance(fixed_layers, (int, np.integer)) \
            or not 0 <= fixed_layers < support_layers:
        raise InputError("fixed_layers", f"must be in 0..support_layers-1 = 0..{support_layers - 1}, "
                         f"got {fixed_layers!r}", f"0..{support_layers - 1}")

    sub = make_slab(support, bulk=_bulk_for(support, bulks), layers=support_layers, vacuum=vacuum)
    fslabs = [make_slab(f, bulk=_bulk_for(f, bulks), layers=n, vacuum=vacuum) for f, n in zip(films, film_layers)]
    sub_cell = _inplane(sub)
    # chain of matches: film k on the in-plane cell of everything below it
    total = np.eye(2, dtype=int)  # current support supercell, in support surface cells
    found: list[_Match] = []  # each match as found, substrate matrix in support surface cells
    film_mats: list[np.ndarray] = []  # film supercells of the final model
    for f, fslab in zip(films, fslabs):
        base = np.hstack([total @ sub_cell[:, :2], np.zeros((2, 1))])
        matches = _match_cells(base, _inplane(fslab), max_area, max_strain_percent)
        if not matches:
            below = " / ".join([support, *films[: len(found)]])
            raise InputError("max_strain_percent", f"no lattice match of {f} on {below} within "
                             f"{max_strain_percent} % strain and {max_area} Å²",
                             "a larger max_strain_percent or max_area")
        m = matches[0]
        total = m.sub_matrix @ total
        film_mats = [m.sub_matrix @ fm for fm in film_mats] + [m.film_matrix]
        found.append(_Match(total, m.film_matrix, m.area, m.strain, m.von_mises))
    # build: support supercell, then each film in its final supercell, stacked upward
    parts = [_supercell(sub, total)] + [_supercell(fs, fm) for fs, fm in zip(fslabs, film_mats)]
    for k, p in enumerate(parts):
        p.arrays["part"] = np.full(len(p), k, dtype=int)
    atoms, registry = parts[0], []
    for p in parts[1:]:
        atoms, reg = _stack(atoms, p, gap, vacuum)
        registry.append(reg)
    atoms.translate([0.0, 0.0, vacuum / 2.0])
    atoms.wrap()
    atoms.pbc = True
    part, layer = atoms.arrays["part"], atoms.arrays["layer"]
    fixed = np.flatnonzero((part == 0) & (layer > support_layers - fixed_layers))
    atoms.set_constraint(FixAtoms(indices=fixed) if len(fixed) else None)
    atoms.set_tags(layer)
    natoms = [int((part == k).sum()) for k in range(len(parts))]
    final_area = found[-1].area
    top = _report(support, films, _Match(total, film_mats[0], final_area, found[0].strain, found[0].von_mises),
                  natoms, support_layers, film_layers)
    top.registry = registry
    if len(films) > 1:
        # per-film matches as found; atom counts scaled to each match's area
        top.stack = [_report(support, films[: k + 1], m, [round(n * m.area / final_area) for n in natoms[: k + 2]],
                             support_layers, film_layers[: k + 1]) for k, m in enumerate(found)]
    atoms.info = {"interface": top.to_dict()}
    return atoms, top


__all__ = ["MatchReport", "find_matches", "make_interface", "SUPPORTED", "DEFAULT_FILM_LAYERS"]
