"""Vacancy sites and symmetry-distinct hops: counts worked out by hand, completeness, bad input."""

from __future__ import annotations

import random

import numpy as np
import pytest
from ase.neighborlist import neighbor_list
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.io.ase import AseAtomsAdaptor

from spillover.build.barriers import (
    bulk_host,
    enumerate_hops,
    hop_between,
    hop_endpoints,
    supercell_for_cutoff,
    vacancy_sites,
)
from spillover.errors import InputError
from spillover.schemas import fixed_indices


@pytest.fixture(scope="module")
def rutile_223():
    return bulk_host("rutile", cutoff=3.0)


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


def _slab():
    """A 6-layer r-TiO2(110) slab, bottom layer fixed, repeated so that 3 Å hops reach one image only."""
    from spillover.build.slabs import make_slab

    one = make_slab("rutile-110", layers=6, vacuum=6.0, fixed_layers=1)
    rep = supercell_for_cutoff(one, 3.0, (True, True, False))
    return make_slab("rutile-110", layers=6, vacuum=6.0, fixed_layers=1, repeat=(int(rep[0]), int(rep[1])))


def _outward(layer):
    return lambda j, i: layer[j] == layer[i] + 1 and layer[j] <= 5


def test_slab_hops_are_complete_and_never_mix_layers():
    host = _slab()
    layer = host.arrays["layer"]
    hops = enumerate_hops(host, 3.0, allow=_outward(layer))
    for hop in hops:
        for j, i, _ in hop.equivalent:  # equivalence never mixes layers
            assert (layer[j], layer[i]) == (hop.from_layer, hop.to_layer)
    # every allowed directed pair is in exactly one class (ASE's neighbour list counts them)
    first, second = neighbor_list("ij", host, 3.0)
    oxygen = host.numbers == 8
    allowed = sum(1 for j, i in zip(first, second) if oxygen[j] and oxygen[i] and _outward(layer)(j, i))
    assert sum(h.multiplicity for h in hops) == allowed
    assert {(h.from_layer, h.to_layer) for h in hops} == {(2, 1), (3, 2), (4, 3), (5, 4)}
    assert not any({h.from_index, h.to_index} & set(fixed_indices(host)) for h in hops)


def test_endpoints_hold_the_same_atoms_in_the_same_order():
    host = _slab()
    hop = enumerate_hops(host, 3.0, allow=_outward(host.arrays["layer"]))[0]
    initial, final = hop_endpoints(host, hop)
    assert len(initial) == len(final) == len(host) - 1
    assert np.array_equal(initial.numbers, final.numbers)
    moved = np.linalg.norm(final.positions - initial.positions, axis=1)
    assert moved[-1] == pytest.approx(hop.distance_A, abs=1e-6) and moved[:-1].max() < 1e-9
    assert fixed_indices(initial) == fixed_indices(final) and len(fixed_indices(initial)) == len(fixed_indices(host))
    assert initial.arrays["layer"][-1] == hop.from_layer and final.arrays["layer"][-1] == hop.to_layer


def test_hop_between_names_the_001_hop_and_refuses_long_hops():
    host = bulk_host("rutile", supercell=(1, 1, 3), cutoff=3.0)
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
    ],
)
def test_bad_hop_input(call, field):
    host = bulk_host("rutile", supercell=(1, 1, 1), cutoff=3.0)
    with pytest.raises(InputError) as err:
        call(host)
    assert err.value.field == field
