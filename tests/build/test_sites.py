"""The one fcc/hcp rule for threefold hollows and the periodic in-plane distances it uses."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spillover.build.sites import HCP_TOL, hollow_kinds, in_plane_offsets, nearest_in_plane
from spillover.build.slabs import make_slab
from spillover.errors import InputError

A_RU = 2.706  # Å, the Ru CIF


@pytest.fixture(scope="module")
def ru_2x2():
    return make_slab("Ru-0001", repeat=(2, 2), layers=3, fixed_layers=1)


def _hollows(slab):
    """The 8 threefold hollows of a 2x2 hcp(0001) top layer: each top atom + (a1 + a2)/3 and + 2(a1 + a2)/3."""
    top = slab.positions[slab.arrays["layer"] == 1]
    a1, a2 = np.asarray(slab.cell)[0] / 2, np.asarray(slab.cell)[1] / 2
    return np.vstack([top + (a1 + a2) / 3, top + 2 * (a1 + a2) / 3])


def test_tolerance_lies_between_the_hcp_and_fcc_offsets():
    assert 0 < HCP_TOL < A_RU / math.sqrt(3) / 2


def test_ru_0001_2x2_has_four_fcc_and_four_hcp_hollows(ru_2x2):
    hollows = _hollows(ru_2x2)
    second = ru_2x2.positions[ru_2x2.arrays["layer"] == 2]
    kinds = hollow_kinds(hollows, second, ru_2x2.cell)
    assert kinds.count("hcp") == kinds.count("fcc") == 4
    d = nearest_in_plane(hollows, second, ru_2x2.cell)
    for kind, dist in zip(kinds, d):
        # hcp: a second-layer atom right under it; fcc: a/sqrt(3) from the nearest one
        assert dist == pytest.approx(0.0 if kind == "hcp" else A_RU / math.sqrt(3), abs=1e-3)


def test_in_plane_distances_are_periodic():
    cell2 = np.array([[4.0, 0.0], [2.0, 3.0]])
    near_edge, across = np.array([[0.1, 0.1]]), np.array([[5.9, 2.9]])  # (0.1, 0.1) - a2 - ... = 0.2 Å apart
    assert nearest_in_plane(near_edge, across, cell2)[0] == pytest.approx(math.hypot(0.2, 0.2))
    offsets = in_plane_offsets(near_edge, np.vstack([across, near_edge]), cell2)
    assert offsets.shape == (1, 2, 2) and offsets[0, 0] == pytest.approx([-0.2, -0.2])
    assert nearest_in_plane(near_edge, np.zeros((0, 2)), cell2)[0] == math.inf


def test_no_layer_behind_means_no_hcp_hollow_and_bad_input_is_refused():
    assert hollow_kinds([[0.0, 0.0, 1.0]], np.zeros((0, 3)), np.eye(2) * 3) == ["fcc"]
    with pytest.raises(InputError) as err:
        hollow_kinds([[0.0, 0.0]], [[0.0, 0.0]], np.eye(2), tol=0)
    assert err.value.field == "tol"
    with pytest.raises(InputError) as err:
        nearest_in_plane([[0.0, 0.0]], [[1.0, 0.0]], np.array([[1.0, 0.0], [2.0, 0.0]]))
    assert err.value.field == "cell"
