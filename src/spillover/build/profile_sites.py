"""Oxygen sites along the spillover path, for the O chemical-potential profile.

Five regions (SCIENCE.md, "O binding energy"):

``support-surface``
    the outermost O of the bare support slab (bridging O of r-TiO2(110), two-fold O of a-TiO2(101));
``support-bulk``
    every other symmetry-distinct O site of the support slab down to layer L, and a vacancy in a
    bulk supercell as the deep-bulk limit;
``interface``
    O of the interfacial RuO2 layer and of the support's top layer under the film (rutile: the
    r-TiO2/RuO2/Ru stack; anatase: the Ru/a-TiO2 interface);
``ru-bulk``
    octahedral and tetrahedral interstitial O in an hcp Ru supercell;
``ru-surface``
    O in the hcp and fcc hollows of Ru(0001) at 0.25 ML (2x2 cell).

Lattice O sites are removed (vacancies, reduced by symmetry with
:func:`spillover.build.hops.vacancy_sites`); interstitial and adsorbed O are added. Either way
``E_b = E(host with O) - E(host without it) - 1/2 E(O2)``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from ase import Atoms
from ase.build import make_supercell

from spillover.build.hops import vacancy_sites
from spillover.errors import InputError

REGIONS = ("support-surface", "support-bulk", "interface", "ru-bulk", "ru-surface")


@dataclass
class OxygenSite:
    """One symmetry-distinct O site of a region.

    Attributes
    ----------
    region
        One of :data:`REGIONS`.
    site
        Short label, e.g. ``'L2:O14'``, ``'bridging O'``, ``'octahedral'``, ``'hcp hollow'``.
    kind
        ``'vacancy'`` (a lattice O removed from the host) or ``'added'`` (O put into the host).
    index
        Host index of the removed O (vacancies), else ``None``.
    position
        Cartesian position of the O (Å).
    layer
        Layer of the site (1 = outermost), ``None`` where layers do not apply.
    equivalent
        Host indices (vacancies) or positions (added O) the site stands for, itself first.
    """

    region: str
    site: str
    kind: str
    index: int | None
    position: list[float]
    layer: int | None = None
    equivalent: list = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-safe dictionary."""
        return asdict(self)


def with_site(host: Atoms, site: OxygenSite) -> tuple[Atoms, Atoms]:
    """The pair (host with the O, host without it) for one site.

    Returns
    -------
    tuple
        ``(with_O, without_O)``; for a vacancy the host is the one *with* the O.
    """
    if site.kind == "vacancy":
        without = host.copy()
        del without[site.index]
        return host, without
    with_o = host.copy()
    with_o += Atoms("O", positions=[site.position])
    for key in ("layer", "part"):
        if key in host.arrays:  # the added O belongs to the top layer of its part
            with_o.arrays[key][-1] = 1 if key == "layer" else host.arrays["part"].max()
    return with_o, host


def support_slab_sites(slab: Atoms, depth: int) -> list[OxygenSite]:
    """Surface and sub-surface O vacancy sites of a support slab, layers 1..``depth``.

    The ``support-surface`` site is the outermost O (largest z of layer 1); every other
    symmetry-distinct O of layers 1..``depth`` is a ``support-bulk`` site of its layer.

    Raises
    ------
    InputError
        ``depth`` exceeds the free (not fixed) layers of the slab.
    """
    from spillover.schemas import fixed_indices

    layers = slab.arrays["layer"]
    fixed = set(fixed_indices(slab))
    free_layers = sorted({int(layers[i]) for i in range(len(slab)) if i not in fixed})
    if depth < 1 or depth > len(free_layers):
        raise InputError(
            "mu_profile.support_layers_probed",
            f"L = {depth} but the support slab has {len(free_layers)} free layers",
            f"1..{len(free_layers)} (raise mu_profile.slab_layers)",
        )
    sites = vacancy_sites(slab, "O", allow=lambda k: layers[k] <= depth)
    z = slab.positions[:, 2]
    top = max((s for s in sites if s.layer == 1), key=lambda s: z[s.index])
    out = []
    for s in sites:
        region = "support-surface" if s is top else "support-bulk"
        label = "outermost O" if s is top else f"L{s.layer}:O{s.index}"
        out.append(OxygenSite(region, label, "vacancy", s.index, slab.positions[s.index].tolist(), s.layer, s.equivalent))
    return out


def bulk_vacancy_site(bulk: Atoms) -> OxygenSite:
    """The O vacancy of a bulk supercell (all O equivalent in rutile and anatase)."""
    sites = vacancy_sites(bulk, "O")
    if len(sites) != 1:
        raise InputError("mu_profile", f"expected one distinct O site in the bulk, found {len(sites)}")
    s = sites[0]
    return OxygenSite("support-bulk", "bulk limit", "vacancy", s.index, bulk.positions[s.index].tolist(), None, s.equivalent)


def interface_sites(interface: Atoms) -> list[OxygenSite]:
    """O vacancy sites at the buried interface: the support's top layer and the oxide film.

    In the r-TiO2/RuO2/Ru stack these are the O of the interfacial RuO2 layer (part 1, both its
    oxide/oxide and oxide/metal side) and of the TiO2 layer beneath it; at Ru/a-TiO2 the O of
    the support's top layer under the Ru.
    """
    part, layer = interface.arrays["part"], interface.arrays["layer"]
    film_oxide = {int(p) for p, s in zip(part, interface.get_chemical_symbols()) if p > 0 and s == "O"}

    def allow(k: int) -> bool:
        return (part[k] == 0 and layer[k] == 1) or int(part[k]) in film_oxide

    out = []
    for s in vacancy_sites(interface, "O", allow=allow):
        name = "TiO2" if s.part == 0 else "RuO2"
        out.append(
            OxygenSite("interface", f"{name} L{s.layer}:O{s.index}", "vacancy", s.index,
                       interface.positions[s.index].tolist(), s.layer, s.equivalent)
        )
    return out


def _orbits(host: Atoms, points: np.ndarray, symprec: float = 0.05) -> list[list[int]]:
    """Group fractional ``points`` into orbits of the host's space group (spglib)."""
    import spglib

    cell = (np.asarray(host.cell), host.get_scaled_positions(), host.numbers)
    ops = spglib.get_symmetry(cell, symprec=symprec)
    groups: list[list[int]] = []
    assigned = -np.ones(len(points), dtype=int)
    for i, p in enumerate(points):
        if assigned[i] >= 0:
            continue
        images = (ops["rotations"] @ p) + ops["translations"]
        diff = images[:, None, :] - points[None, :, :]
        diff -= np.rint(diff)
        hit = np.flatnonzero((np.linalg.norm(diff @ np.asarray(host.cell), axis=-1) < 0.05).any(axis=0))
        members = [int(j) for j in hit if assigned[j] < 0]
        assigned[members] = len(groups)
        groups.append(members)
    return groups


def interstitial_sites(host: Atoms, symprec: float = 0.05) -> list[OxygenSite]:
    """Symmetry-distinct interstitial sites of a metal: Voronoi vertices, named by coordination.

    The holes of a close-packed metal are the vertices of its Voronoi diagram; a vertex with
    six nearest metal atoms is ``octahedral``, with four ``tetrahedral``.
    """
    from scipy.spatial import Voronoi

    cell = np.asarray(host.cell)
    shifts = np.array([[i, j, k] for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)]) @ cell
    cloud = (host.positions[None, :, :] + shifts[:, None, :]).reshape(-1, 3)
    vertices = Voronoi(cloud).vertices
    frac = np.linalg.solve(cell.T, vertices.T).T
    frac = frac[np.all((frac > -0.01) & (frac < 1.01), axis=1)]
    frac = np.round(frac, 4) % 1.0 % 1.0  # the second % maps a rounded 1.0 back to 0
    _, keep = np.unique(np.round(frac, 3), axis=0, return_index=True)
    frac = frac[np.sort(keep)]
    out = []
    for members in _orbits(host, frac, symprec):
        p = frac[members[0]] @ cell
        d = np.sort(np.linalg.norm(cloud - p, axis=1))
        coordination = int((d < d[0] + 0.1).sum())
        name = {6: "octahedral", 4: "tetrahedral"}.get(coordination, f"{coordination}-fold")
        out.append(OxygenSite("ru-bulk", name, "added", None, p.tolist(), None, [(frac[m] @ cell).tolist() for m in members]))
    return sorted(out, key=lambda s: s.site)


def hollow_sites(slab: Atoms, height: float = 1.3) -> list[OxygenSite]:
    """The hcp and fcc hollows of an hcp(0001) slab's top surface (pymatgen AdsorbateSiteFinder).

    A hollow with a second-layer atom straight below it is ``hcp``, otherwise ``fcc``.
    """
    from pymatgen.analysis.adsorption import AdsorbateSiteFinder
    from pymatgen.core.surface import Slab
    from pymatgen.io.ase import AseAtomsAdaptor

    structure = AseAtomsAdaptor.get_structure(slab)
    pmg_slab = Slab(
        structure.lattice, structure.species, structure.frac_coords, miller_index=(0, 0, 1),
        oriented_unit_cell=structure, shift=0, scale_factor=np.eye(3), site_properties=structure.site_properties,
    )
    finder = AdsorbateSiteFinder(pmg_slab, selective_dynamics=False)
    hollows = finder.find_adsorption_sites(distance=height, positions=["hollow"], symm_reduce=0.01)["hollow"]
    layer = slab.arrays["layer"]
    second = slab.positions[layer == 2]
    cell2 = np.asarray(slab.cell)[:2, :2]
    out: dict[str, OxygenSite] = {}
    for p in hollows:
        diff = second[:, :2] - p[:2]
        frac = np.linalg.solve(cell2.T, diff.T).T
        frac -= np.rint(frac)
        below = (np.linalg.norm(frac @ cell2, axis=1) < 0.3).any()
        name = "hcp hollow" if below else "fcc hollow"
        out.setdefault(name, OxygenSite("ru-surface", name, "added", None, np.asarray(p).tolist(), 1, [np.asarray(p).tolist()]))
    return [out[k] for k in sorted(out)]


def ru_supercell(bulk: Atoms, repeat: tuple[int, int, int]) -> Atoms:
    """An hcp Ru supercell ``repeat`` times the conventional cell."""
    if any(r < 1 for r in repeat):
        raise InputError("mu_profile.ru_supercell", f"entries must be >= 1, got {list(repeat)}")
    return make_supercell(bulk, np.diag(repeat))
