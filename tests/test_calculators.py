"""Presets: inheritance, overrides, validation, and the parameters calculators are built with."""

from __future__ import annotations

import pytest
from ase.build import bulk

from spillover.build.slabs import make_slab
from spillover.calculators import available_presets, calculator_parameters, load_preset
from spillover.errors import InputError


def test_builtin_presets_listed():
    assert {"screen", "gpaw-test", "gpaw-production"} <= set(available_presets())


def test_production_inherits_and_overrides_parent():
    parent, child = load_preset("gpaw-test"), load_preset("gpaw-production")
    assert child.parent == "gpaw-test"
    assert child.gpaw["xc"] == parent.gpaw["xc"] == "PBE"  # inherited
    assert child.gpaw["txt"] == parent.gpaw["txt"]  # inherited
    assert child.gpaw["mode"]["ecut"] >= 500 > parent.gpaw["mode"]["ecut"]
    assert child.gpaw["mode"]["dedecut"] == "estimate"  # Pulay-stress correction where cells relax
    assert child.relax.bulk_cell and not parent.relax.bulk_cell
    assert child.gpaw["spinpol"] is True


def test_lcao_test_preset_differs_from_gpaw_test_in_mode_and_basis_only():
    # benchmarks/gpaw_modes.py compares the two presets as "plane waves versus LCAO"
    pw, lcao = load_preset("gpaw-test").model_dump(), load_preset("gpaw-test-lcao").model_dump()
    assert lcao["gpaw"].pop("mode") == {"name": "lcao"} and lcao["gpaw"].pop("basis") == "dzp"
    assert pw["gpaw"].pop("mode")["name"] == "pw"
    for preset in (pw, lcao):
        del preset["name"], preset["description"]
    assert lcao == pw


def test_spin_paired_gpaw_ignores_vacancy_moments(tmp_path):
    # GPAW runs spin-polarised whenever the atoms carry moments, even with spinpol=False
    from ase.build import molecule

    from spillover.calculators import make_calculator

    atoms = molecule("H2", vacuum=2.0)
    atoms.set_initial_magnetic_moments([1.0, 0.0])
    assert calculator_parameters(load_preset("gpaw-test"), atoms)["magmoms"] == [0.0, 0.0]
    assert "magmoms" not in calculator_parameters(load_preset("gpaw-production"), atoms)  # spinpol: moments used
    assert "magmoms" not in calculator_parameters(load_preset("gpaw-test"), molecule("H2", vacuum=2.0))
    preset = load_preset("gpaw-test-lcao", {"gpaw": {"basis": "sz(dzp)", "txt": str(tmp_path / "h2.txt")}})
    atoms.calc, _ = make_calculator(preset, atoms)
    atoms.get_potential_energy()
    assert "Spin-components: 1" in (tmp_path / "h2.txt").read_text()
    assert atoms.get_initial_magnetic_moments().tolist() == [1.0, 0.0]  # the structure keeps them


def test_overrides_deep_merge_and_keep_siblings():
    preset = load_preset("gpaw-test", {"gpaw": {"mode": {"ecut": 400}}, "relax": {"fmax": 0.03}})
    assert preset.gpaw["mode"] == {"name": "pw", "ecut": 400}
    assert preset.relax.fmax == 0.03 and preset.relax.optimizer == "BFGS"


@pytest.mark.parametrize(
    ("name", "overrides", "field"),
    [
        ("no-such-preset", None, "preset"),
        ("screen", {"colour": "red"}, "preset.colour"),
        ("screen", {"relax": {"fmax": -0.1}}, "preset.relax.fmax"),
        ("screen", {"relax": {"optimizer": "Newton"}}, "preset.relax.optimizer"),
        ("gpaw-test", {"gpaw": {"ecutt": 300}}, "preset.gpaw.ecutt"),
        ("screen", {"chgnet": {"model": "x"}}, "preset.chgnet.model"),
        ("screen", {"hubbard_u": {"Ti": 4.0}}, "preset.hubbard_u/dispersion"),
    ],
)
def test_bad_presets_name_the_field(name, overrides, field):
    with pytest.raises(InputError) as err:
        load_preset(name, overrides)
    assert err.value.field == field


def test_unknown_preset_lists_allowed():
    with pytest.raises(InputError, match="allowed: .*gpaw-production.*screen"):
        load_preset("nope")


def test_dipole_correction_only_for_asymmetric_slabs():
    preset = load_preset("gpaw-production")
    asymmetric = make_slab("rutile-110", layers=3, fixed_layers=1)
    symmetric = make_slab("rutile-110", layers=3, fixed_layers=0)
    assert calculator_parameters(preset, asymmetric)["poissonsolver"] == {"dipolelayer": "xy"}
    assert "poissonsolver" not in calculator_parameters(preset, symmetric)
    assert "poissonsolver" not in calculator_parameters(preset, bulk("Ru", "hcp", a=2.706, c=4.282))
    assert "poissonsolver" not in calculator_parameters(load_preset("gpaw-test"), asymmetric)


def test_hubbard_u_and_d3_become_gpaw_parameters():
    preset = load_preset("gpaw-production", {"hubbard_u": {"Ti": 4.0}, "dispersion": "d3"})
    params = calculator_parameters(preset)
    assert params["setups"] == {"Ti": ":d,4.0"}
    assert params["extensions"] == [{"name": "d3", "xc": "PBE"}]


def test_user_preset_directory_and_cycle(tmp_path, monkeypatch):
    (tmp_path / "mine.yaml").write_text("parent: gpaw-test\ngpaw: {mode: {ecut: 320}}\n")
    (tmp_path / "loop-a.yaml").write_text("parent: loop-b\n")
    (tmp_path / "loop-b.yaml").write_text("parent: loop-a\n")
    monkeypatch.setenv("SPILLOVER_PRESET_PATH", f'["{tmp_path}"]')
    assert load_preset("mine").gpaw["mode"]["ecut"] == 320
    with pytest.raises(InputError, match="cycle"):
        load_preset("loop-a")
