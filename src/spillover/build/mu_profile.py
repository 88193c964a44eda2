"""Oxygen sites along the spillover path, in each system's own interface cell (docs/science.md, "Quantities").

Occupied lattice sites are vacated, empty sites filled:

``support``
    every symmetry-distinct O of support layers 1..L, counted from the interface (vacancies);
``interlayer``
    every symmetry-distinct O of the oxide films (the interfacial RuO2) (vacancies);
``interface``, ``ru-surface``
    the interfacial and outer-surface O sites of :mod:`spillover.build.oxidation` (n = 1);
``ru-interstitial``
    octahedral and tetrahedral holes between the Ru layers of the film (:mod:`spillover.build.film_sites`);
``bulk-reference``
    a vacancy in a bulk supercell of the support, two sizes (the deep limit and its finite-size change);
``bare-slab``
    vacancies of a bare support slab, a labelled comparison only.

For an occupied site ``E_b = E(cell) - E(cell without that O) - 1/2 E(O2)``, for an empty one
``E_b = E(cell with O) - E(cell) - 1/2 E(O2)``; O moves towards lower E_b.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from ase import Atoms
from spillover.build.barriers import vacancy_sites
from spillover.errors import InputError

REGIONS = ("support", "interlayer", "interface", "ru-interstitial", "ru-surface", "bulk-reference", "bare-slab")
#: Distance (Å) between a defect of the cell and its in-plane images below which the table says so.
PROFILE_IMAGE_DISTANCE_A = 6.0


@dataclass
class OxygenSite:
    """One symmetry-distinct O site of a region.

    Attributes
    ----------
    region
        One of :data:`REGIONS`.
    site
        Short label, e.g. ``'L2:O14'``, ``'RuO2 O131'``, ``'bulk 3x3x4'``, ``'outermost O'``.
    kind
        ``'vacancy'`` (a lattice O removed from the host) or ``'added'`` (O put into the host).
    index
        Host index of the removed O (vacancies), else ``None``.
    position
        Cartesian position of the O (Å).
    layer
        Layer of the site (support: 1 = at the interface; bare slab: 1 = outermost), ``None`` where
        layers do not apply.
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
        return host, without_atom(host, site.index)
    with_o = host.copy()
    with_o += Atoms("O", positions=[site.position])
    for key in ("layer", "part"):
        if key in host.arrays:  # the added O belongs to the top layer of its part
            with_o.arrays[key][-1] = 1 if key == "layer" else host.arrays["part"].max()
    return with_o, host


def cell_vacancy_sites(cell: Atoms, depth: int) -> list[OxygenSite]:
    """Symmetry-distinct lattice O of an interface cell: support layers 1..``depth`` and the oxide films.

    Support layers count from the interface (the cell's ``layer`` array, part 0); every O of a film
    part (the interfacial RuO2) is an ``interlayer`` site. The cell's operations (the film on top
    breaks most of the support's) reduce the sites.

    Raises
    ------
    InputError
        ``depth`` exceeds the support layers that are not fixed.
    """
    from spillover.schemas import fixed_indices

    layer, part = cell.arrays["layer"], cell.arrays["part"]
    fixed = set(fixed_indices(cell))
    free = sorted({int(layer[i]) for i in range(len(cell)) if part[i] == 0 and i not in fixed})
    if depth < 1 or free[:depth] != list(range(1, depth + 1)):
        raise InputError("mu_profile.support_layers_probed",
                         f"L = {depth} but the cell has {len(free)} support layers that are not fixed",
                         f"1..{len(free)} (or raise cell.support_layers)")
    symbols = cell.get_chemical_symbols()
    oxide_parts = {int(p) for p, sym in zip(part, symbols) if p > 0 and sym == "O"}

    def allow(k: int) -> bool:
        return bool((part[k] == 0 and layer[k] <= depth) or int(part[k]) in oxide_parts)

    out = []
    for s in vacancy_sites(cell, "O", allow=allow):
        if s.part == 0:
            out.append(OxygenSite("support", f"L{s.layer}:O{s.index}", "vacancy", s.index,
                                  cell.positions[s.index].tolist(), s.layer, s.equivalent))
        else:
            out.append(OxygenSite("interlayer", f"RuO2 O{s.index}", "vacancy", s.index,
                                  cell.positions[s.index].tolist(), s.layer, s.equivalent))
    return out


def without_atom(atoms: Atoms, index: int) -> Atoms:
    """A copy of ``atoms`` with atom ``index`` removed (arrays and fixed atoms follow).

    The Ti that were bonded to it start with a magnetic moment (:mod:`spillover.build.magmoms`).
    """
    from spillover.build.magmoms import with_vacancy_moments

    out = atoms.copy()
    del out[index]
    return with_vacancy_moments(out, [atoms.positions[index]])


def support_slab_sites(slab: Atoms, depth: int) -> list[OxygenSite]:
    """O vacancy sites of a bare support slab, layers 1..``depth`` (1 = outermost): the comparison.

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
            f"L = {depth} but the bare support slab has {len(free_layers)} free layers",
            f"1..{len(free_layers)} (raise mu_profile.slab_layers)",
        )
    sites = vacancy_sites(slab, "O", allow=lambda k: layers[k] <= depth)
    z = slab.positions[:, 2]
    top = max((s for s in sites if s.layer == 1), key=lambda s: z[s.index])
    return [OxygenSite("bare-slab", "outermost O" if s is top else f"L{s.layer}:O{s.index}", "vacancy", s.index,
                       slab.positions[s.index].tolist(), s.layer, s.equivalent) for s in sites]


def bulk_vacancy_site(bulk: Atoms, name: str = "bulk") -> OxygenSite:
    """The O vacancy of a bulk supercell (all O equivalent in rutile and anatase)."""
    sites = vacancy_sites(bulk, "O")
    if len(sites) != 1:
        raise InputError("mu_profile", f"expected one distinct O site in the bulk, found {len(sites)}")
    s = sites[0]
    return OxygenSite("bulk-reference", name, "vacancy", s.index, bulk.positions[s.index].tolist(), None, s.equivalent)


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


def build_host(kind: str, bulk: Atoms, settings: dict, support: str) -> Atoms:
    """The bare slab (``support-slab``) or bulk supercell (``bulk-supercell-<i>``) of a support, cut from ``bulk``.

    A pure function, used on the CIF bulk when the flow is planned and on the relaxed bulk at run time.
    The bare slab is repeated in plane (:func:`in_plane_repeat`) so that a vacancy is at least 5 Å from
    its images; the bulk supercells are the study's sizes.
    """
    from ase.build import make_supercell

    from spillover.build.slabs import make_slab

    if kind == "support-slab":
        args = {"layers": settings["slab_layers"], "vacuum": settings["vacuum"], "fixed_layers": settings["fixed_layers"]}
        repeat = in_plane_repeat(make_slab(support, bulk=bulk, **args))
        return make_slab(support, bulk=bulk, repeat=repeat, **args)
    if kind.startswith("bulk-supercell-"):
        repeat = settings["bulk_supercells"][SUPPORT_BULK[support]][int(kind.rsplit("-", 1)[1])]
        return make_supercell(bulk, np.diag(repeat))
    raise ValueError(f"unknown host kind {kind!r}")


def check_image_distance(host: Atoms, kind: str) -> None:
    """Raise InputError when a vacancy in a bare slab or bulk supercell would sit closer than 5 Å to its images."""
    distance = image_distance(host, 2 if "layer" in host.arrays else 3)
    if distance < MIN_IMAGE_DISTANCE_A - 1e-6:
        field = "mu_profile.bulk_supercells" if kind.startswith("bulk") else "mu_profile"
        raise InputError(field, f"supercell too small: a defect would be {distance:.2f} Å from its periodic image",
                         f"a supercell whose images are at least {MIN_IMAGE_DISTANCE_A} Å apart")


def _frac(host: Atoms, position: list[float]) -> list[float]:
    return np.linalg.solve(np.asarray(host.cell).T, np.asarray(position)).tolist()


def site_entries(host_kind: str, host: Atoms, settings: dict, name: str = "bulk") -> list[dict]:
    """The vacancy sites of a bare slab or bulk supercell host as JSON-safe dicts (with ``frac`` and ``host``)."""
    found = (support_slab_sites(host, settings["support_layers_probed"]) if host_kind == "support-slab"
             else [bulk_vacancy_site(host, name)])
    entries = []
    for s in found:
        d = s.to_dict()
        d["frac"] = _frac(host, s.position)
        d["host"] = host_kind
        entries.append(d)
    return entries
