"""Lattice matches and interface models (computed with pymatgen's ZSL, not hard-coded)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase.constraints import FixAtoms
from ase.neighborlist import neighbor_list

from spillover.build import find_matches, load_bulk, make_interface, make_slab
from spillover.build.interfaces import SUPPORTED
from spillover.build.matching import hnf
from spillover.errors import InputError

KEYS = {"support", "films", "substrate_matrix", "substrate_hnf", "area_A2", "matches", "natoms", "support_layers",
        "film_layers", "part_natoms", "registry", "lattices"}
MATCH_KEYS = {"film", "film_matrix", "strain_percent", "von_mises_percent"}
SYSTEMS = [(s, list(f)) for s, fs in SUPPORTED.items() for f in fs]
SMALL = {"support_layers": 2, "film_layers": None, "max_area": 180.0}


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


def _strains(sub_matrix, film_matrix, support, film):
    sub = np.array(sub_matrix) @ _inplane(make_slab(support, layers=1))
    flm = np.array(film_matrix) @ _inplane(make_slab(film, layers=1))
    return (np.linalg.norm(flm, axis=1) - np.linalg.norm(sub, axis=1)) / np.linalg.norm(sub, axis=1) * 100, sub


def _scaled_bulks(factor, factor_c=None):
    out = {}
    for name in ("rutile", "anatase", "RuO2", "Ru"):
        bulk = load_bulk(name)
        cell = bulk.cell[:].copy()
        cell[:2] *= factor
        cell[2] *= factor if factor_c is None else factor_c
        bulk.set_cell(cell, scale_atoms=True)
        out[name] = bulk
    return out


def _kw(films, **extra):
    kw = dict(SMALL, film_layers=[2 if f == "Ru-0001" else 1 for f in films])
    kw.update(extra)
    return kw


def _drift(ref, atoms, part, layer):
    """Smallest in-plane translation (Å) taking one layer of ``ref`` onto the same layer of ``atoms``."""
    def pick(a):
        m = (a.arrays["part"] == part) & (a.arrays["layer"] == layer)
        return a.get_scaled_positions()[m][:, :2], a.numbers[m]

    (fa, za), (fb, zb) = pick(ref), pick(atoms)
    c2 = _inplane(atoms)
    best = None
    for j in np.flatnonzero(zb == za[0]):
        t = fb[j] - fa[0]
        d = fa[:, None, :] + t - fb[None, :, :]
        d -= np.rint(d)
        ok = (np.linalg.norm(d @ c2, axis=-1) < 0.5) & (za[:, None] == zb[None, :])
        if ok.any(axis=1).all():
            t = (t - np.rint(t)) @ c2
            best = t if best is None or np.linalg.norm(t) < np.linalg.norm(best) else best
    return best


def test_ruo2_on_rutile_is_1x1(ruo2_on_rutile):
    best = ruo2_on_rutile[0]
    m = best.matches[0]
    assert best.area_A2 == pytest.approx(2.959 * 6.495, abs=0.05)
    assert best.substrate_matrix == [[1, 0], [0, 1]] and best.substrate_hnf == [[1, 0], [0, 1]]
    assert m.film_matrix == [[1, 0], [0, 1]]
    # RuO2 [001] on TiO2 [001] (first, the shorter vector) and RuO2 [1-10] on TiO2 [1-10]
    assert m.strain_percent == pytest.approx([(3.106 - 2.959) / 2.959 * 100, (4.492 - 4.593) / 4.593 * 100], abs=0.01)
    assert 0 < m.von_mises_percent < 6.0
    assert best.natoms == 3 * 6 + 1 * 6  # 3 TiO2 trilayers + 1 RuO2 trilayer
    assert best.lattices == "experimental"


def test_strains_follow_from_the_matrices(ruo2_on_rutile, ru_on_anatase):
    for reports in (ruo2_on_rutile, ru_on_anatase):
        for r in reports[:4]:
            m = r.matches[0]
            f, sub = _strains(r.substrate_matrix, m.film_matrix, r.support, m.film)
            assert f == pytest.approx(m.strain_percent, abs=1e-3)
            assert abs(np.linalg.det(sub)) == pytest.approx(r.area_A2, abs=1e-3)
            assert [list(row) for row in hnf(r.substrate_matrix)] == r.substrate_hnf


def test_canonical_basis(ru_on_anatase):
    for r in ru_on_anatase:
        sub = np.array(r.substrate_matrix) @ _inplane(make_slab(r.support, layers=1))
        a, b = np.linalg.norm(sub, axis=1)
        assert np.linalg.det(sub) > 0  # right-handed
        assert a <= b + 1e-6 and b <= min(np.linalg.norm(sub[1] - sub[0]), np.linalg.norm(sub[1] + sub[0])) + 1e-6
        assert round(abs(np.linalg.det(r.matches[0].film_matrix))) >= 1 and np.linalg.det(r.matches[0].film_matrix) > 0


def test_anatase_ru_needs_more_than_rutile_ruo2(ruo2_on_rutile, ru_on_anatase):
    a, r = ru_on_anatase[0], ruo2_on_rutile[0]
    assert a.area_A2 > r.area_A2 + 1.0 or a.matches[0].von_mises_percent > r.matches[0].von_mises_percent
    with pytest.raises(InputError):  # nothing as small as the rutile/RuO2 cell
        find_matches("anatase-101", "Ru-0001", max_area=25.0)


def test_matches_ranked_filtered_unique(ruo2_on_rutile, ru_on_anatase):
    for reports in (ruo2_on_rutile, ru_on_anatase):
        keys = [(str(r.substrate_hnf), str(hnf(r.matches[0].film_matrix))) for r in reports]
        assert len(keys) == len(set(keys))  # one entry per (substrate, film) sublattice
        order = [(round(abs(np.linalg.det(r.substrate_matrix))), r.matches[0].von_mises_percent) for r in reports]
        assert order == sorted(order)
        assert all(max(abs(s) for s in r.matches[0].strain_percent) <= 6.0 for r in reports)


def test_match_report_to_dict_is_json(ruo2_on_rutile):
    d = ruo2_on_rutile[0].to_dict()
    assert KEYS <= set(d) and MATCH_KEYS <= set(d["matches"][0])
    assert json.loads(json.dumps(d)) == d
    assert d["films"] == ["RuO2-110"] and d["matches"][0]["film"] == "RuO2-110"


def test_no_match_with_tiny_strain():
    with pytest.raises(InputError) as err:
        find_matches("rutile-110", "RuO2-110", max_area=40.0, max_strain_percent=0.01)
    assert err.value.field == "max_strain_percent"
    with pytest.raises(InputError) as err:
        make_interface("anatase-101", ["RuO2-110", "Ru-0001"], max_area=120.0)  # the common cell needs 174 Å²
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


def test_ruo2_on_anatase_is_not_epitaxial():
    atoms, report = make_interface("anatase-101", ["RuO2-110"], support_layers=2, fixed_layers=1)
    assert report.registry == ["max-min-distance"]  # the continuation test falls back on a-TiO2(101)
    assert report.substrate_matrix == [[2, 0], [0, 3]]
    assert report.area_A2 == pytest.approx(116.24, abs=0.01)
    assert report.matches[0].strain_percent == pytest.approx([3.31, -0.66], abs=0.01)
    z, part = atoms.positions[:, 2], atoms.arrays["part"]
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
    assert report.area_A2 == pytest.approx(76.88, abs=0.01)
    det_sub = round(abs(np.linalg.det(report.substrate_matrix)))
    assert n[0]["Ti"] == 2 * 3 * det_sub
    assert n[1]["Ru"] == 2 * det_sub
    assert report.natoms == len(atoms) == sum(report.part_natoms)
    assert report.films == ["RuO2-110", "Ru-0001"]
    assert [m.film for m in report.matches] == ["RuO2-110", "Ru-0001"]
    assert report.registry == ["epitaxial", "max-min-distance"]
    fixed = np.concatenate([c.index for c in atoms.constraints if isinstance(c, FixAtoms)])
    assert set(fixed.tolist()) == set(np.flatnonzero((part == 0) & (layer == 3)).tolist())
    d = atoms.info["interface"]
    assert KEYS <= set(d) and len(d["matches"]) == 2
    assert json.loads(json.dumps(d)) == d
    # the default 6 Å per side (ASE's convention), no overlapping atoms
    assert z.min() == pytest.approx(6.0, abs=1e-6) and atoms.cell[2, 2] - z.max() == pytest.approx(6.0, abs=1e-6)
    dist = atoms.get_all_distances(mic=True)[np.triu_indices(len(atoms), 1)]
    assert dist.min() > 1.8


@pytest.mark.parametrize(("support", "films"), SYSTEMS)
def test_every_system_builds_on_one_cell(support, films):
    atoms, report = make_interface(support, films, **_kw(films))
    assert report.films == films and [m.film for m in report.matches] == films
    assert abs(np.linalg.det(_inplane(atoms))) == pytest.approx(report.area_A2, abs=1e-3)
    assert report.natoms == len(atoms) == sum(report.part_natoms)
    assert _inplane(atoms)[0, 1] == pytest.approx(0.0, abs=1e-12)  # first supercell vector along x
    for m in report.matches:  # every film strained onto the one substrate cell
        f, _ = _strains(report.substrate_matrix, m.film_matrix, support, m.film)
        assert f == pytest.approx(m.strain_percent, abs=1e-3)
        assert max(abs(x) for x in m.strain_percent) <= 6.0
        fsl = np.array(m.film_matrix) @ _inplane(make_slab(m.film, layers=1))
        assert np.linalg.det(fsl) > 0  # no mirrored film
    part = atoms.arrays["part"]
    z = atoms.positions[:, 2]
    assert all(z[part == k].max() < z[part == k + 1].min() for k in range(len(films)))
    dist = atoms.get_all_distances(mic=True)[np.triu_indices(len(atoms), 1)]
    assert dist.min() > 1.5


def test_joint_cell_is_smaller_than_the_chain():
    _, report = make_interface("anatase-101", ["RuO2-110", "Ru-0001"], **_kw(["RuO2-110", "Ru-0001"]))
    assert report.substrate_hnf == [[1, 3], [0, 9]]
    assert report.area_A2 == pytest.approx(174.36, abs=0.01)  # the chain of matches needed 232 Å²


def test_same_build_twice_is_identical():
    films = ["RuO2-110", "Ru-0001"]
    a, ra = make_interface("anatase-101", films, **_kw(films))
    b, rb = make_interface("anatase-101", films, **_kw(films))
    assert np.array_equal(a.positions, b.positions) and np.array_equal(a.numbers, b.numbers)
    assert np.array_equal(a.cell[:], b.cell[:])
    for key in ("layer", "part", "tags"):
        assert np.array_equal(a.arrays[key], b.arrays[key])
    assert ra.to_dict() == rb.to_dict()


@pytest.mark.parametrize(("support", "films", "layers"), [
    ("anatase-101", ["Ru-0001"], [2]), ("anatase-101", ["RuO2-110", "Ru-0001"], [1, 2]),
    ("rutile-110", ["RuO2-110", "Ru-0001"], [1, 3]),
])
def test_scaled_bulks_give_the_same_cell_and_order(support, films, layers):
    kw = _kw(films, support_layers=4, film_layers=layers)
    ref, rref = make_interface(support, films, **kw)
    for bulks in (_scaled_bulks(1.005), _scaled_bulks(0.995)):
        atoms, report = make_interface(support, films, bulks=bulks, **kw)
        assert report.lattices == "given"
        assert report.substrate_matrix == rref.substrate_matrix
        assert [m.film_matrix for m in report.matches] == [m.film_matrix for m in rref.matches]
        assert np.array_equal(atoms.numbers, ref.numbers)
        assert np.array_equal(atoms.arrays["layer"], ref.arrays["layer"])
        assert np.array_equal(atoms.arrays["part"], ref.arrays["part"])
        # homogeneous strain: the same fractional in-plane coordinates, the same registry
        d = atoms.get_scaled_positions()[:, :2] - ref.get_scaled_positions()[:, :2]
        assert np.abs(d - np.rint(d)).max() < 1e-6


def test_anatase_reduction_tie_keeps_the_cell():
    # a c/a change flips the Minkowski basis of the a-TiO2(101) surface cell (a vs a - b);
    # the cell is rewritten in the CIF's basis, so the matrices and the atom order stay
    ref, rref = make_interface("anatase-101", ["Ru-0001"], **_kw(["Ru-0001"]))
    anatase = _scaled_bulks(1.01, 0.99)["anatase"]
    assert not np.allclose(make_slab("anatase-101", bulk=anatase, layers=1).cell[0, :2],
                           make_slab("anatase-101", layers=1).cell[0, :2], atol=0.5)
    atoms, report = make_interface("anatase-101", ["Ru-0001"], bulks={"anatase": anatase}, **_kw(["Ru-0001"]))
    assert report.substrate_matrix == rref.substrate_matrix
    assert report.matches[0].film_matrix == rref.matches[0].film_matrix
    assert np.array_equal(atoms.numbers, ref.numbers) and np.array_equal(atoms.arrays["layer"], ref.arrays["layer"])
    # the registry chosen at the CIF lattices moves with the interface layers
    support_top, film_bottom = _drift(ref, atoms, 0, 1), _drift(ref, atoms, 1, 2)
    assert np.linalg.norm(film_bottom - support_top) < 0.05


def test_interface_from_given_bulks():
    rutile = load_bulk("rutile")
    rutile.set_cell(rutile.cell[:] * 1.01, scale_atoms=True)
    _, report = make_interface("rutile-110", ["RuO2-110"], bulks={"rutile": rutile})
    assert report.area_A2 == pytest.approx(2.959 * 6.495 * 1.01**2, abs=0.05)
    assert report.lattices == "given" and report.substrate_matrix == [[1, 0], [0, 1]]
    assert report.matches[0].strain_percent == pytest.approx([(3.106 / (2.959 * 1.01) - 1) * 100,
                                                              (4.492 / (4.593 * 1.01) - 1) * 100], abs=0.01)
    with pytest.raises(InputError) as err:
        make_interface("rutile-110", ["RuO2-110"], bulks={"rutile": load_bulk("RuO2")})
    assert err.value.field == "bulks"


def test_ranking_is_at_the_experimental_lattices():
    # strained so far that the experimental first match is out of the limit at the given lattices
    ruo2 = load_bulk("RuO2")
    cell = ruo2.cell[:].copy()
    cell[2] *= 1.02  # c: +4.97 % -> +7.1 % on r-TiO2 [001]
    ruo2.set_cell(cell, scale_atoms=True)
    exp = find_matches("rutile-110", "RuO2-110", max_area=80.0)
    given = find_matches("rutile-110", "RuO2-110", bulks={"RuO2": ruo2}, max_area=80.0)
    assert given[0].substrate_matrix != [[1, 0], [0, 1]]
    keys = [(str(r.substrate_hnf), str(r.matches[0].film_matrix)) for r in exp]
    got = [(str(r.substrate_hnf), str(r.matches[0].film_matrix)) for r in given]
    assert got == [k for k in keys if k in set(got)]  # the experimental order, filtered
    assert all(max(abs(s) for s in r.matches[0].strain_percent) <= 6.0 for r in given)


@pytest.mark.parametrize(("support", "films", "kwargs", "field"), [
    ("anatase-101", ["Ru-0001", "RuO2-110"], {}, "films"),
    ("anatase-001", ["Ru-0001"], {}, "support"),
    ("RuO2-110", ["Ru-0001"], {}, "support"),
    ("rutile-110", ["Ru-0001", "RuO2-110"], {}, "films"),
    ("rutile-110", ["RuO2-110"], {"film_layers": [1, 2]}, "film_layers"),
    ("rutile-110", ["RuO2-110"], {"fixed_layers": 3}, "fixed_layers"),
    ("rutile-110", ["RuO2-110"], {"max_strain_percent": 0.01}, "max_strain_percent"),
    ("rutile-110", ["RuO2-110"], {"max_area": -1.0}, "max_area"),
    ("rutile-110", ["RuO2-110"], {"max_area": True}, "max_area"),
    ("rutile-110", ["RuO2-110"], {"bulks": {"foo": None}}, "bulks"),
])
def test_bad_interface_input(support, films, kwargs, field):
    with pytest.raises(InputError) as err:
        make_interface(support, films, **kwargs)
    assert err.value.field == field
