"""Octahedral and tetrahedral holes between the layers of the outermost hcp(0001) film."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pytest
from ase import Atoms

from spillover.build.film_sites import film_interstitial_sites
from spillover.build.sites import in_plane_offsets
from spillover.build.slabs import make_slab
from spillover.jobs.cells import cell_atoms
from spillover.sections.systems import CellSettings, LatticeMatchSettings


def _ru_film(repeat: tuple[int, int], layers: int) -> Atoms:
    slab = make_slab("Ru-0001", repeat=repeat, layers=layers, vacuum=4.0, fixed_layers=min(1, layers - 1))
    slab.arrays["part"] = np.ones(len(slab), dtype=int)
    return slab


@pytest.fixture(scope="module", params=[["Ru-0001"], ["RuO2-110", "Ru-0001"]], ids=["Ru", "RuO2-Ru"])
def interface(request) -> Atoms:
    """rutile-110/[RuO2-110/]Ru-0001 with 3 Ru layers, <= 60 Å^2: 10 Ru per layer, strained ~6.7 % along one vector."""
    films = request.param
    cell = CellSettings(support_layers=2, film_layers={"Ru-0001": 3, "RuO2-110": 1}, vacuum=5.0, gap=None,
                        fixed_layers=1).model_dump()
    limits = LatticeMatchSettings(max_area_A2=60, max_strain_percent=8).model_dump()
    atoms, _ = cell_atoms("rutile-110", films, cell, limits)
    return atoms


def _distances(atoms: Atoms, point) -> np.ndarray:
    """Sorted distances (Å) from ``point`` to the atoms, periodic in-plane, plain along z."""
    pos = atoms.positions
    inplane = in_plane_offsets(np.array([point]), pos, atoms.cell)[0]
    return np.sort(np.sqrt((inplane**2).sum(-1) + (pos[:, 2] - point[2]) ** 2))


def _kind(site) -> str:
    return site.site.split()[1]


def _holes_per_gap(sites) -> dict:
    """(gap, kind) -> holes (the orbit sizes summed)."""
    holes: Counter = Counter()
    for s in sites:
        holes[(s.layer, _kind(s))] += len(s.equivalent)
    return dict(holes)


def _in_plane(point, pos: np.ndarray, cell) -> np.ndarray:
    """Sorted in-plane distances (Å) from ``point`` to ``pos``, periodic."""
    return np.sort(np.linalg.norm(in_plane_offsets(np.array([point]), pos, cell)[0], axis=-1))


def _film(atoms: Atoms) -> np.ndarray:
    return atoms.arrays["part"] == atoms.arrays["part"].max()


def _layer_z(atoms: Atoms, number: int) -> float:
    return float(atoms.positions[_film(atoms) & (atoms.arrays["layer"] == number), 2].mean())


def _check_labels(sites) -> None:
    assert all(s.region == "ru-interstitial" and s.kind == "added" and s.index is None for s in sites)
    assert len({s.site for s in sites}) == len(sites)
    assert all(re.fullmatch(rf"gap{s.layer} (octahedral|tetrahedral)( #\d+)?", s.site) for s in sites)
    keys = [(s.layer, _kind(s), int(s.site.split("#")[1]) if "#" in s.site else 0) for s in sites]
    assert keys == sorted(keys)
    assert all(np.allclose(s.position, s.equivalent[0]) for s in sites)


def test_ideal_ru_0001_film_has_one_octahedral_and_two_tetrahedral_holes_per_atom_in_each_gap():
    # 2x2 Ru(0001), 3 layers: 4 atoms per layer, 2 gaps; per gap 4 octahedral and 4 + 4 tetrahedral holes.
    # The slab's operations (no part/layer mixing) map all holes of one kind and height onto each other:
    # one octahedral orbit of 4 and two tetrahedral orbits of 4 (the one above the lower layer's atoms and
    # the one below the upper layer's atoms) per gap.
    slab = _ru_film((2, 2), 3)
    sites = film_interstitial_sites(slab)
    _check_labels(sites)
    assert _holes_per_gap(sites) == {(1, "octahedral"): 4, (1, "tetrahedral"): 8, (2, "octahedral"): 4,
                                     (2, "tetrahedral"): 8}
    assert sorted((s.layer, s.site, len(s.equivalent)) for s in sites) == [
        (g, f"gap{g} {k}", 4) for g in (1, 2) for k in ("octahedral", "tetrahedral #1", "tetrahedral #2")]
    z = {s.site: s.position[2] for s in sites}
    assert all(z[f"gap{g} tetrahedral #1"] < z[f"gap{g} tetrahedral #2"] for g in (1, 2))  # #k numbered upwards
    a = np.linalg.norm(slab.cell[0]) / 2  # 2.706 Å
    r = a / np.sqrt(3)  # 1.562 Å: in-plane distance from a hollow to the atoms around it
    layer = slab.arrays["layer"]
    for s in sites:
        lower, upper = 4 - s.layer, 3 - s.layer  # gap 1: layers 3 (bottom) and 2
        z_lo, z_hi = _layer_z(slab, lower), _layer_z(slab, upper)
        h = z_hi - z_lo  # c/2 = 2.14 Å
        for p in s.equivalent:
            assert z_lo < p[2] < z_hi
            d = _distances(slab, p)
            below = _in_plane(p, slab.positions[layer == lower], slab.cell)
            above = _in_plane(p, slab.positions[layer == upper], slab.cell)
            if _kind(s) == "octahedral":
                # six equidistant Ru (a/sqrt(2) for an ideal c/a; 1.894 Å at Ru's c/a = 1.58), at mid-height,
                # over a hollow of both layers
                assert d[:6] == pytest.approx([d[0]] * 6, abs=0.05) and d[6] > d[0] + 1.0
                assert p[2] == pytest.approx((z_lo + z_hi) / 2, abs=1e-6)
                assert below[0] == pytest.approx(r, abs=1e-3) and above[0] == pytest.approx(r, abs=1e-3)
            else:
                # four equidistant Ru (1.641 Å), straight over an atom of one layer under a hollow of the other,
                # at the circumcentre: t = (h^2 - r^2) / (2h) = 0.50 Å from the hollow's layer
                assert d[:4] == pytest.approx([d[0]] * 4, abs=0.05) and d[4] > d[0] + 0.5
                t = (h**2 - r**2) / (2 * h)
                if below[0] < 1e-3:
                    assert above[0] == pytest.approx(r, abs=1e-3) and p[2] == pytest.approx(z_hi - t, abs=1e-3)
                else:
                    assert above[0] < 1e-3 and below[0] == pytest.approx(r, abs=1e-3)
                    assert p[2] == pytest.approx(z_lo + t, abs=1e-3)


def test_one_atom_per_layer_cell_counts_the_images_of_an_atom_apart():
    # 1x1 Ru(0001), 4 layers: 3 gaps, each 1 octahedral and 2 tetrahedral holes (its 4 or 6 Ru are images
    # of 2 atoms)
    sites = film_interstitial_sites(_ru_film((1, 1), 4))
    assert sorted((s.layer, s.site, len(s.equivalent)) for s in sites) == [
        (g, f"gap{g} {k}", 1) for g in (1, 2, 3) for k in ("octahedral", "tetrahedral #1", "tetrahedral #2")]


def test_strained_interface_film_has_every_hole_once_from_the_interface_up(interface):
    atoms = interface
    film, layer = _film(atoms), atoms.arrays["layer"]
    per_layer = {n: int((film & (layer == n)).sum()) for n in (1, 2, 3)}
    assert per_layer == {1: 10, 2: 10, 3: 10}
    sites = film_interstitial_sites(atoms)
    _check_labels(sites)
    # 10 Ru per layer: per gap 10 octahedral and 20 tetrahedral holes; the support leaves no operation but
    # the identity, so each hole is its own orbit: 2 x (10 + 20) = 60 sites
    assert _holes_per_gap(sites) == {(1, "octahedral"): 10, (1, "tetrahedral"): 20, (2, "octahedral"): 10,
                                     (2, "tetrahedral"): 20}
    everything = np.array([p for s in sites for p in s.equivalent])
    for s in sites:
        # gap 1 between film layers 3 (on the part below) and 2, gap 2 between 2 and 1
        z_lo, z_hi = _layer_z(atoms, 4 - s.layer), _layer_z(atoms, 3 - s.layer)
        for p in s.equivalent:
            assert z_lo + 0.2 < p[2] < z_hi - 0.2
            d = _distances(atoms, p)
            assert d[0] > 1.5
            n = 6 if _kind(s) == "octahedral" else 4  # octahedra 1.80-1.90 Å then 3.09 Å; tetrahedra 1.59 then 2.69
            assert d[n - 1] < d[n] - 0.5
            others = np.sort(np.sqrt((in_plane_offsets(np.array([p]), everything, atoms.cell)[0] ** 2).sum(-1)
                                     + (everything[:, 2] - p[2]) ** 2))
            assert others[0] < 1e-6 and others[1] > 1.0  # no hole twice
    gap_z = {g: np.mean([p[2] for s in sites if s.layer == g for p in s.equivalent]) for g in (1, 2)}
    assert gap_z[1] < gap_z[2]


def test_film_of_one_layer_has_no_gaps(interface):
    assert film_interstitial_sites(_ru_film((2, 2), 1)) == []
    film, layer = _film(interface), interface.arrays["layer"]
    assert film_interstitial_sites(interface[~(film & (layer < 3))]) == []  # only the interface layer left
