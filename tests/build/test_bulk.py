"""Bulk CIFs: composition, lattice, provenance, errors."""

from __future__ import annotations

import numpy as np
import pytest
from ase.neighborlist import neighbor_list

from spillover.build import BULKS, load_bulk, structures_dir
from spillover.errors import InputError

EXPECTED = {
    # name: (formula counts, a, c, gamma)
    "rutile": ({"Ti": 2, "O": 4}, 4.593, 2.959, 90.0),
    "anatase": ({"Ti": 4, "O": 8}, 3.784, 9.515, 90.0),
    "RuO2": ({"Ru": 2, "O": 4}, 4.492, 3.106, 90.0),
    "Ru": ({"Ru": 2}, 2.706, 4.282, 120.0),
    "Ti": ({"Ti": 2}, 2.951, 4.686, 120.0),
}


def test_bulks_table_matches_files():
    assert set(BULKS) == set(EXPECTED)
    for name, fname in BULKS.items():
        assert (structures_dir() / fname).is_file(), name


@pytest.mark.parametrize("name", list(EXPECTED))
def test_bulk_composition_and_lattice(name):
    counts, a, c, gamma = EXPECTED[name]
    atoms = load_bulk(name)
    symbols = atoms.get_chemical_symbols()
    assert {s: symbols.count(s) for s in set(symbols)} == counts
    la, lb, lc, alpha, beta, gam = atoms.cell.cellpar()
    assert la == pytest.approx(a, abs=1e-3)
    assert lb == pytest.approx(a, abs=1e-3)
    assert lc == pytest.approx(c, abs=1e-3)
    assert (alpha, beta) == pytest.approx((90.0, 90.0), abs=1e-3)
    assert gam == pytest.approx(gamma, abs=1e-3)
    assert atoms.pbc.all()


@pytest.mark.parametrize("name", list(EXPECTED))
def test_cif_has_provenance(name):
    first = (structures_dir() / BULKS[name]).read_text().splitlines()[0]
    assert first.startswith("# source:")
    assert "experimental a =" in first and "c =" in first


@pytest.mark.parametrize(("name", "bonds"), [
    ("rutile", [1.948] * 4 + [1.980] * 2),
    ("anatase", [1.934] * 4 + [1.980] * 2),
    ("RuO2", [1.943] * 2 + [1.983] * 4),
])
def test_metal_oxygen_bonds(name, bonds):
    """The M-O octahedra of the experimental structures (anatase: 1.93 x4 / 1.98 x2 Å)."""
    atoms = load_bulk(name)
    i, _, d = neighbor_list("ijd", atoms, 2.2)
    for metal in (k for k, s in enumerate(atoms.get_chemical_symbols()) if s != "O"):
        assert np.sort(d[i == metal]) == pytest.approx(bonds, abs=0.005)


def test_unknown_bulk_names_the_field():
    with pytest.raises(InputError) as err:
        load_bulk("foo")
    assert err.value.field == "material"
    assert "rutile" in str(err.value)


def test_structures_dir_env(tmp_path, monkeypatch):
    monkeypatch.setenv("SPILLOVER_STRUCTURES_DIR", str(tmp_path))
    assert structures_dir() == tmp_path
    with pytest.raises(InputError, match="missing"):
        load_bulk("rutile")
    monkeypatch.setenv("SPILLOVER_STRUCTURES_DIR", str(tmp_path / "nope"))
    with pytest.raises(InputError):
        structures_dir()
