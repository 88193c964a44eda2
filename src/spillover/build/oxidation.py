"""Oxidation configurations of a Ru-film interface model: extra O at the buried interface or on the surface.

The host is an interface model of :func:`spillover.build.interfaces.make_interface` whose outermost
part is a Ru(0001) film (``arrays["part"]``: 0 support, 1, 2 films; ``arrays["layer"]``: 1 = top
layer of each part). Added O atoms get ``part = -1``, ``layer = 0`` and ``added_O = 1``.

Sites
-----
Surface (placement ``"surface"``)
    The threefold hollow sites (fcc and hcp) of the outer Ru surface found by pymatgen's
    :class:`~pymatgen.analysis.adsorption.AdsorbateSiteFinder` (Delaunay triangulation of the top
    layer), with the O :data:`SITE_DEPTH` above the surface plane.
Interface (placement ``"interface"``): the geometric rule
    Two families of sites, hollows under the film and lattice-continuation sites on the oxide.

    1. The *contact layer* is the bottom layer of the outermost (Ru) film, the Ru layer facing
       what lies below it (the support; the RuO2 film in the r-TiO2/RuO2/Ru stack).
    2. *Hollow sites* (kinds ``"fcc"``/``"hcp"``): the in-plane positions are the threefold hollows
       of the contact layer, the centroids of the Delaunay triangles of its atoms projected on the
       interface plane (periodic images included). They are the mirror images of the surface
       sites, so the O meets the same Ru coordination in both placements and only the environment
       differs. The O sits :data:`SITE_DEPTH` below the contact-layer plane and moves with the film.
    3. *Lattice sites* (kind ``"lattice"``): where the next O layer of the oxide below the film
       would sit if its lattice continued upward, e.g. atop the fivefold Ti (Ti5c) of r-TiO2(110),
       about 1.9-2.0 Å above the Ti. The *oxide column* is every atom with ``part >= 0`` below the
       outermost film (the support and an interlayer RuO2 film), grouped into layers by the stored
       ``part``/``layer`` arrays and ordered by height, top layer first (L0, L1, ...).
       The *period* is the smallest p in 1..:data:`LATTICE_MAX_PERIOD` for which one common
       translation t maps the cations (non-O atoms, any species, so RuO2 continues rutile) of L_p
       one-to-one onto those of L0 within :data:`LATTICE_TOL` (in-plane modulo the cell); among
       several such t the one that also maps the most O of L_p onto O of L0 is taken. The
       continued layer above L0 is L_(p-1) translated by t; its O atoms within
       :data:`LATTICE_BOND` of a cation of L0, above the highest O of L0 less
       :data:`LATTICE_ABOVE_TOP_O`, and not within :data:`LATTICE_OVERLAP` of an atom of the oxide
       column are the lattice sites. They stay on the oxide: the film lift does not move them.
       When no period is found (fewer than two oxide layers, or no translation of any of the
       first layers maps onto the top layer, as for a one-layer RuO2 film on a-TiO2(101)) there
       are no lattice sites, and only hollows are used.
    4. The outermost film is lifted rigidly by one common lift, the larger of the hollow lift
       ``max(0, z_below + CLEARANCE - z_O)`` (the hollow O layer at least :data:`CLEARANCE` above
       the topmost atom below the film) and the least lift that keeps every lattice site at least
       :data:`LATTICE_FILM_DIST` from every atom of the lifted film. The hollows' heights include
       that common lift.
    5. Sites (of both families) closer than :data:`MIN_DIST_LATTICE_O` to an O atom below the film
       (e.g. on top of a bridging O row of r-TiO2(110)), or closer than :data:`MIN_DIST_BELOW` to
       any other atom below the film, are dropped.
    The relaxation then finds the interfacial structure.
Full layer
    One O per Ru atom of the contact layer (1 ML on Ru(0001)).

Symmetry and combinations
-------------------------
Site sets are reduced with the label-preserving symmetry operations of the host that keep +z and
map the site list onto itself (:func:`spillover.build.symmetry.point_permutations`, tolerances
:data:`~spillover.build.symmetry.SYMPREC` and :data:`~spillover.build.symmetry.MATCH_TOL`): two
sets are equivalent when an operation maps one onto the other (hollow and lattice sites form one
list). A hollow is ``fcc`` or ``hcp`` by :func:`spillover.build.sites.hollow_kinds`. No two added O
atoms are closer than :data:`MIN_OO` (never in neighbouring fcc and hcp hollows; the rule holds for
hollow-lattice pairs too). All combinations are examined when there are at most
:data:`ENUMERATE_LIMIT`, otherwise :data:`SAMPLE_DRAWS` seeded random sequential fillings. Distinct
sets are ranked by their spread (mean nearest-neighbour O-O distance, largest first; then fcc
before hcp) and ``max_configs`` are taken evenly along the ranking: the most spread out, the most
clustered and evenly in between (for one O: fcc and hcp hollows); ``max_configs=None`` takes all.

The interface holds fewer O than the surface: hollows over the topmost atoms below the film are
dropped, so its capacity (:func:`available_sites`) is below one full layer on r-TiO2(110) and
a-TiO2(101); ``n`` runs up to the smaller of the full layer and both capacities.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms

from spillover.build.sites import hollow_kinds, in_plane_offsets
from spillover.build.symmetry import point_permutations
from spillover.errors import InputError

PLACEMENTS = ("interface", "surface")
#: Height of O above (surface) or below (interface) the Ru plane of its hollow (Å); O in the hcp
#: hollow of Ru(0001) sits about 1.2-1.3 Å above the top layer.
SITE_DEPTH = 1.25
#: Least height of the interfacial O layer above the topmost atom below the film (Å).
CLEARANCE = 1.2
#: Interface sites closer than this to a non-O atom below the film are dropped (Å).
MIN_DIST_BELOW = 1.8
#: Interface sites closer than this to an O atom below the film (lattice O) are dropped (Å).
MIN_DIST_LATTICE_O = 2.2
#: Largest layer period of the oxide column searched for lattice-continuation sites.
LATTICE_MAX_PERIOD = 4
#: Tolerance of the translation mapping the cations of one oxide layer onto the top one (Å).
LATTICE_TOL = 0.6
#: A continued-layer O is a lattice site only within this of a cation of the top layer (Å).
LATTICE_BOND = 2.3
#: ... and only above the highest O of the top layer less this (Å).
LATTICE_ABOVE_TOP_O = 0.3
#: ... and not within this of an atom of the oxide column (Å).
LATTICE_OVERLAP = 1.0
#: Least distance of a lattice site from the atoms of the lifted film (Å).
LATTICE_FILM_DIST = 1.9
#: Least O-O distance between added O atoms (Å); neighbouring fcc/hcp hollows are 1.56 Å apart.
MIN_OO = 2.0
#: Enumerate all n-site combinations up to this many; sample beyond.
ENUMERATE_LIMIT = 20000
#: Random sequential fillings drawn when combinations are sampled.
SAMPLE_DRAWS = 3000


@dataclass
class SiteSet:
    """Candidate O sites of one placement.

    Attributes
    ----------
    placement
        ``"interface"`` or ``"surface"``.
    positions
        Cartesian O positions (n_sites x 3, Å) in the frame of the configuration: interface hollows
        include the film lift, lattice sites sit on the oxide below, which does not move.
    kinds
        ``"fcc"`` or ``"hcp"`` per hollow (hcp: a Ru atom of the next film layer right behind it,
        :func:`spillover.build.sites.hollow_kinds`); ``"lattice"`` per lattice-continuation site.
    lift_A
        Rigid lift of the outermost film applied with these sites (Å; 0 for the surface).
    permutations
        The distinct site permutations induced by the host's operations that keep +z and map the
        sites onto themselves (identity first).
    """

    placement: str
    positions: np.ndarray
    kinds: list[str]
    lift_A: float = 0.0
    permutations: list[np.ndarray] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.positions)


@dataclass
class Configuration:
    """One oxidation configuration: which sites are filled, and the structure."""

    placement: str
    n_O: int
    index: int
    site_indices: list[int]
    site_kinds: list[str]
    atoms: Atoms
    n_distinct: int

    def metadata(self) -> dict:
        """JSON-safe description stored with the relaxation."""
        return {
            "placement": self.placement,
            "n_O": self.n_O,
            "config_index": self.index,
            "site_indices": list(self.site_indices),
            "site_kinds": list(self.site_kinds),
            "n_distinct": self.n_distinct,
        }


def _check_host(atoms: Atoms) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(atoms, Atoms) or "part" not in atoms.arrays or "layer" not in atoms.arrays:
        raise InputError("host", "needs an interface model with arrays 'part' and 'layer'", "make_interface output")
    part, layer = np.asarray(atoms.arrays["part"]), np.asarray(atoms.arrays["layer"])
    film = part == part.max()
    if part.max() < 1 or set(atoms[film].get_chemical_symbols()) != {"Ru"}:
        raise InputError("host", "the outermost part must be a Ru film", "an interface whose last film is Ru-0001")
    return part, layer


def _film_layers(atoms: Atoms) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Masks of the film, its top layer and its bottom (contact) layer."""
    part, layer = _check_host(atoms)
    film = part == part.max()
    top = film & (layer == layer[film].min())
    bottom = film & (layer == layer[film].max())
    return film, top, bottom


def full_layer(atoms: Atoms) -> int:
    """O atoms in one full layer: one per Ru atom of the film's contact layer."""
    return int(_film_layers(atoms)[2].sum())


def _hollows_2d(xy: np.ndarray, cell2: np.ndarray) -> np.ndarray:
    """In-plane centroids of the periodic Delaunay triangles of points ``xy`` (one per triangle)."""
    from scipy.spatial import Delaunay

    shifts = [i * cell2[0] + j * cell2[1] for i in (-1, 0, 1) for j in (-1, 0, 1)]
    pts = np.vstack([xy + s for s in shifts])
    tri = Delaunay(pts)
    cent = pts[tri.simplices].mean(axis=1)
    frac = np.linalg.solve(cell2.T, cent.T).T
    inside = np.all((frac > -1e-6) & (frac < 1 - 1e-6), axis=1)
    frac = frac[inside] % 1.0
    keep: list[np.ndarray] = []
    for f in frac:
        if not any(np.allclose((f - g + 0.5) % 1.0 - 0.5, 0, atol=1e-4) for g in keep):
            keep.append(f)
    return np.array(keep) @ cell2 if keep else np.zeros((0, 2))


def surface_sites(atoms: Atoms) -> SiteSet:
    """Hollow sites of the outer Ru surface (pymatgen's AdsorbateSiteFinder).

    Parameters
    ----------
    atoms
        Interface model whose outermost part is a Ru(0001) film.
    """
    from pymatgen.analysis.adsorption import AdsorbateSiteFinder
    from pymatgen.io.ase import AseAtomsAdaptor

    film, top, _ = _film_layers(atoms)
    layer = atoms.arrays["layer"]
    structure = AseAtomsAdaptor.get_structure(atoms)
    finder = AdsorbateSiteFinder(structure, mi_vec=(0.0, 0.0, 1.0), height=0.9)
    found = finder.find_adsorption_sites(distance=SITE_DEPTH, positions=["hollow"], symm_reduce=0, near_reduce=0.01)
    pos = np.array(found["hollow"], dtype=float).reshape(-1, 3)
    z_top = atoms.positions[top, 2].mean()
    if len(pos) == 0 or np.any(np.abs(pos[:, 2] - (z_top + SITE_DEPTH)) > 0.6):
        raise InputError("host", "AdsorbateSiteFinder found no hollow sites on the top Ru layer")
    cell2 = np.asarray(atoms.cell[:2, :2])
    second = film & (layer == layer[film].min() + 1)
    return SiteSet("surface", pos, hollow_kinds(pos, atoms.positions[second], cell2))


def _distances(points: np.ndarray, ref: np.ndarray, cell2: np.ndarray) -> np.ndarray:
    """Distances (len(points) x len(ref), Å), periodic in-plane, plain along z."""
    if len(points) == 0 or len(ref) == 0:
        return np.full((len(points), len(ref)), np.inf)
    inplane = in_plane_offsets(points, ref, cell2)
    dz = ref[None, :, 2] - points[:, None, 2]
    return np.sqrt((inplane**2).sum(-1) + dz**2)


def _oxide_layers(atoms: Atoms, below: np.ndarray) -> list[np.ndarray]:
    """Indices of the oxide column's layers (stored part/layer groups), highest first."""
    part, layer = atoms.arrays["part"], atoms.arrays["layer"]
    groups = [np.flatnonzero(below & (part == p) & (layer == l))
              for p, l in sorted({(int(p), int(l)) for p, l in zip(part[below], layer[below])})]
    return sorted(groups, key=lambda g: -float(atoms.positions[g, 2].mean()))


def _translations(src: np.ndarray, dst: np.ndarray, cell2: np.ndarray, tol: float) -> list[np.ndarray]:
    """Translations t mapping the points ``src`` one-to-one onto ``dst`` within ``tol`` (in-plane periodic)."""
    if len(src) == 0 or len(src) != len(dst):
        return []
    found: list[np.ndarray] = []
    for target in dst:
        t = target - src[0]
        d = _distances(src + t, dst, cell2)
        match = d.argmin(axis=1)
        if d[np.arange(len(src)), match].max() > tol or len(set(match.tolist())) != len(src):
            continue
        resid = np.column_stack([in_plane_offsets(src + t, dst, cell2)[np.arange(len(src)), match],
                                 dst[match, 2] - src[:, 2] - t[2]])
        found.append(t + resid.mean(axis=0))  # refined: the mean residual
    return found


def _matched(src: np.ndarray, dst: np.ndarray, cell2: np.ndarray, tol: float) -> int:
    """How many points of ``src`` lie within ``tol`` of a point of ``dst``."""
    if len(src) == 0 or len(dst) == 0:
        return 0
    return int((_distances(src, dst, cell2).min(axis=1) <= tol).sum())


def lattice_sites(atoms: Atoms) -> np.ndarray:
    """Lattice-continuation O sites on the oxide below the Ru film (rule 3 of the module), ``(n, 3)`` Å.

    Positions are in the host's frame (the oxide does not move with the film lift); empty when the
    oxide column has no period.
    """
    film, _, _ = _film_layers(atoms)
    part = atoms.arrays["part"]
    below = ~film & (part >= 0)
    none = np.zeros((0, 3))
    layers = _oxide_layers(atoms, below)
    if len(layers) < 2:
        return none
    cell2 = np.asarray(atoms.cell[:2, :2])
    pos = atoms.positions
    is_o = np.array(atoms.get_chemical_symbols()) == "O"
    top = layers[0]
    top_cat, top_o = top[~is_o[top]], top[is_o[top]]
    if len(top_cat) == 0:
        return none
    for p in range(1, min(LATTICE_MAX_PERIOD, len(layers) - 1) + 1):
        lp = layers[p]
        ts = _translations(pos[lp[~is_o[lp]]], pos[top_cat], cell2, LATTICE_TOL)
        if not ts:
            continue
        lp_o = pos[lp[is_o[lp]]]
        t = max(ts, key=lambda t: _matched(lp_o + t, pos[top_o], cell2, LATTICE_TOL))  # first of the best
        prev = layers[p - 1]
        cand = pos[prev[is_o[prev]]] + t
        if len(cand) == 0:
            return none
        z_min = (pos[top_o, 2].max() if len(top_o) else pos[top, 2].max()) - LATTICE_ABOVE_TOP_O
        keep = ((_distances(cand, pos[top_cat], cell2).min(axis=1) <= LATTICE_BOND)
                & (cand[:, 2] > z_min)
                & (_distances(cand, pos[below], cell2).min(axis=1) >= LATTICE_OVERLAP))
        out = cand[keep]
        frac = np.linalg.solve(cell2.T, out[:, :2].T).T % 1.0
        out[:, :2] = frac @ cell2
        return out
    return none


def _lattice_lift(sites: np.ndarray, film: np.ndarray, cell2: np.ndarray) -> float:
    """Least rigid lift of the film atoms keeping every site at least LATTICE_FILM_DIST from them."""
    if len(sites) == 0 or len(film) == 0:
        return 0.0
    dxy = np.linalg.norm(in_plane_offsets(sites, film, cell2), axis=-1)
    dz = film[None, :, 2] - sites[:, None, 2]
    close = dxy < LATTICE_FILM_DIST
    if not close.any():
        return 0.0
    need = np.sqrt(LATTICE_FILM_DIST**2 - dxy[close] ** 2) - dz[close]
    return max(0.0, float(need.max()))


def interface_sites(atoms: Atoms) -> SiteSet:
    """Hollow and lattice-continuation sites at the buried interface (the module's geometric rule)."""
    film, _, bottom = _film_layers(atoms)
    part, layer = atoms.arrays["part"], atoms.arrays["layer"]
    below = ~film & (part >= 0)
    cell2 = np.asarray(atoms.cell[:2, :2])
    xy = _hollows_2d(atoms.positions[bottom, :2], cell2)
    z_contact = atoms.positions[bottom, 2].mean()
    z_o = z_contact - SITE_DEPTH
    z_below = atoms.positions[below, 2].max() if below.any() else -np.inf
    lattice = lattice_sites(atoms)
    lift = max(0.0, z_below + CLEARANCE - z_o, _lattice_lift(lattice, atoms.positions[film], cell2))
    hollows = np.column_stack([xy, np.full(len(xy), z_o + lift)])
    second = film & (layer == layer[film].max() - 1)
    kinds = hollow_kinds(hollows, atoms.positions[second], cell2) + ["lattice"] * len(lattice)
    pos = np.vstack([hollows, lattice])
    # distances to the atoms below the film, periodic in-plane: lattice O and the others
    is_o = np.array(atoms.get_chemical_symbols()) == "O"
    d_o = _distances(pos, atoms.positions[below & is_o], cell2).min(axis=1, initial=np.inf)
    d_other = _distances(pos, atoms.positions[below & ~is_o], cell2).min(axis=1, initial=np.inf)
    ok = (d_o >= MIN_DIST_LATTICE_O) & (d_other >= MIN_DIST_BELOW)
    return SiteSet("interface", pos[ok], [k for k, keep in zip(kinds, ok) if keep], lift_A=float(lift))


def _site_permutations(host: Atoms, sites: SiteSet) -> list[np.ndarray]:
    """Permutations of ``sites`` induced by the host's operations that keep +z (identity first)."""
    return point_permutations(host, sites.positions, keep_z=True)


def find_sites(host: Atoms, placement: str) -> SiteSet:
    """Candidate sites of ``placement`` with the host's site permutations attached.

    Raises
    ------
    InputError
        Unknown placement or a host that is not an interface with an outer Ru film.
    """
    if placement not in PLACEMENTS:
        raise InputError("placement", f"unknown placement {placement!r}", ", ".join(PLACEMENTS))
    sites = interface_sites(host) if placement == "interface" else surface_sites(host)
    sites.permutations = _site_permutations(host, sites)
    return sites


def _pair_distances(sites: SiteSet, cell: np.ndarray) -> np.ndarray:
    d = sites.positions[:, None, :] - sites.positions[None, :, :]
    frac = np.linalg.solve(cell.T, d.reshape(-1, 3).T).T
    frac[:, :2] -= np.round(frac[:, :2])
    out = np.linalg.norm(frac @ cell, axis=1).reshape(len(sites), len(sites))
    np.fill_diagonal(out, np.inf)
    return out


def _canonical(combo: tuple[int, ...], perms: list[np.ndarray]) -> tuple[int, ...]:
    return min(tuple(sorted(int(p[i]) for i in combo)) for p in perms)


def _candidate_sets(ok: np.ndarray, n: int, kinds: list[str], seed: int) -> set[tuple[int, ...]]:
    """Site sets of size n whose members are pairwise compatible (``ok``)."""
    nsites = len(ok)
    found: set[tuple[int, ...]] = set()
    if n > nsites:
        return found
    if math.comb(nsites, n) <= ENUMERATE_LIMIT:
        for combo in itertools.combinations(range(nsites), n):
            if all(ok[i, j] for i, j in itertools.combinations(combo, 2)):
                found.add(combo)
        return found
    rng = np.random.default_rng(seed)
    by_kind = sorted(range(nsites), key=lambda i: (kinds[i], i))
    orders = [np.array(by_kind)] + [rng.permutation(nsites) for _ in range(SAMPLE_DRAWS)]
    for order in orders:
        chosen: list[int] = []
        for i in order:
            if all(ok[i, j] for j in chosen):
                chosen.append(int(i))
                if len(chosen) == n:
                    found.add(tuple(sorted(chosen)))
                    break
    return found


def max_filling(sites: SiteSet, cell: np.ndarray, seed: int = 0) -> int:
    """The largest number of O the sites hold with every O-O distance >= MIN_OO (greedy estimate)."""
    if len(sites) == 0:
        return 0
    ok = _pair_distances(sites, cell) >= MIN_OO
    rng = np.random.default_rng(seed)
    best = 0
    orders = [np.array(sorted(range(len(sites)), key=lambda i: (sites.kinds[i], i)))]
    orders += [rng.permutation(len(sites)) for _ in range(200)]
    for order in orders:
        chosen: list[int] = []
        for i in order:
            if all(ok[i, j] for j in chosen):
                chosen.append(int(i))
        best = max(best, len(chosen))
    return best


def _spread(combo: tuple[int, ...], dist: np.ndarray) -> float:
    if len(combo) < 2:
        return 0.0
    sub = dist[np.ix_(combo, combo)]
    return float(sub.min(axis=1).mean())


def add_oxygen(host: Atoms, sites: SiteSet, indices: list[int]) -> Atoms:
    """The host with O atoms at ``sites.positions[indices]`` (film lifted for interface sites).

    The site positions are final (hollows in the lifted frame, lattice sites on the oxide, which
    does not move); only the outermost film is moved, by ``sites.lift_A``.
    """
    atoms = host.copy()
    film = atoms.arrays["part"] == atoms.arrays["part"].max()
    if sites.lift_A:
        atoms.positions[film] += [0.0, 0.0, sites.lift_A]
    atoms.arrays["added_O"] = np.zeros(len(atoms), dtype=int)
    n = len(indices)
    extra = Atoms("O" * n, positions=sites.positions[list(indices)])
    extra.arrays["layer"] = np.zeros(n, dtype=int)
    extra.arrays["part"] = np.full(n, -1, dtype=int)
    extra.arrays["added_O"] = np.ones(n, dtype=int)
    extra.set_tags(0)
    atoms.extend(extra)
    return atoms


def configurations(
    host: Atoms, placement: str, n_O: int, max_configs: int | None, sites: SiteSet | None = None, seed: int = 0
) -> list[Configuration]:
    """Symmetry-distinct configurations with ``n_O`` extra O atoms at ``placement``.

    Parameters
    ----------
    host
        The clean interface model (relaxed), with ``part``/``layer`` arrays and its constraints.
    placement
        ``"interface"`` or ``"surface"``.
    n_O
        Extra O atoms, 1 .. available sites.
    max_configs
        At most this many configurations (taken evenly along the spread ranking); ``None``: all
        symmetry-distinct configurations, in ranking order.
    sites
        Precomputed :func:`find_sites` of the same host and placement.
    seed
        Seed of the random fillings used when there are too many combinations to enumerate.

    Returns
    -------
    list of Configuration
        Empty when no set of ``n_O`` sites respects the O-O distance.

    Raises
    ------
    InputError
        ``n_O`` < 1 or larger than the number of sites, or ``max_configs`` < 1 (and not None).
    """
    sites = sites or find_sites(host, placement)
    if isinstance(n_O, bool) or not isinstance(n_O, (int, np.integer)) or n_O < 1:
        raise InputError("n_O", f"must be an integer >= 1, got {n_O!r}", ">= 1")
    if n_O > len(sites):
        raise InputError("n_O", f"{n_O} O atoms exceed the {len(sites)} {placement} sites", f"1..{len(sites)}")
    if max_configs is not None and (
        isinstance(max_configs, bool) or not isinstance(max_configs, (int, np.integer)) or max_configs < 1
    ):
        raise InputError("max_configs", f"must be an integer >= 1, got {max_configs!r}", ">= 1")
    cell = np.asarray(host.cell)
    dist = _pair_distances(sites, cell)
    ok = dist >= MIN_OO
    distinct = {_canonical(c, sites.permutations) for c in _candidate_sets(ok, n_O, sites.kinds, seed)}
    ranked = sorted(distinct, key=lambda c: (-round(_spread(c, dist), 3), [sites.kinds[i] for i in c], c))
    if not ranked:
        return []
    if max_configs is None:
        picks = list(range(len(ranked)))
    else:
        picks = sorted({int(round(x)) for x in np.linspace(0, len(ranked) - 1, min(max_configs, len(ranked)))})
    out = []
    for k, i in enumerate(picks):
        combo = list(ranked[i])
        out.append(Configuration(placement, int(n_O), k, combo, [sites.kinds[j] for j in combo],
                                 add_oxygen(host, sites, combo), len(ranked)))
    return out


def available_sites(host: Atoms) -> dict[str, int]:
    """How many O each placement can take (greedy filling, capped at one full layer), and the full layer."""
    cell = np.asarray(host.cell)
    full = full_layer(host)
    out = {"full_layer": full}
    for placement in PLACEMENTS:
        sites = interface_sites(host) if placement == "interface" else surface_sites(host)
        out[f"{placement}_sites"] = len(sites)
        out[placement] = min(full, max_filling(sites, cell))
    return out


__all__ = [
    "PLACEMENTS", "SiteSet", "Configuration", "find_sites", "interface_sites", "lattice_sites", "surface_sites",
    "configurations", "add_oxygen", "available_sites", "full_layer", "max_filling",
]
