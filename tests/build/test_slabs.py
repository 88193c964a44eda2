"""Slabs: terminations, stoichiometry, layers, constraints, vacuum, input errors."""

from __future__ import annotations

import numpy as np
import pytest
from ase.constraints import FixAtoms
from ase.neighborlist import neighbor_list

from spillover.build import SLAB_NAMES, load_bulk, make_slab, parse_facet
from spillover.build.layers import flips_z
from spillover.errors import InputError

CHARGE = {"Ti": 4, "Ru": 4, "O": -2}


def _fixed(atoms):
    idx = [c.index for c in atoms.constraints if isinstance(c, FixAtoms)]
    return set(np.concatenate(idx).tolist()) if idx else set()


def _check_common(atoms, layers, vacuum=6.0):
    cell = atoms.cell[:]
    assert atoms.pbc.all()
    assert np.allclose(cell[2, :2], 0.0) and np.allclose(cell[:2, 2], 0.0)  # c perpendicular, z = normal
    z = atoms.positions[:, 2]
    # ASE's convention: ``vacuum`` on each side, twice it between the periodic images
    assert z.min() == pytest.approx(vacuum, abs=1e-6) and cell[2, 2] - z.max() == pytest.approx(vacuum, abs=1e-6)
    layer = atoms.arrays["layer"]
    assert layer.dtype.kind == "i"
    assert sorted(set(layer.tolist())) == list(range(1, layers + 1))
    # layer 1 is on top: mean heights decrease with the layer index
    means = [z[layer == k].mean() for k in range(1, layers + 1)]
    assert all(a > b for a, b in zip(means, means[1:]))


def _dipole_z(atoms):
    q = np.array([CHARGE[s] for s in atoms.get_chemical_symbols()])
    z = atoms.positions[:, 2]
    return float(np.sum(q * (z - z.mean())))


@pytest.mark.parametrize(("name", "expected"), [
    ("rutile-110", ("rutile", (1, 1, 0))),
    ("anatase-101", ("anatase", (1, 0, 1))),
    ("RuO2-110", ("RuO2", (1, 1, 0))),
    ("Ru-0001", ("Ru", (0, 0, 0, 1))),
    ("Ru-001", ("Ru", (0, 0, 1))),
    ("Ru-10-10", ("Ru", (1, 0, -1, 0))),
    ("rutile-1-10", ("rutile", (1, -1, 0))),
])
def test_parse_facet(name, expected):
    assert parse_facet(name) == expected


@pytest.mark.parametrize("name", ["rutile-000", "Ru-1111", "foo-110", "rutile", "rutile-11", "rutile-1100",
                                  "rutile-1a0", "Ru-00001", ""])
def test_parse_facet_errors(name):
    with pytest.raises(InputError) as err:
        parse_facet(name)
    assert err.value.field == "facet"


def test_rutile_110_three_trilayers():
    atoms = make_slab("rutile-110", layers=3, fixed_layers=1)
    _check_common(atoms, 3)
    sym = np.array(atoms.get_chemical_symbols())
    assert (sym == "O").sum() == 2 * (sym == "Ti").sum()
    layer = atoms.arrays["layer"]
    counts = [int((layer == k).sum()) for k in (1, 2, 3)]
    assert counts == [6, 6, 6]
    for k in (1, 2, 3):  # every trilayer is a stoichiometric Ti2O4 unit
        assert (sym[layer == k] == "O").sum() == 2 * (sym[layer == k] == "Ti").sum()
    # top: two-fold bridging O, 1.2-1.3 Å above the Ti plane
    top = int(np.argmax(atoms.positions[:, 2]))
    assert sym[top] == "O"
    i, j, d = neighbor_list("ijd", atoms, 2.2)
    assert sorted(sym[j[i == top]].tolist()) == ["Ti", "Ti"]
    # five- and six-fold Ti on the surface
    ti1 = np.flatnonzero((sym == "Ti") & (layer == 1))
    assert sorted(np.bincount(i, minlength=len(atoms))[ti1].tolist()) == [5, 6]
    # symmetric and non-polar
    assert flips_z(atoms)
    assert abs(_dipole_z(atoms)) < 1e-6
    assert _fixed(atoms) == set(np.flatnonzero(layer == 3).tolist())
    assert atoms.info["slab"] == {"name": "rutile-110", "miller": [1, 1, 0], "layers": 3, "repeat": [1, 1],
                                  "vacuum": 6.0, "fixed_layers": 1}
    # the surface cell is the 2.959 x 6.495 Å rectangle
    assert sorted(atoms.cell.lengths()[:2]) == pytest.approx([2.959, 6.495], abs=1e-3)


def test_fixed_layers_and_repeat():
    atoms = make_slab("rutile-110", layers=4, fixed_layers=2, repeat=(2, 1))
    layer = atoms.arrays["layer"]
    assert len(atoms) == 4 * 6 * 2
    assert _fixed(atoms) == set(np.flatnonzero(layer >= 3).tolist())
    assert make_slab("rutile-110", layers=2).constraints == []


def test_anatase_101():
    atoms = make_slab("anatase-101", layers=3, fixed_layers=1)
    _check_common(atoms, 3)
    sym = np.array(atoms.get_chemical_symbols())
    layer = atoms.arrays["layer"]
    for k in (1, 2, 3):
        sel = layer == k
        assert (sym[sel] == "Ti").sum() == 2 and (sym[sel] == "O").sum() == 4
    # saw-tooth stoichiometric termination: two-fold O on top, five-fold Ti in layer 1
    i, j = neighbor_list("ij", atoms, 2.2)
    cn = np.bincount(i, minlength=len(atoms))
    top = int(np.argmax(atoms.positions[:, 2]))
    assert sym[top] == "O" and cn[top] == 2
    assert sorted(cn[(sym == "Ti") & (layer == 1)].tolist()) == [5, 6]
    assert flips_z(atoms)
    assert abs(_dipole_z(atoms)) < 1e-6


def test_ruo2_110():
    atoms = make_slab("RuO2-110", layers=2)
    _check_common(atoms, 2)
    sym = np.array(atoms.get_chemical_symbols())
    assert (sym == "O").sum() == 2 * (sym == "Ru").sum() == 8
    assert sym[np.argmax(atoms.positions[:, 2])] == "O"
    assert sorted(atoms.cell.lengths()[:2]) == pytest.approx([3.106, 6.353], abs=1e-3)


def test_ru_0001_atomic_layers():
    atoms = make_slab("Ru-0001", layers=4, repeat=(2, 2), fixed_layers=2, vacuum=7.5)
    _check_common(atoms, 4, vacuum=7.5)
    layer = atoms.arrays["layer"]
    assert [int((layer == k).sum()) for k in range(1, 5)] == [4, 4, 4, 4]
    z = atoms.positions[:, 2]
    planes = [z[layer == k].mean() for k in range(1, 5)]
    assert -np.diff(planes) == pytest.approx([4.282 / 2] * 3, abs=1e-3)
    assert atoms.cell.lengths()[:2] == pytest.approx([2 * 2.706] * 2, abs=1e-3)
    assert _fixed(atoms) == set(np.flatnonzero(layer >= 3).tolist())


def test_slab_from_given_bulk():
    bulk = load_bulk("rutile")
    bulk.set_cell(bulk.cell[:] * 1.02, scale_atoms=True)
    atoms = make_slab("rutile-110", bulk=bulk, layers=1)
    assert sorted(atoms.cell.lengths()[:2]) == pytest.approx([2.959 * 1.02, 6.495 * 1.02], abs=2e-3)
    with pytest.raises(InputError) as err:
        make_slab("rutile-110", bulk=load_bulk("RuO2"))
    assert err.value.field == "bulk"


def test_generic_facet():
    atoms = make_slab("rutile-101", layers=2)
    sym = np.array(atoms.get_chemical_symbols())
    assert (sym == "O").sum() == 2 * (sym == "Ti").sum()
    assert flips_z(atoms)


@pytest.mark.parametrize(("name", "kwargs", "field"), [
    ("rutile-000", {}, "facet"),
    ("Ru-1111", {}, "facet"),
    ("foo-110", {}, "facet"),
    ("rutile-111", {}, "facet"),  # no symmetric stoichiometric non-polar termination
    ("rutile-110", {"layers": 0}, "layers"),
    ("rutile-110", {"vacuum": -1.0}, "vacuum"),
    ("rutile-110", {"bulk": "rutile"}, "bulk"),
    ("rutile-110", {"layers": 3, "fixed_layers": 3}, "fixed_layers"),
    ("rutile-110", {"fixed_layers": -1}, "fixed_layers"),
    ("rutile-110", {"repeat": (0, 1)}, "repeat"),
    ("rutile-110", {"repeat": (1,)}, "repeat"),
])
def test_bad_slab_input(name, kwargs, field):
    with pytest.raises(InputError) as err:
        make_slab(name, **kwargs)
    assert err.value.field == field


def test_small_vacuum_allowed():
    atoms = make_slab("Ru-0001", layers=2, vacuum=2.5)
    z = atoms.positions[:, 2]
    assert atoms.cell[2, 2] - (z.max() - z.min()) == pytest.approx(5.0)  # 2.5 Å per side


def test_slab_names_build():
    for name in SLAB_NAMES:
        assert make_slab(name, layers=1).arrays["layer"].max() == 1
