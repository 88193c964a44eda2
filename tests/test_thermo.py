"""The O reference: dmu_O(T, p) against ASE's IdealGasThermo and tabulated values; gamma; the O2 fit."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ase import Atoms
from ase.thermochemistry import IdealGasThermo
from ase.units import kB

from spillover.analysis import thermo
from spillover.errors import InputError


@pytest.mark.parametrize("T", [100.0, 300.0, 650.0, 1000.0, 1800.0])
@pytest.mark.parametrize("p_bar", [1e-10, 1e-3, 1.0, 20.0])
def test_delta_mu_matches_ase_ideal_gas_thermo(T, p_bar):
    o2 = Atoms("O2", positions=[[0, 0, 0], [0, 0, 1.2075]])
    gas = IdealGasThermo([1580.19 * 1.239841984e-4], "linear", atoms=o2, symmetrynumber=2, spin=1, potentialenergy=0.0)
    # ASE takes the pressure in Pa here (reference 1e5 Pa); the ZPE is taken out of dmu_O
    expected = 0.5 * (gas.get_gibbs_energy(T, p_bar * 1e5, verbose=False) - gas.get_ZPE_correction())
    assert thermo.delta_mu_o(T, p_bar) == pytest.approx(expected, abs=1e-9)
    with_zpe = 0.5 * gas.get_gibbs_energy(T, p_bar * 1e5, verbose=False)
    assert thermo.delta_mu_o(T, p_bar, include_zpe=True) == pytest.approx(with_zpe, abs=1e-9)


def test_pressure_term_is_half_kT_ln_p():
    for T in (300.0, 900.0):
        for p in (1e-8, 0.2, 50.0):
            diff = thermo.delta_mu_o(T, p) - thermo.delta_mu_o(T, 1.0)
            assert diff == pytest.approx(0.5 * kB * T * math.log(p), abs=1e-12)


@pytest.mark.parametrize(("T", "table"), [(300.0, -0.27), (600.0, -0.61), (1000.0, -1.10)])
def test_delta_mu_against_reuter_scheffler_table(T, table):
    # Reuter and Scheffler, PRB 65, 035406 (2002), Table I (1 atm; 1 bar differs by < 1 meV)
    assert thermo.delta_mu_o(T, 1.0) == pytest.approx(table, abs=0.01)


def test_delta_mu_falls_with_T_and_temperature_at_inverts_it():
    Ts = np.linspace(50, 3000, 30)
    dmu = [thermo.delta_mu_o(T) for T in Ts]
    assert np.all(np.diff(dmu) < 0)
    for T in (300.0, 777.0, 1500.0):
        assert thermo.temperature_at(thermo.delta_mu_o(T, 1e-5), 1e-5) == pytest.approx(T, rel=1e-6)
    assert thermo.temperature_at(0.1) is None  # above the O2 reference: no temperature at 1 bar


def test_computed_frequency_changes_dmu_as_ase_says():
    o2 = Atoms("O2", positions=[[0, 0, 0], [0, 0, 1.23]])
    gas = IdealGasThermo([0.19], "linear", atoms=o2, symmetrynumber=2, spin=1)
    expected = 0.5 * (gas.get_gibbs_energy(500.0, 1e5, verbose=False) - gas.get_ZPE_correction())
    assert thermo.delta_mu_o(500.0, 1.0, frequency_eV=0.19, bond_A=1.23) == pytest.approx(expected, abs=1e-9)


def test_gamma_formula_with_hand_built_energies():
    e_o2, e_clean, area = -9.86, -500.0, 40.0
    e_conf = e_clean + 2 * (0.5 * e_o2) - 3.0  # 2 O bound by 1.5 eV each relative to 1/2 O2
    assert thermo.gamma(e_conf, e_clean, 2, area, e_o2) == pytest.approx(-3.0 / 40.0)
    # at dmu_O = -1.5 eV the configuration is as stable as the clean one
    assert thermo.gamma(e_conf, e_clean, 2, area, e_o2, dmu_O=-1.5) == pytest.approx(0.0, abs=1e-12)
    assert thermo.zero_crossing(e_conf, e_clean, 2, e_o2) == pytest.approx(-1.5)
    # a shift of the O reference acts like a shift of dmu_O
    assert thermo.gamma(e_conf, e_clean, 2, area, e_o2, shift_eV_per_O=0.3) == pytest.approx(
        thermo.gamma(e_conf, e_clean, 2, area, e_o2, dmu_O=0.3)
    )
    assert thermo.EV_PER_A2_IN_J_PER_M2 == pytest.approx(16.0218, abs=1e-4)


def test_o2_shift_fit_recovers_a_known_shift():
    exp = [-9.79, -9.76, -3.14]
    n_O = [2, 2, 2]
    delta = 0.68
    raw = [e + n * delta for e, n in zip(exp, n_O)]
    fit = thermo.fit_o2_shift(raw, exp, n_O)
    assert fit["shift_eV_per_O"] == pytest.approx(delta)
    assert fit["rms_corrected_eV"] == pytest.approx(0.0, abs=1e-12)
    assert fit["rms_raw_eV"] == pytest.approx(2 * delta)
    # least squares with scatter: the closed form sum n (raw - exp) / sum n^2
    raw2 = [-9.0, -9.2, -2.0]
    expected = sum(n * (r - e) for r, e, n in zip(raw2, exp, n_O)) / sum(n * n for n in n_O)
    assert thermo.fit_o2_shift(raw2, exp, n_O)["shift_eV_per_O"] == pytest.approx(expected)


def test_formation_energy_per_formula_unit():
    # E(TiO2) = -26.9, E(Ti) = -7.8 per atom, E(O2) = -9.86: dHf = -26.9 + 7.8 + 9.86
    assert thermo.formation_energy(-26.9, -7.8, -9.86, 1, 2) == pytest.approx(-9.24)
    assert thermo.formation_energy(-26.9, -7.8, -9.86, 1, 2, shift_eV_per_O=0.5) == pytest.approx(-10.24)


def test_experimental_formation_enthalpies_have_sources():
    refs = thermo.load_formation_enthalpies()
    assert set(refs) == {"rutile", "anatase", "RuO2"}
    assert refs["rutile"].dHf_eV == pytest.approx(-944.747 / 96.485332)
    assert refs["rutile"].dHf_eV < refs["anatase"].dHf_eV < refs["RuO2"].dHf_eV < 0
    assert all(len(r.source) > 40 and r.n_O == 2 for r in refs.values())


@pytest.mark.parametrize("bad", [0.0, -10.0, float("nan"), float("inf")])
def test_bad_temperature_and_pressure(bad):
    with pytest.raises(InputError) as err:
        thermo.delta_mu_o(bad, 1.0)
    assert err.value.field == "T"
    with pytest.raises(InputError) as err:
        thermo.delta_mu_o(300.0, bad)
    assert err.value.field == "p"
