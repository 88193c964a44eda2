"""Lattice-continuation sites of the interfacial O placement (spillover.build.oxidation), on study-sized cells."""

from __future__ import annotations

import numpy as np
import pytest
from ase.geometry import get_distances

from spillover.build.oxidation import (
    LATTICE_FILM_DIST,
    MIN_DIST_BELOW,
    MIN_DIST_LATTICE_O,
    MIN_OO,
    SITE_DEPTH,
    configurations,
    find_sites,
    lattice_sites,
)
from spillover.errors import InputError
from spillover.jobs.cells import cell_atoms
from spillover.sections.systems import CellSettings, LatticeMatchSettings

SYSTEMS = {
    "rutile/Ru": ("rutile-110", ["Ru-0001"]),
    "rutile/RuO2/Ru": ("rutile-110", ["RuO2-110", "Ru-0001"]),
    "anatase/Ru": ("anatase-101", ["Ru-0001"]),
}


@pytest.fixture(scope="module")
def hosts():
    cell, match = CellSettings().model_dump(), LatticeMatchSettings().model_dump()
    return {key: cell_atoms(support, films, cell, match)[0] for key, (support, films) in SYSTEMS.items()}


@pytest.fixture(scope="module")
def sites(hosts):
    return {key: find_sites(host, "interface") for key, host in hosts.items()}


def _dist(points, ref, host) -> np.ndarray:
    """Periodic distances (len(points) x len(ref), Å)."""
    return get_distances(np.reshape(points, (-1, 3)), np.reshape(ref, (-1, 3)), cell=host.cell, pbc=host.pbc)[1]


def _masks(host):
    part, layer = host.arrays["part"], host.arrays["layer"]
    is_o = np.array(host.get_chemical_symbols()) == "O"
    film = part == part.max()
    return part, layer, is_o, film, ~film & (part >= 0)


def _undercoordinated(host, cations) -> np.ndarray:
    """Indices of the given cations with fewer than 6 O within 2.4 Å (Ti5c-like)."""
    _, _, is_o, _, below = _masks(host)
    idx = np.flatnonzero(cations)
    n_o = (_dist(host.positions[idx], host.positions[below & is_o], host) < 2.4).sum(axis=1)
    return idx[n_o < 6]


def _lattice(s):
    return s.positions[[k == "lattice" for k in s.kinds]]


def test_rutile_lattice_sites_sit_atop_the_fivefold_ti(hosts, sites):
    host, s = hosts["rutile/Ru"], sites["rutile/Ru"]
    part, layer, is_o, _, below = _masks(host)
    ti1 = (part == 0) & (layer == 1) & ~is_o
    ti5c = _undercoordinated(host, ti1)
    assert 0 < len(ti5c) < ti1.sum()
    lat = _lattice(s)
    assert len(lat) == len(ti5c) == len(lattice_sites(host))
    d_ti = _dist(lat, host.positions[ti1], host)
    assert np.all((d_ti.min(axis=1) >= 1.8) & (d_ti.min(axis=1) <= 2.1))
    # one site per Ti5c, each on its own Ti5c
    nearest = np.flatnonzero(ti1)[d_ti.argmin(axis=1)]
    assert sorted(nearest.tolist()) == sorted(ti5c.tolist())
    assert _dist(lat, host.positions[below & is_o], host).min() >= MIN_DIST_LATTICE_O


def test_rutile_ruo2_stack_sites_sit_above_the_ruo2_layer(hosts, sites):
    host, s = hosts["rutile/RuO2/Ru"], sites["rutile/RuO2/Ru"]
    part, _, is_o, _, _ = _masks(host)
    ru_oxide = (part == 1) & ~is_o
    lat = _lattice(s)
    assert len(lat) == len(_undercoordinated(host, ru_oxide)) > 0
    d_ru = _dist(lat, host.positions[ru_oxide], host).min(axis=1)
    assert np.all((d_ru >= 1.8) & (d_ru <= 2.1))
    assert np.all(lat[:, 2] > host.positions[part == 1, 2].max())
    assert _dist(lat, host.positions[(part == 0) & ~is_o], host).min() > 3.0  # not on the Ti below


@pytest.mark.parametrize("key", list(SYSTEMS))
def test_every_interface_site_keeps_off_the_atoms_below(hosts, sites, key):
    host, s = hosts[key], sites[key]
    _, _, is_o, film, below = _masks(host)
    assert len(s) > 0 and set(s.kinds) <= {"fcc", "hcp", "lattice"}
    assert _dist(s.positions, host.positions[below & is_o], host).min() >= MIN_DIST_LATTICE_O - 1e-9
    assert _dist(s.positions, host.positions[below & ~is_o], host).min() >= MIN_DIST_BELOW - 1e-9
    # one rigid lift: hollows sit SITE_DEPTH under the lifted contact layer, lattice sites clear the film
    contact = film & (host.arrays["layer"] == host.arrays["layer"][film].max())
    hollow = np.array([k != "lattice" for k in s.kinds])
    assert np.allclose(s.positions[hollow, 2], host.positions[contact, 2].mean() + s.lift_A - SITE_DEPTH)
    lifted = host.positions[film] + [0.0, 0.0, s.lift_A]
    if (~hollow).any():
        assert _dist(s.positions[~hollow], lifted, host).min() >= LATTICE_FILM_DIST - 1e-6


def test_anatase_gives_lattice_sites_or_none_without_error(hosts, sites):
    host, s = hosts["anatase/Ru"], sites["anatase/Ru"]
    part, layer, is_o, _, _ = _masks(host)
    lat = _lattice(s)
    if len(lat):
        d_ti = _dist(lat, host.positions[(part == 0) & (layer == 1) & ~is_o], host).min(axis=1)
        assert np.all((d_ti >= 1.8) & (d_ti <= 2.1))


def test_no_period_means_no_lattice_sites():
    """A one-layer RuO2 film on a-TiO2(101): no layer below maps onto it, so only hollows (documented)."""
    host, _ = cell_atoms("anatase-101", ["RuO2-110", "Ru-0001"], CellSettings().model_dump(),
                         dict(LatticeMatchSettings().model_dump(), max_area_A2=180.0))
    assert len(lattice_sites(host)) == 0
    s = find_sites(host, "interface")
    assert len(s) > 0 and "lattice" not in s.kinds


def test_all_distinct_single_o_configurations_include_lattice_sites(hosts, sites):
    host, s = hosts["rutile/Ru"], sites["rutile/Ru"]
    confs = configurations(host, "interface", 1, None, sites=s)
    perms = np.array(s.permutations)
    orbits = {frozenset(int(i) for i in perms[:, k]) for k in range(len(s))}
    assert len(confs) == confs[0].n_distinct == len(orbits)
    assert {frozenset(int(i) for i in perms[:, c.site_indices[0]]) for c in confs} == orbits
    assert any(c.site_kinds == ["lattice"] for c in confs)
    # the int behaviour stays
    assert len(configurations(host, "interface", 1, 3, sites=s)) == 3
    with pytest.raises(InputError) as err:
        configurations(host, "interface", 1, 0, sites=s)
    assert err.value.field == "max_configs"


def test_add_oxygen_lifts_the_film_but_not_the_lattice_sites(hosts, sites):
    host, s = hosts["rutile/Ru"], sites["rutile/Ru"]
    _, _, _, film, _ = _masks(host)
    confs = configurations(host, "interface", 2, None, sites=s)
    assert len(confs) == confs[0].n_distinct
    mixed = [c for c in confs if "lattice" in c.site_kinds and set(c.site_kinds) != {"lattice"}]
    assert mixed
    for c in confs:
        atoms = c.atoms
        added = atoms.arrays["added_O"] == 1
        assert np.allclose(atoms.positions[added], s.positions[c.site_indices])
        assert atoms.get_distance(*np.flatnonzero(added), mic=True) >= MIN_OO
    atoms = mixed[0].atoms
    n = len(host)
    assert np.allclose(atoms.positions[:n][~film], host.positions[~film])
    assert np.allclose(atoms.positions[:n][film], host.positions[film] + [0.0, 0.0, s.lift_A])
