"""The lattice-match scan and the integer-lattice helpers behind the cell rule."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spillover.build import load_bulk, make_interface
from spillover.build.matching import canonical_basis, hnf
from spillover.build.scan import SCAN_FILMS, SCAN_SUPPORTS, lattice_scan
from spillover.errors import InputError


@pytest.fixture(scope="module")
def scan():
    return lattice_scan()


def _row(rows, support, film):
    (row,) = [r for r in rows if r.support == support and r.film == film]
    return row


def test_scan_covers_every_pair(scan):
    assert [(r.support, r.film) for r in scan] == [(s, f) for s in SCAN_SUPPORTS for f in SCAN_FILMS]
    for r in scan:
        d = r.to_dict()
        assert json.loads(json.dumps(d)) == d
        if r.area_A2 is not None:
            assert 0 < r.area_A2 <= 120.0 + 1e-6
            assert max(abs(s) for s in r.strain_percent) <= 6.0
            assert np.linalg.det(r.substrate_matrix) > 0 and np.linalg.det(r.film_matrix) > 0


def test_rutile_ruo2_row_is_1x1(scan):
    r = _row(scan, "rutile-110", "RuO2-110")
    assert r.substrate_matrix == [[1, 0], [0, 1]] and r.film_matrix == [[1, 0], [0, 1]]
    assert r.strain_percent == pytest.approx([4.97, -2.20], abs=0.01)
    assert r.area_A2 == pytest.approx(19.22, abs=0.01)


def test_scan_row_is_the_cell_make_interface_uses(scan):
    r = _row(scan, "anatase-101", "RuO2-110")
    _, report = make_interface("anatase-101", ["RuO2-110"], support_layers=2)
    assert r.substrate_matrix == report.substrate_matrix == [[2, 0], [0, 3]]
    assert r.film_matrix == report.matches[0].film_matrix
    assert r.area_A2 == pytest.approx(report.area_A2, abs=1e-4)
    assert r.strain_percent == pytest.approx(report.matches[0].strain_percent, abs=1e-4)
    assert r.strain_percent == pytest.approx([3.31, -0.66], abs=0.01)


def test_pair_without_match_has_no_area():
    (row,) = lattice_scan(["RuO2-110"], ["anatase-101"], max_area=60.0)
    assert row.area_A2 is None and row.substrate_matrix is None and row.strain_percent is None
    assert row.to_dict()["von_mises_percent"] is None


def test_scan_with_scaled_bulks_keeps_the_cells(scan):
    bulks = {}
    for name in ("rutile", "anatase", "RuO2", "Ru"):
        bulk = load_bulk(name)
        bulk.set_cell(bulk.cell[:] * 1.005, scale_atoms=True)
        bulks[name] = bulk
    films, supports = ["Ru-0001", "RuO2-110"], ["rutile-110", "anatase-101"]
    given = lattice_scan(films, supports, bulks={k: bulks[k] for k in ("rutile", "anatase", "RuO2")})
    for g in given:
        e = _row(scan, g.support, g.film)
        assert (g.substrate_matrix, g.film_matrix) == (e.substrate_matrix, e.film_matrix)
        assert g.area_A2 == pytest.approx(e.area_A2 * 1.005**2, rel=1e-6)
        if g.film.startswith("RuO2"):  # film and support scaled alike: the same strains
            assert g.strain_percent == pytest.approx(e.strain_percent, abs=1e-6)


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"films": ["RuO2-11"]}, "films"),
    ({"films": []}, "films"),
    ({"supports": ["foo-110"]}, "supports"),
    ({"supports": [110]}, "supports"),
    ({"max_area": 0.0}, "max_area"),
    ({"max_strain_percent": float("nan")}, "max_strain_percent"),
    ({"bulks": {"rutile": load_bulk("anatase")[:3]}}, "bulks"),
])
def test_bad_scan_input(kwargs, field):
    with pytest.raises(InputError) as err:
        lattice_scan(**kwargs)
    assert err.value.field == field


def test_hnf_identifies_the_sublattice():
    m = np.array([[1, 0], [-1, 4]])
    assert hnf(m) == ((1, 0), (0, 4))
    for u in ([[1, 1], [0, 1]], [[0, 1], [-1, 0]], [[2, 1], [1, 1]], [[1, 0], [0, -1]]):
        assert hnf(np.array(u) @ m) == hnf(m)  # another basis of the same sublattice
    assert hnf([[1, -1], [1, 3]]) == ((1, 3), (0, 4)) != hnf(m)  # the other 4-fold cell of the brief
    assert hnf([[2, 0], [0, 3]]) == ((2, 0), (0, 3))


def _brute_force_basis(h, cell):
    """The rule of canonical_basis by enumeration of the sublattice's short vectors."""
    vecs = [i * np.array(h[0]) + j * np.array(h[1]) for i in range(-4, 5) for j in range(-4, 5) if i or j]
    cart = [v @ cell for v in vecs]

    def turn(c):
        ang = np.arctan2(c[1], c[0]) - np.arctan2(cell[0, 1], cell[0, 0])
        ang = (ang + np.pi) % (2 * np.pi) - np.pi
        return round(abs(ang), 6), ang < 0

    first = min(range(len(vecs)), key=lambda i: (round(float(np.linalg.norm(cart[i])), 6), turn(cart[i])))
    index = round(np.linalg.det(np.array(h)))
    ok = [i for i in range(len(vecs)) if round(np.linalg.det(np.array([vecs[first], vecs[i]]))) == index]
    second = min(ok, key=lambda i: (round(float(np.linalg.norm(cart[i])), 6), -round(float(cart[first] @ cart[i]), 6)))
    return np.array([vecs[first], vecs[second]])


@pytest.mark.parametrize("cell", [np.array([[5.458, 0.0], [1.312, 3.549]]),  # a-TiO2(101), |a| = |a - b|
                                  np.array([[2.959, 0.0], [0.0, 6.495]]),  # r-TiO2(110)
                                  np.array([[2.706, 0.0], [1.353, 2.343]])])  # hexagonal
def test_canonical_basis_follows_the_rule(cell):
    for m in ([[1, 0], [-1, 4]], [[1, -1], [1, 3]], [[2, 0], [0, 3]], [[1, 3], [0, 9]], [[3, 0], [0, 3]],
              [[1, 1], [0, 4]]):
        h = hnf(m)
        basis = canonical_basis(h, cell)
        assert hnf(basis) == h and np.linalg.det(basis) > 0
        assert (basis == _brute_force_basis(h, cell)).all()
        vecs = basis @ cell
        assert np.linalg.norm(vecs[0]) <= np.linalg.norm(vecs[1]) + 1e-9
        assert vecs[0] @ cell[0] >= 0
