"""Oxygen sites along the spillover path, for the O chemical-potential profile.

Five regions (docs/science.md, "Quantities"):

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
:func:`spillover.build.barriers.vacancy_sites`); interstitial and adsorbed O are added. Either way
``E_b = E(host with O) - E(host without it) - 1/2 E(O2)``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from ase import Atoms
from ase.build import make_supercell

from spillover.build.barriers import vacancy_sites
from spillover.build.sites import hollow_kinds
from spillover.build.symmetry import SYMPREC, point_orbits
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


def interstitial_sites(host: Atoms, symprec: float = SYMPREC) -> list[OxygenSite]:
    """Symmetry-distinct interstitial sites of a metal: Voronoi vertices, named by coordination.

    The holes of a close-packed metal are the vertices of its Voronoi diagram; a vertex with
    six nearest metal atoms is ``octahedral``, with four ``tetrahedral``. They are grouped into
    orbits of the host's operations (:func:`spillover.build.symmetry.point_orbits`).
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
    for members in point_orbits(host, frac @ cell, symprec=symprec):
        p = frac[members[0]] @ cell
        d = np.sort(np.linalg.norm(cloud - p, axis=1))
        coordination = int((d < d[0] + 0.1).sum())
        name = {6: "octahedral", 4: "tetrahedral"}.get(coordination, f"{coordination}-fold")
        out.append(OxygenSite("ru-bulk", name, "added", None, p.tolist(), None, [(frac[m] @ cell).tolist() for m in members]))
    return sorted(out, key=lambda s: s.site)


def hollow_sites(slab: Atoms, height: float = 1.3) -> list[OxygenSite]:
    """The hcp and fcc hollows of an hcp(0001) slab's top surface, one site of each kind.

    The hollows are pymatgen's AdsorbateSiteFinder's; a hollow with a second-layer atom right
    below it is ``hcp``, otherwise ``fcc`` (:func:`spillover.build.sites.hollow_kinds`). Each site
    stands for its orbit under the slab's operations that keep +z
    (:func:`spillover.build.symmetry.point_orbits`): every hollow of its kind on a clean
    hcp(0001) surface.
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
    found = finder.find_adsorption_sites(distance=height, positions=["hollow"], symm_reduce=0)["hollow"]
    hollows = np.asarray(found, dtype=float).reshape(-1, 3)
    kinds = hollow_kinds(hollows, slab.positions[slab.arrays["layer"] == 2], slab.cell)
    out: dict[str, OxygenSite] = {}
    for orbit in point_orbits(slab, hollows, keep_z=True):
        name = f"{kinds[orbit[0]]} hollow"
        out.setdefault(name, OxygenSite("ru-surface", name, "added", None, hollows[orbit[0]].tolist(), 1,
                                        [hollows[m].tolist() for m in orbit]))
    return [out[k] for k in sorted(out)]


def ru_supercell(bulk: Atoms, repeat: tuple[int, int, int]) -> Atoms:
    """An hcp Ru supercell ``repeat`` times the conventional cell."""
    if any(r < 1 for r in repeat):
        raise InputError("mu_profile.ru_supercell", f"entries must be >= 1, got {list(repeat)}")
    return make_supercell(bulk, np.diag(repeat))


SUPPORT_BULK = {"rutile-110": "rutile", "anatase-101": "anatase"}
#: Closest allowed distance (Å) between a defect and its periodic images.
MIN_IMAGE_DISTANCE_A = 5.0


def image_distance(atoms: Atoms, periodic: int = 3) -> float:
    """Shortest distance between a point and its periodic images (Å), over the first ``periodic`` cell vectors."""
    from ase.geometry import minkowski_reduce

    cell = np.asarray(atoms.cell)[:periodic]
    if periodic == 2:
        cell = cell[:, :2]
    reduced, _ = minkowski_reduce(cell, pbc=[True] * periodic) if periodic == 3 else (cell, None)
    combos = np.array(np.meshgrid(*[[-1, 0, 1]] * periodic)).reshape(periodic, -1).T
    lengths = np.linalg.norm(combos[np.any(combos != 0, axis=1)] @ reduced, axis=1)
    return float(lengths.min())


def in_plane_repeat(atoms: Atoms) -> tuple[int, int]:
    """Smallest in-plane repeat that puts a point defect at least 5 Å from its periodic images."""
    for n1, n2 in sorted(((i, j) for i in range(1, 6) for j in range(1, 6)), key=lambda ij: (ij[0] * ij[1], ij)):
        cell = np.asarray(atoms.cell).copy()
        cell[0] *= n1
        cell[1] *= n2
        probe = atoms.copy()
        probe.set_cell(cell)
        if image_distance(probe, 2) >= MIN_IMAGE_DISTANCE_A:
            return n1, n2
    raise InputError("mu_profile", "no in-plane repeat up to 5x5 keeps a defect 5 Å from its images")


def build_host(kind: str, bulk: Atoms, settings: dict, support: str | None = None) -> Atoms:
    """The host structure of one region, cut from ``bulk`` (pure function, also used at run time).

    Slabs and interfaces are repeated in plane (:func:`in_plane_repeat`) so that a defect is at
    least 5 Å from its images; the bulk and Ru supercells are the study's sizes.

    Parameters
    ----------
    kind
        ``support-slab``, ``bulk-supercell-<i>``, ``interface``, ``ru-supercell`` or ``ru-slab``.
    bulk
        The bulk to cut from (experimental or relaxed); for ``interface`` the interface model.
    settings
        The study's ``mu_profile`` settings as a dict.
    support
        Support facet for ``support-slab``.
    """
    from ase.build import make_supercell

    from spillover.build.slabs import make_slab

    if kind == "support-slab":
        args = {"layers": settings["slab_layers"], "vacuum": settings["vacuum"], "fixed_layers": settings["fixed_layers"]}
        repeat = in_plane_repeat(make_slab(support, bulk=bulk, **args))
        return make_slab(support, bulk=bulk, repeat=repeat, **args)
    if kind == "interface":
        n1, n2 = in_plane_repeat(bulk)
        return make_supercell(bulk, np.diag([n1, n2, 1])) if (n1, n2) != (1, 1) else bulk.copy()
    if kind.startswith("bulk-supercell-"):
        repeat = settings["bulk_supercells"][SUPPORT_BULK[support]][int(kind.rsplit("-", 1)[1])]
        return make_supercell(bulk, np.diag(repeat))
    if kind == "ru-supercell":
        return ru_supercell(bulk, tuple(settings["ru_supercell"]))
    if kind == "ru-slab":
        return make_slab("Ru-0001", bulk=bulk, repeat=tuple(settings["ru_surface_repeat"]),
                         layers=settings["ru_surface_layers"], vacuum=settings["vacuum"], fixed_layers=1)
    raise ValueError(f"unknown host kind {kind!r}")


HOST_FIELD = {"ru-supercell": "mu_profile.ru_supercell", "ru-slab": "mu_profile.ru_surface_repeat"}


def check_image_distance(host: Atoms, kind: str) -> None:
    """Raise InputError when a point defect in ``host`` would sit closer than 5 Å to its images.

    For slabs and interfaces only the in-plane cell vectors count.
    """
    distance = image_distance(host, 2 if "layer" in host.arrays else 3)
    if distance < MIN_IMAGE_DISTANCE_A - 1e-6:
        field = HOST_FIELD.get(kind, "mu_profile.bulk_supercells" if kind.startswith("bulk") else "mu_profile")
        raise InputError(field, f"supercell too small: a defect would be {distance:.2f} Å from its periodic image",
                         f"a supercell whose images are at least {MIN_IMAGE_DISTANCE_A} Å apart")


def _frac(host: Atoms, position: list[float]) -> list[float]:
    return np.linalg.solve(np.asarray(host.cell).T, np.asarray(position)).tolist()


def site_entries(host_kind: str, host: Atoms, settings: dict) -> list[dict]:
    if host_kind == "support-slab":
        found = support_slab_sites(host, settings["support_layers_probed"])
    elif host_kind.startswith("bulk-supercell-"):
        found = [bulk_vacancy_site(host)]
    elif host_kind == "interface":
        found = interface_sites(host)
    elif host_kind == "ru-supercell":
        found = interstitial_sites(host)
    else:
        found = hollow_sites(host)
    regions = set(settings["regions"])
    entries = []
    for s in found:
        if s.region not in regions:
            continue
        d = s.to_dict()
        d["frac"] = _frac(host, s.position)
        d["host"] = host_kind
        entries.append(d)
    return entries


def capped(entries: list[dict], per_layer: int | None) -> list[dict]:
    """At most ``per_layer`` sites per (region, host part/layer) group, in enumeration order."""
    if per_layer is None:
        return entries
    counts: dict[tuple, int] = {}
    kept = []
    for e in entries:
        key = (e["region"], e["site"].split(":")[0].split(" ")[0], e["layer"])
        if counts.get(key, 0) < per_layer:
            counts[key] = counts.get(key, 0) + 1
            kept.append(e)
    return kept
