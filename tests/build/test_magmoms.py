"""Initial moments of an O vacancy in TiO2: on the Ti that were bonded to the O, nowhere else."""

from __future__ import annotations

import numpy as np
import pytest
from ase.geometry import get_distances

from spillover.build.barriers import bulk_host, hop_between, hop_endpoints
from spillover.build.magmoms import MOMENT_MUB
from spillover.build.mu_profile import without_atom
from spillover.build.slabs import make_slab
from spillover.schemas.base import content_hash


def _ti_bonded_to(atoms, index, cutoff=2.2):
    ti = [k for k in range(len(atoms)) if atoms[k].symbol == "Ti"]
    _, d = get_distances([atoms.positions[index]], atoms.positions[ti], cell=atoms.cell, pbc=atoms.pbc)
    return {ti[k] for k in np.flatnonzero(d[0] <= cutoff)}


def _moment_holders(vacant, removed):
    """Indices (in the cell with the O) of the atoms that got a moment in the cell without it."""
    keep = [k for k in range(len(vacant) + 1) if k != removed]
    return {keep[k] for k in np.flatnonzero(vacant.get_initial_magnetic_moments())}


@pytest.mark.parametrize("which, n_ti", [("bridging", 2), ("in-plane", 3)])
def test_moments_sit_on_the_ti_bonded_to_the_removed_o(which, n_ti):
    slab = make_slab("rutile-110", layers=3, repeat=(2, 2), vacuum=5.0, fixed_layers=1)
    z = slab.positions[:, 2]
    top_o = [k for k in range(len(slab)) if slab[k].symbol == "O" and slab.arrays["layer"][k] == 1]
    bridging = max(top_o, key=lambda k: z[k])
    # the in-plane O of the top trilayer: 3-fold, at the height of the Ti
    in_plane = next(k for k in top_o if len(_ti_bonded_to(slab, k)) == 3)
    index = bridging if which == "bridging" else in_plane
    vacant = without_atom(slab, index)
    holders = _moment_holders(vacant, index)
    assert holders == _ti_bonded_to(slab, index) and len(holders) == n_ti
    moments = vacant.get_initial_magnetic_moments()
    assert set(np.unique(moments)) == {0.0, MOMENT_MUB}


def test_hop_endpoints_share_the_moments_of_both_sites():
    host = bulk_host("rutile", supercell=(2, 2, 2), cutoff=3.0)
    oxygen = [k for k in range(len(host)) if host.numbers[k] == 8]
    hop = hop_between(host, oxygen[0], oxygen[1], cutoff=3.5, region="rutile-bulk")
    initial, final = hop_endpoints(host, hop)
    moments = initial.get_initial_magnetic_moments()
    assert np.array_equal(moments, final.get_initial_magnetic_moments())
    expected = _ti_bonded_to(host, hop.from_index) | _ti_bonded_to(host, hop.to_index)
    assert int(moments.sum() / MOMENT_MUB) == len(expected) and 3 <= len(expected) <= 6


def test_moments_enter_the_hash_of_spin_polarised_calculations_only():
    slab = make_slab("rutile-110", layers=3, vacuum=5.0, fixed_layers=1)
    vacant = without_atom(slab, max(range(len(slab)), key=lambda k: slab.positions[k, 2]))
    plain = vacant.copy()
    plain.set_initial_magnetic_moments(np.zeros(len(plain)))
    assert content_hash(vacant, {"model": "x"}, {}) == content_hash(plain, {"model": "x"}, {})
    assert content_hash(vacant, {"spinpol": True}, {}) != content_hash(plain, {"spinpol": True}, {})
