"""The one symmetry routine of the build package: atom orbits, hop orbits, point orbits, flips_z."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import make_supercell
from ase.neighborlist import neighbor_list

from spillover.build.bulk import load_bulk
from spillover.build.layers import flips_z
from spillover.build.slabs import make_slab
from spillover.build.symmetry import MATCH_TOL, SYMPREC, host_symmetry, point_orbits, site_orbits
from spillover.errors import InputError


@pytest.fixture(scope="module")
def rutile_223():
    return make_supercell(load_bulk("rutile"), np.diag([2, 2, 3]))


def test_tolerances_are_named_once():
    assert SYMPREC == 0.05 and MATCH_TOL == 2 * SYMPREC


def test_rutile_bulk_oxygen_is_one_orbit(rutile_223):
    # rutile: O on one Wyckoff orbit (4f), Ti on another (2a); the 2x2x3 supercell adds only
    # lattice translations, so its 48 O stay one orbit and its 24 Ti another
    oxygen = np.flatnonzero(rutile_223.numbers == 8)
    titanium = np.flatnonzero(rutile_223.numbers == 22)
    assert site_orbits(rutile_223, oxygen) == [sorted(oxygen.tolist())]
    assert site_orbits(rutile_223, titanium) == [sorted(titanium.tolist())]
    sym = host_symmetry(rutile_223)
    assert len(sym) == 16 * 12  # point group 4/mmm (16) x 12 lattice translations of the supercell
    assert np.array_equal(sym.perms[0], np.arange(len(rutile_223)))  # identity first


def test_rutile_223_hop_orbits_counted_by_hand(rutile_223):
    """The 264 O-O pairs within 3.0 Å fall into 3 orbits of 24 (2.53 Å), 192 (2.78 Å), 48 (2.96 Å).

    Counted by hand in tests/test_barriers_build.py; here the pairs come from ASE's neighbour list
    and are grouped only with :meth:`Symmetry.image_hops`.
    """
    sym = host_symmetry(rutile_223)
    i, j, shift, dist = neighbor_list("ijSd", rutile_223, 3.0)
    oxygen = rutile_223.numbers == 8
    pairs = {}
    for a, b, s, d in zip(i, j, shift, dist):
        if oxygen[a] and oxygen[b]:
            pairs[(int(a), int(b), tuple(int(x) for x in s))] = float(d)

    def undirected(key):
        a, b, n = key
        return min((a, b, n), (b, a, tuple(-x for x in n)))

    left = {undirected(k) for k in pairs}
    assert len(left) == 48 * 11 // 2
    classes = []
    while left:
        start = min(left, key=lambda k: (round(pairs[k], 3), k))
        orbit = {undirected(img) for img in sym.image_hops(start[0], start[1], np.array(start[2]))}
        # every image is a neighbour pair of the same length
        assert all(pairs[k] == pytest.approx(pairs[start], abs=1e-6) for k in orbit)
        left -= orbit
        classes.append((round(pairs[start], 2), len(orbit)))
    assert classes == [(2.53, 24), (2.78, 192), (2.96, 48)]


def test_fixed_bottom_layer_keeps_the_two_faces_apart():
    slab = make_slab("rutile-110", layers=4, fixed_layers=1)
    layer = slab.arrays["layer"]
    oxygen = np.flatnonzero(slab.numbers == 8)
    labelled = host_symmetry(slab)
    species = host_symmetry(slab, labels=False)
    # the cut is symmetric: its species alone are mapped top onto bottom, the fixed layer forbids it
    assert species.flips_z() and not labelled.flips_z()
    assert len(species) == 2 * len(labelled) and labelled.keeps_z().all()
    for orbit in labelled.site_orbits(oxygen):
        assert len({int(layer[k]) for k in orbit}) == 1
    assert any({1, 4} <= {int(layer[k]) for k in orbit} for orbit in species.site_orbits(oxygen))
    # the FixAtoms constraint alone is a label too
    bare = slab.copy()
    del bare.arrays["layer"]
    assert not host_symmetry(bare).flips_z() and host_symmetry(bare, labels=False).flips_z()
    # a hop from layer 2 into layer 1 is never mapped onto one from layer 3 into layer 4
    i, j, shift = neighbor_list("ijS", slab, 3.0)
    pair = next((a, b, s) for a, b, s in zip(i, j, shift)
                if slab.numbers[a] == slab.numbers[b] == 8 and layer[a] == 2 and layer[b] == 1)
    for a, b, _ in labelled.image_hops(int(pair[0]), int(pair[1]), pair[2]):
        assert (layer[a], layer[b]) == (2, 1)


def _ru_holes():
    """Octahedral and tetrahedral holes of hcp Ru, atoms at (1/3, 2/3, 1/4) and (2/3, 1/3, 3/4).

    Per conventional cell (2 atoms), worked out by hand: the octahedral holes sit in the third
    stacking position C = (0, 0) midway between the A and B layers, z = 0 and 1/2 (Wyckoff 2a): 2;
    the tetrahedral holes sit straight above and below every atom, 3c/8 away (4f): 4. So one
    octahedral and two tetrahedral holes per atom.
    """
    octa = [(0, 0, 0), (0, 0, 1 / 2)]
    tetra = [(1 / 3, 2 / 3, 1 / 4 + 3 / 8), (1 / 3, 2 / 3, 1 / 4 - 3 / 8 + 1),
             (2 / 3, 1 / 3, 3 / 4 + 3 / 8 - 1), (2 / 3, 1 / 3, 3 / 4 - 3 / 8)]
    return np.array(octa), np.array(tetra)


def test_ru_interstitial_point_orbits_counted_by_hand():
    unit = load_bulk("Ru")
    assert np.allclose(unit.get_scaled_positions(), [[1 / 3, 2 / 3, 1 / 4], [2 / 3, 1 / 3, 3 / 4]])
    ru = make_supercell(unit, np.diag([2, 2, 2]))
    octa, tetra = _ru_holes()
    shifts = np.array([[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)])
    frac_unit = np.vstack([octa, tetra])
    points = np.vstack([(f + s) @ np.asarray(unit.cell) for f in frac_unit for s in shifts])
    kind = np.repeat(["octahedral"] * len(octa) + ["tetrahedral"] * len(tetra), len(shifts))
    orbits = point_orbits(ru, points)
    assert sorted((str(kind[o[0]]), len(o)) for o in orbits) == [("octahedral", 16), ("tetrahedral", 32)]
    assert all(len({str(kind[k]) for k in o}) == 1 for o in orbits)
    # a point off every special position is left alone by the mirror through the atom layers:
    # it is not mapped onto a hole
    off = np.vstack([points, (np.array([0.1, 0.2, 0.3]) @ np.asarray(unit.cell))[None]])
    assert [len(o) for o in point_orbits(ru, off) if len(off) - 1 in o] == [1]


def test_keep_z_keeps_top_and_bottom_hollows_apart():
    slab = make_slab("Ru-0001", repeat=(1, 1), layers=3)  # ABA: mirror through the middle layer
    z = slab.positions[:, 2]
    top, bottom = slab.positions[np.argmax(z)], slab.positions[np.argmin(z)]
    cell = np.asarray(slab.cell)
    shift = (cell[0] + cell[1]) / 3  # a hollow of the outer layer, the same one on both faces
    points = np.array([top + shift + [0, 0, 1.2], bottom + shift - [0, 0, 1.2]])
    assert point_orbits(slab, points, labels=False) == [[0, 1]]
    assert point_orbits(slab, points, keep_z=True, labels=False) == [[0], [1]]


def test_flips_z_on_symmetric_and_asymmetric_slabs():
    symmetric = make_slab("rutile-110", layers=3)
    assert flips_z(symmetric)
    fixed = make_slab("rutile-110", layers=3, fixed_layers=1)
    assert flips_z(fixed)  # species only: the fixed layer does not count
    asymmetric = symmetric.copy()
    del asymmetric[int(np.argmax(asymmetric.positions[:, 2]))]  # the top bridging O
    assert not flips_z(asymmetric)
    assert flips_z(make_slab("Ru-0001", layers=3)) and flips_z(make_slab("anatase-101", layers=3))


@pytest.mark.parametrize("bad", [0.0, -0.1, "0.05", True])
def test_bad_tolerance_is_an_input_error(bad):
    with pytest.raises(InputError) as err:
        host_symmetry(load_bulk("Ru"), symprec=bad)
    assert err.value.field == "symprec"
