"""Vacancy sites and symmetry-distinct hops: counts worked out by hand, completeness, bad input."""

from __future__ import annotations

import random

import numpy as np
import pytest
from ase.neighborlist import neighbor_list
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.io.ase import AseAtomsAdaptor

from spillover.build.barriers import (
    REGIONS,
    enumerate_hops,
    hop_between,
    hop_endpoints,
    region_host,
    region_hops,
    region_sites,
    vacancy_sites,
)
from spillover.errors import InputError
from spillover.schemas import fixed_indices


@pytest.fixture(scope="module")
def rutile_223():
    return region_host("rutile-bulk", cutoff=3.0)


def test_rutile_bulk_hop_count_by_hand(rutile_223):
    """Rutile, experimental lattice (a = 4.593, c = 2.959 Å, O at 4f (u, u, 0) with u = 0.305).

    Supercell: the cell widths must exceed 2 x 3.0 Å, so a, a, c = 4.59, 4.59, 2.96 Å are repeated
    2 x 2 x 3 -> 72 atoms, 48 O. All O are one Wyckoff orbit (4f): 1 distinct vacancy site.
    O-O distances from one O (each edge of the TiO6 octahedra, nothing else below 3.3 Å):
      (1 - 2u) a sqrt(2)              = 2.53 Å  x 1  the edge shared by two octahedra, along [110]
      sqrt((a/2)^2 + ((1/2 - 2u) a)^2 + (c/2)^2)
                                      = 2.78 Å  x 8  apical-equatorial edges (4 as apical O, 4 as equatorial)
      c                               = 2.96 Å  x 2  equatorial-equatorial edges along [001]
      next: sqrt((1 - 2u)^2 + (2u)^2) a = 3.32 Å (beyond the cutoff)
    So 11 hops per O and 48 x 11 / 2 = 264 undirected hops in the supercell. By symmetry:
      2.53 Å: each shared edge belongs to 2 octahedra: 24 Ti x 2 / 2 = 24 hops, one class
      2.78 Å: the 8 apical-equatorial edges of an octahedron are one orbit of the Ti site group
              mmm (order 8), each edge in one octahedron: 24 x 8 = 192 hops, one class
      2.96 Å: 2 such edges per octahedron, each in one: 24 x 2 = 48 hops, one class
    -> 3 symmetry-distinct hops standing for 24 + 192 + 48 = 264.
    """
    host = rutile_223
    assert host.info["supercell"] == [2, 2, 3] and len(host) == 72
    (site,) = vacancy_sites(host)
    assert len(site.equivalent) == 48

    hops = enumerate_hops(host, 3.0)
    assert len(hops) == 3
    assert [round(h.distance_A, 2) for h in hops] == [2.53, 2.78, 2.96]
    assert [h.multiplicity for h in hops] == [24, 192, 48]
    assert sum(h.multiplicity for h in hops) == 48 * 11 // 2
    assert [h.direction for h in hops] == ["[110]", None, "[001]"]
    # every O site is equivalent: dE = 0 by symmetry for all three; the [110] and [001] paths are
    # also mapped onto their reverse, the apical-equatorial one is not
    assert all(h.endpoints_equivalent for h in hops)
    assert [h.reverse_equivalent for h in hops] == [True, False, True]


def _marked(host, j: int, i: int):
    """The host with the vacancy site ``i`` marked as N and the moving O ``j`` as S."""
    structure = AseAtomsAdaptor.get_structure(host)
    structure.replace(i, "N")
    structure.replace(j, "S")
    return structure


def test_equivalent_hops_match_with_structure_matcher(rutile_223):
    """Cross-check the symmetry bookkeeping with pymatgen's StructureMatcher on marked hosts."""
    hops = enumerate_hops(rutile_223, 3.0)
    matcher = StructureMatcher(ltol=0.01, stol=0.02, angle_tol=0.5, primitive_cell=False, scale=False)
    rng = random.Random(0)
    representatives = []
    for hop in hops:
        rep = _marked(rutile_223, hop.from_index, hop.to_index)
        representatives.append(rep)
        for j, i, _ in rng.sample(hop.equivalent, 4):
            assert matcher.fit(rep, _marked(rutile_223, j, i))
    for a in range(3):
        for b in range(a + 1, 3):
            assert not matcher.fit(representatives[a], representatives[b])


def _allowed_pairs(host, region: str, cutoff: float, hop_layers: int = 5) -> int:
    """Directed O-O pairs a region's hops must cover, counted with ASE's neighbour list."""
    first, second = neighbor_list("ij", host, cutoff)
    oxygen = host.numbers == 8
    layer, part = host.arrays.get("layer"), host.arrays.get("part")
    count = 0
    for j, i in zip(first, second):
        if not (oxygen[j] and oxygen[i]):
            continue
        if region in ("rutile-110", "anatase-101"):
            count += layer[j] == layer[i] + 1 and layer[j] <= hop_layers
        elif region == "interfacial-RuO2":
            count += part[j] == 1 and part[i] == 1
        elif region == "across-interface":
            count += part[j] == 0 and layer[j] == 1 and part[i] == 1
    return count


@pytest.mark.parametrize("region", ["rutile-110", "interfacial-RuO2", "across-interface"])
def test_region_hops_are_complete_and_respect_layers(region):
    host = region_host(region, cutoff=3.0)
    hops = region_hops(region, host, 3.0)
    assert hops and all(h.region == region for h in hops)
    layer, part = host.arrays["layer"], host.arrays.get("part")
    for hop in hops:
        for j, i, _ in hop.equivalent:  # equivalence never mixes layers or parts
            assert (layer[j], layer[i]) == (hop.from_layer, hop.to_layer)
            if part is not None:
                assert (part[j], part[i]) == (hop.from_part, hop.to_part)
    # every allowed pair is in exactly one class: slab and across-interface hops are directed
    # (outward), hops inside RuO2 undirected (each stands for two directed neighbour pairs)
    per_hop = 2 if region == "interfacial-RuO2" else 1
    assert per_hop * sum(h.multiplicity for h in hops) == _allowed_pairs(host, region, 3.0)
    sites = region_sites(region, host)
    assert sum(len(s.equivalent) for s in sites) == len({k for s in sites for k in s.equivalent})


def test_rutile_110_hops_go_outward_layer_by_layer():
    host = region_host("rutile-110", cutoff=3.0)
    assert host.info["supercell"] == [3, 1, 1]  # 2.96 Å along [001] repeated 3 times
    hops = region_hops("rutile-110", host, 3.0, hop_layers=5)
    assert {(h.from_layer, h.to_layer) for h in hops} == {(2, 1), (3, 2), (4, 3), (5, 4)}
    fixed = set(fixed_indices(host))
    assert not any({h.from_index, h.to_index} & fixed for h in hops)
    assert all(s.layer <= 5 for s in region_sites("rutile-110", host))


def test_endpoints_hold_the_same_atoms_in_the_same_order():
    host = region_host("rutile-110", cutoff=3.0)
    hop = region_hops("rutile-110", host, 3.0)[0]
    initial, final = hop_endpoints(host, hop)
    assert len(initial) == len(final) == len(host) - 1
    assert np.array_equal(initial.numbers, final.numbers)
    moved = np.linalg.norm(final.positions - initial.positions, axis=1)
    assert moved[-1] == pytest.approx(hop.distance_A, abs=1e-6) and moved[:-1].max() < 1e-9
    assert fixed_indices(initial) == fixed_indices(final) and len(fixed_indices(initial)) == len(fixed_indices(host))
    assert initial.arrays["layer"][-1] == hop.from_layer and final.arrays["layer"][-1] == hop.to_layer


def test_hop_between_names_the_001_hop_and_refuses_long_hops():
    host = region_host("rutile-bulk", supercell=(1, 1, 3), cutoff=3.0)
    oxygen = [k for k in range(len(host)) if host.numbers[k] == 8]
    found = []
    for k in oxygen[1:]:
        try:
            found.append(hop_between(host, oxygen[0], k, cutoff=3.0))
        except InputError as err:  # 2.78 Å hops reach two images in a 1x1 cell; others are too long
            assert err.field in ("supercell", "hop")
    assert "[001]" in [h.direction for h in found]
    far = max(oxygen, key=lambda k: host.get_distance(oxygen[0], k, mic=True))
    with pytest.raises(InputError) as err:
        hop_between(host, oxygen[0], far, cutoff=3.0)
    assert err.value.field == "hop" and "longer than the cutoff" in str(err.value)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda h: enumerate_hops(h, 3.0), "supercell"),  # 1x1x1: the [001] hop reaches two images
        (lambda h: enumerate_hops(h, 0.0), "cutoff"),
        (lambda h: hop_between(h, 0, 2, cutoff=3.0), "to_index"),  # Ti -> O
        (lambda h: hop_between(h, 2, 99, cutoff=3.0), "to_index"),
        (lambda h: region_hops("perovskite-001", h, 3.0), "region"),
    ],
)
def test_bad_hop_input(call, field):
    host = region_host("rutile-bulk", supercell=(1, 1, 1), cutoff=3.0)
    with pytest.raises(InputError) as err:
        call(host)
    assert err.value.field == field


def test_regions_cover_the_five_regions_of_the_paper():
    from spillover.sections.barriers import BARRIER_REGIONS

    supports = {r["support"] for r in REGIONS.values()}
    assert supports == {"r-TiO2", "a-TiO2"} and len(REGIONS) == 6
    assert set(BARRIER_REGIONS) == set(REGIONS)  # what a study file may name is what the builder knows


def test_max_hops_keeps_the_shortest_hops_per_layer_pair():
    """A limit on the hops of a slab region still samples every depth: it applies per layer pair."""
    host = region_host("rutile-110", cutoff=3.0)
    every = region_hops("rutile-110", host, 3.0, hop_layers=5)
    one = region_hops("rutile-110", host, 3.0, hop_layers=5, max_hops=1)
    pairs = sorted({(h.from_layer, h.to_layer) for h in every})
    assert [(h.from_layer, h.to_layer) for h in one] == sorted(pairs, key=lambda p: p[1])
    for hop in one:
        same = [h.distance_A for h in every if (h.from_layer, h.to_layer) == (hop.from_layer, hop.to_layer)]
        assert hop.distance_A == min(same) and len(same) > 1  # something was left out at every depth
    bulk = region_host("rutile-bulk", cutoff=3.0)
    assert [h.label for h in region_hops("rutile-bulk", bulk, 3.0, max_hops=2)] == [
        h.label for h in region_hops("rutile-bulk", bulk, 3.0)[:2]
    ]
