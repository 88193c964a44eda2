"""Lattice matches and interface models (computed with pymatgen's ZSL, not hard-coded)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase.constraints import FixAtoms
from ase.neighborlist import neighbor_list

from spillover.build import find_matches, load_bulk, make_interface, make_slab
from spillover.errors import InputError

KEYS = {"support", "film", "films", "substrate_matrix", "film_matrix", "area_A2", "strain_percent",
        "von_mises_percent", "natoms"}


@pytest.fixture(scope="module")
def ruo2_on_rutile():
    return find_matches("rutile-110", "RuO2-110", max_area=60.0)


@pytest.fixture(scope="module")
def ru_on_anatase():
    return find_matches("anatase-101", "Ru-0001", max_area=80.0)


@pytest.fixture(scope="module")
def stack3():
    return make_interface("rutile-110", ["RuO2-110", "Ru-0001"], max_area=80.0)


def _inplane(atoms):
    return np.array(atoms.cell[:2])[:, :2]


def test_ruo2_on_rutile_is_1x1(ruo2_on_rutile):
    best = ruo2_on_rutile[0]
    assert best.area_A2 == pytest.approx(2.959 * 6.495, abs=0.05)
    assert abs(round(np.linalg.det(best.substrate_matrix))) == 1
    assert abs(round(np.linalg.det(best.film_matrix))) == 1
    assert all(1.0 < abs(s) < 6.0 for s in best.strain_percent)
    # RuO2 [1-10] on TiO2 [1-10] and RuO2 [001] on TiO2 [001]
    assert sorted(best.strain_percent) == pytest.approx([(4.492 - 4.593) / 4.593 * 100,
                                                         (3.106 - 2.959) / 2.959 * 100], abs=0.01)
    assert 0 < best.von_mises_percent < 6.0
    assert best.natoms == 3 * 6 + 1 * 6  # 3 TiO2 trilayers + 1 RuO2 trilayer


def test_strains_follow_from_the_matrices(ruo2_on_rutile, ru_on_anatase):
    for reports in (ruo2_on_rutile, ru_on_anatase):
        for r in reports[:4]:
            sub = np.array(r.substrate_matrix) @ _inplane(make_slab(r.support, layers=1))
            film = np.array(r.film_matrix) @ _inplane(make_slab(r.film, layers=1))
            f = (np.linalg.norm(film, axis=1) - np.linalg.norm(sub, axis=1)) / np.linalg.norm(sub, axis=1) * 100
            assert f == pytest.approx(r.strain_percent, abs=1e-3)
            assert abs(np.linalg.det(sub)) == pytest.approx(r.area_A2, abs=1e-3)


def test_anatase_ru_needs_more_than_rutile_ruo2(ruo2_on_rutile, ru_on_anatase):
    a, r = ru_on_anatase[0], ruo2_on_rutile[0]
    assert a.area_A2 > r.area_A2 + 1.0 or a.von_mises_percent > r.von_mises_percent
    with pytest.raises(InputError):  # nothing as small as the rutile/RuO2 cell
        find_matches("anatase-101", "Ru-0001", max_area=25.0)


def test_matches_sorted_filtered_unique(ruo2_on_rutile, ru_on_anatase):
    for reports in (ruo2_on_rutile, ru_on_anatase):
        keys = [(round(r.area_A2, 2), tuple(sorted(round(s, 2) for s in r.strain_percent))) for r in reports]
        assert len(keys) == len(set(keys))
        order = [(round(r.area_A2, 2), r.von_mises_percent) for r in reports]
        assert order == sorted(order)
        assert all(max(abs(s) for s in r.strain_percent) <= 6.0 for r in reports)


def test_match_report_to_dict_is_json(ruo2_on_rutile):
    d = ruo2_on_rutile[0].to_dict()
    assert KEYS <= set(d)
    assert json.loads(json.dumps(d)) == d
    assert d["films"] == ["RuO2-110"] and d["film"] == "RuO2-110"


def test_no_match_with_tiny_strain():
    with pytest.raises(InputError) as err:
        find_matches("rutile-110", "RuO2-110", max_area=40.0, max_strain_percent=0.01)
    assert err.value.field == "max_strain_percent"


@pytest.mark.parametrize("gap", [None, 0.71])  # None: the support's own inter-trilayer gap
def test_ruo2_on_rutile_interface_is_epitaxial(gap):
    atoms, report = make_interface("rutile-110", ["RuO2-110"], gap=gap, support_layers=2, fixed_layers=1)
    assert report.registry == ["epitaxial"]
    sym = np.array(atoms.get_chemical_symbols())
    part, layer = atoms.arrays["part"], atoms.arrays["layer"]
    assert sorted(set(part.tolist())) == [0, 1]
    assert atoms.cell.lengths()[:2] == pytest.approx(make_slab("rutile-110", layers=1).cell.lengths()[:2])
    # at the bulk spacing the film continues the rutile lattice: interfacial Ti are six-fold
    i, _ = neighbor_list("ij", atoms, 2.1)
    cn = np.bincount(i, minlength=len(atoms))
    assert cn[(sym == "Ti") & (part == 0) & (layer == 1)].tolist() == [6, 6]
    assert atoms.info["interface"]["films"] == ["RuO2-110"]


def test_non_epitaxial_film_sits_at_default_gap():
    atoms, report = make_interface("rutile-110", ["Ru-0001"], support_layers=2, fixed_layers=1, max_area=80)
    z, part = atoms.positions[:, 2], atoms.arrays["part"]
    assert report.registry == ["max-min-distance"]
    assert z[part == 1].min() - z[part == 0].max() == pytest.approx(2.0, abs=1e-6)


def test_three_part_stack(stack3):
    atoms, report = stack3
    sym = np.array(atoms.get_chemical_symbols())
    part, layer = atoms.arrays["part"], atoms.arrays["layer"]
    assert sorted(set(part.tolist())) == [0, 1, 2]
    n = {k: {s: int(((part == k) & (sym == s)).sum()) for s in ("Ti", "Ru", "O")} for k in (0, 1, 2)}
    assert n[0]["Ru"] == 0 and n[0]["O"] == 2 * n[0]["Ti"] > 0
    assert n[1]["Ti"] == 0 and n[1]["O"] == 2 * n[1]["Ru"] > 0
    assert n[2]["Ti"] == n[2]["O"] == 0 and n[2]["Ru"] > 0
    # parts stacked upward, each with its own layers (1 = top of the part)
    z = atoms.positions[:, 2]
    assert z[part == 0].max() < z[part == 1].min() and z[part == 1].max() < z[part == 2].min()
    assert sorted(set(layer[part == 0].tolist())) == [1, 2, 3]
    assert sorted(set(layer[part == 1].tolist())) == [1]
    assert sorted(set(layer[part == 2].tolist())) == [1, 2, 3]
    # area and atom counts consistent with the matrices
    area = abs(np.linalg.det(_inplane(atoms)))
    assert area == pytest.approx(report.area_A2, abs=1e-3)
    det_sub = round(abs(np.linalg.det(report.substrate_matrix)))
    assert n[0]["Ti"] == 2 * 3 * det_sub
    assert n[1]["Ru"] == 2 * det_sub
    assert report.natoms == len(atoms) == sum(report.part_natoms)
    assert report.films == ["RuO2-110", "Ru-0001"] and report.film == "Ru-0001"
    assert [r.film for r in report.stack] == ["RuO2-110", "Ru-0001"]
    assert report.stack[0].area_A2 == pytest.approx(2.959 * 6.495, abs=0.05)
    fixed = np.concatenate([c.index for c in atoms.constraints if isinstance(c, FixAtoms)])
    assert set(fixed.tolist()) == set(np.flatnonzero((part == 0) & (layer == 3)).tolist())
    d = atoms.info["interface"]
    assert KEYS <= set(d) and len(d["stack"]) == 2
    assert json.loads(json.dumps(d)) == d
    # vacuum above the outermost film, no overlapping atoms
    assert atoms.cell[2, 2] - (z.max() - z.min()) >= 12.0 - 1e-6
    dist = atoms.get_all_distances(mic=True)[np.triu_indices(len(atoms), 1)]
    assert dist.min() > 1.8


def test_ru_on_anatase_interface():
    atoms, report = make_interface("anatase-101", ["Ru-0001"], max_area=80.0, film_layers=[2])
    part, layer = atoms.arrays["part"], atoms.arrays["layer"]
    assert report.area_A2 > 19.3
    assert sorted(set(layer[part == 1].tolist())) == [1, 2]
    assert set(atoms[part == 1].get_chemical_symbols()) == {"Ru"}


def test_interface_from_given_bulks():
    rutile = load_bulk("rutile")
    rutile.set_cell(rutile.cell[:] * 1.01, scale_atoms=True)
    _, report = make_interface("rutile-110", ["RuO2-110"], bulks={"rutile": rutile})
    assert report.area_A2 == pytest.approx(2.959 * 6.495 * 1.01**2, abs=0.05)
    with pytest.raises(InputError) as err:
        make_interface("rutile-110", ["RuO2-110"], bulks={"rutile": load_bulk("RuO2")})
    assert err.value.field == "bulks"


@pytest.mark.parametrize(("support", "films", "kwargs", "field"), [
    ("anatase-101", ["RuO2-110"], {}, "films"),
    ("anatase-101", ["RuO2-110", "Ru-0001"], {}, "films"),
    ("RuO2-110", ["Ru-0001"], {}, "support"),
    ("rutile-110", ["Ru-0001", "RuO2-110"], {}, "films"),
    ("rutile-110", ["RuO2-110"], {"film_layers": [1, 2]}, "film_layers"),
    ("rutile-110", ["RuO2-110"], {"fixed_layers": 3}, "fixed_layers"),
    ("rutile-110", ["RuO2-110"], {"max_strain_percent": 0.01}, "max_strain_percent"),
    ("rutile-110", ["RuO2-110"], {"max_area": -1.0}, "max_area"),
    ("rutile-110", ["RuO2-110"], {"bulks": {"foo": None}}, "bulks"),
])
def test_bad_interface_input(support, films, kwargs, field):
    with pytest.raises(InputError) as err:
        make_interface(support, films, **kwargs)
    assert err.value.field == field
