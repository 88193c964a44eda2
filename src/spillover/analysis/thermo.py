"""The oxygen reference: O2 ideal-gas thermochemistry, dmu_O(T, p) and the fitted O2 correction.

Definitions (docs/science.md, "Oxygen reference"):

* ``mu_O(T, p) = 1/2 E(O2) + delta + dmu_O(T, p)``, with ``E(O2)`` the total energy of the triplet
  molecule in a box at the same preset as every energy it is combined with, and ``delta`` the
  optional fitted shift per O atom (0 for the raw reference).
* ``dmu_O(T, p) = 1/2 [G_O2(T, p0) - ZPE] + 1/2 kT ln(p / p0)``, ``p0 = 1 bar``, where ``G_O2`` is
  the Gibbs energy of the ideal gas from :class:`ase.thermochemistry.IdealGasThermo` (linear
  molecule, symmetry number 2, spin 1) with zero potential energy. The zero-point energy is taken
  out by default so that ``dmu_O(T -> 0) = 0`` as in Reuter and Scheffler, Phys. Rev. B 65, 035406
  (2002): the solids' zero-point energies are neglected as well. At 300 K and 1 bar this gives
  -0.27 eV, at 1000 K -1.10 eV (Reuter-Scheffler's table: -0.27 and -1.10 eV at 1 atm).
* Vibration: by default the experimental harmonic frequency of gaseous O2,
  omega_e = 1580.19 cm^-1 (0.19592 eV), with the experimental bond length r_e = 1.2075 Å
  (K. P. Huber and G. Herzberg, Constants of Diatomic Molecules, 1979); or the frequency computed
  with :class:`ase.vibrations.Vibrations` on the relaxed molecule at the preset.
* O2 correction: ``dHf_calc(MxOy) = E(MxOy) - x E(M) - y (1/2 E(O2) + delta)``; ``delta`` is the
  least-squares fit of ``dHf_calc`` to experiment over the compounds (one parameter). GGA
  overbinds O2, so its E(O2) is too low and its oxides look too weakly bound: ``delta`` comes out
  positive, about +0.7 eV per O for PBE (Wang, Maxisch and Ceder, Phys. Rev. B 73, 195107 (2006)).

Everything here is a pure function of numbers; nothing runs a calculator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

from spillover.errors import InputError

#: 1 eV/Å² in J/m².
EV_PER_A2_IN_J_PER_M2 = 16.02176634
#: 1 eV per particle in kJ/mol.
KJ_PER_MOL_PER_EV = 96.485332
#: 1 cm^-1 in eV.
EV_PER_INVCM = 1.239841984e-4
#: Experimental harmonic frequency of O2 (X 3Sigma_g^-), Huber and Herzberg (1979).
O2_EXP_FREQUENCY_CM = 1580.19
O2_EXP_FREQUENCY_EV = O2_EXP_FREQUENCY_CM * EV_PER_INVCM
#: Experimental equilibrium bond length of O2 (Å), Huber and Herzberg (1979).
O2_EXP_BOND_A = 1.2075
#: Standard pressure of the ideal-gas reference (bar).
P0_BAR = 1.0
#: Temperature window in which :func:`temperature_at` looks for a solution (K).
T_SEARCH_K = (10.0, 5000.0)


def check_temperature(value: float, field: str = "T") -> float:
    """A temperature in K, > 0 and finite, or :class:`InputError` naming ``field``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not math.isfinite(value) \
            or value <= 0:
        raise InputError(field, f"temperature must be a finite number > 0 K, got {value!r}", "> 0 K")
    return float(value)


def check_pressure(value: float, field: str = "p") -> float:
    """A pressure in bar, > 0 and finite, or :class:`InputError` naming ``field``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not math.isfinite(value) \
            or value <= 0:
        raise InputError(field, f"pressure must be a finite number > 0 bar, got {value!r}", "> 0 bar")
    return float(value)


def o2_molecule(bond_A: float = O2_EXP_BOND_A):
    """An O2 molecule (ase.Atoms) with bond length ``bond_A`` along z, no cell."""
    from ase import Atoms

    return Atoms("O2", positions=[[0.0, 0.0, 0.0], [0.0, 0.0, float(bond_A)]])


@lru_cache(maxsize=16)
def _thermo(frequency_eV: float, bond_A: float):
    from ase.thermochemistry import IdealGasThermo

    return IdealGasThermo(
        vib_energies=[frequency_eV],
        geometry="linear",
        potentialenergy=0.0,
        atoms=o2_molecule(bond_A),
        symmetrynumber=2,
        spin=1,
    )


def o2_thermo(frequency_eV: float = O2_EXP_FREQUENCY_EV, bond_A: float = O2_EXP_BOND_A):
    """ASE's :class:`~ase.thermochemistry.IdealGasThermo` of triplet O2 (zero potential energy).

    Parameters
    ----------
    frequency_eV
        Harmonic vibrational energy of the O-O stretch (eV).
    bond_A
        Bond length (Å); sets the moment of inertia of the rotational entropy.
    """
    if not frequency_eV > 0:
        raise InputError("o2_frequency", f"must be a real frequency > 0 eV, got {frequency_eV!r}", "> 0")
    return _thermo(float(frequency_eV), float(bond_A))


def delta_mu_o(
    T: float,
    p_bar: float = P0_BAR,
    frequency_eV: float = O2_EXP_FREQUENCY_EV,
    bond_A: float = O2_EXP_BOND_A,
    include_zpe: bool = False,
) -> float:
    """The oxygen chemical potential relative to 1/2 E(O2), dmu_O(T, p), in eV per O atom.

    Parameters
    ----------
    T
        Temperature (K), > 0.
    p_bar
        O2 partial pressure (bar), > 0.
    frequency_eV, bond_A
        O2 vibration and bond length (defaults: experiment).
    include_zpe
        Keep 1/2 ZPE(O2) in dmu_O (default False: dmu_O -> 0 as T -> 0).

    Returns
    -------
    float
        ``1/2 [G(T, p0) - ZPE] + 1/2 kT ln(p / p0)``.

    Notes
    -----
    ASE's ``IdealGasThermo.get_gibbs_energy`` takes the pressure in Pa (its reference pressure is
    1e5 Pa); the pressure term is added here explicitly, at ``p0``.
    """
    from ase.units import kB

    T = check_temperature(T)
    p_bar = check_pressure(p_bar)
    thermo = o2_thermo(frequency_eV, bond_A)
    with np.errstate(over="ignore"):  # exp(hw/kT) overflows harmlessly at a few K
        g0 = thermo.get_gibbs_energy(T, P0_BAR * 1e5, verbose=False)
    if not include_zpe:
        g0 -= thermo.get_ZPE_correction()
    return 0.5 * g0 + 0.5 * kB * T * math.log(p_bar / P0_BAR)


def delta_mu_o_grid(
    temperatures_K: list[float], pressures_bar: list[float], **kwargs: Any
) -> list[dict[str, float]]:
    """dmu_O on every (T, p) of a grid: ``[{"T_K", "p_bar", "dmu_O_eV"}, ...]``, T outer."""
    return [
        {"T_K": float(T), "p_bar": float(p), "dmu_O_eV": delta_mu_o(T, p, **kwargs)}
        for T in temperatures_K
        for p in pressures_bar
    ]


def temperature_at(
    dmu_O: float, p_bar: float = P0_BAR, frequency_eV: float = O2_EXP_FREQUENCY_EV,
    bond_A: float = O2_EXP_BOND_A, window: tuple[float, float] = T_SEARCH_K,
) -> float | None:
    """The temperature at which dmu_O(T, p) equals ``dmu_O`` (dmu_O falls monotonically with T).

    Returns
    -------
    float or None
        T in K, or None when no T inside ``window`` gives that dmu_O (e.g. ``dmu_O >= 0`` at 1 bar).
    """
    from scipy.optimize import brentq

    p_bar = check_pressure(p_bar)

    def f(T: float) -> float:
        return delta_mu_o(T, p_bar, frequency_eV, bond_A) - dmu_O

    lo, hi = window
    if f(lo) * f(hi) > 0:
        return None
    return float(brentq(f, lo, hi, xtol=1e-6))


def mu_o(e_o2: float, dmu_O: float = 0.0, shift_eV_per_O: float = 0.0) -> float:
    """mu_O = 1/2 E(O2) + delta + dmu_O (eV per O atom)."""
    return 0.5 * float(e_o2) + float(shift_eV_per_O) + float(dmu_O)


def oxidation_energy(e_config: float, e_clean: float, n_O: int, e_o2: float, shift_eV_per_O: float = 0.0) -> float:
    """dE = E(c) - E(clean) - n (1/2 E(O2) + delta): the oxidation energy at dmu_O = 0 (eV)."""
    return float(e_config) - float(e_clean) - n_O * mu_o(e_o2, 0.0, shift_eV_per_O)


def gamma(
    e_config: float, e_clean: float, n_O: int, area_A2: float, e_o2: float, dmu_O: float = 0.0,
    shift_eV_per_O: float = 0.0,
) -> float:
    """Oxidation energy per area, gamma(c) = [E(c) - E(clean) - n mu_O] / A (eV/Å²).

    Parameters
    ----------
    e_config, e_clean
        Total energies of the configuration with ``n_O`` extra O atoms and of the clean model (eV).
    n_O
        Number of extra O atoms.
    area_A2
        Cell area A (Å²).
    e_o2
        Total energy of O2 (eV), same preset.
    dmu_O
        Oxygen chemical potential relative to 1/2 E(O2) (eV).
    shift_eV_per_O
        O2 correction per O atom (0 for the raw reference).
    """
    if not area_A2 > 0:
        raise InputError("area", f"must be > 0 Å², got {area_A2!r}")
    return (float(e_config) - float(e_clean) - n_O * mu_o(e_o2, dmu_O, shift_eV_per_O)) / float(area_A2)


def zero_crossing(e_config: float, e_clean: float, n_O: int, e_o2: float, shift_eV_per_O: float = 0.0) -> float:
    """The dmu_O at which gamma(c) = 0: oxidation favourable for larger dmu_O (eV)."""
    if n_O < 1:
        raise InputError("n_O", f"must be >= 1, got {n_O!r}")
    return oxidation_energy(e_config, e_clean, n_O, e_o2, shift_eV_per_O) / n_O


# -- formation energies and the O2 correction ---------------------------------------------------


@dataclass(frozen=True)
class Reference:
    """An experimental formation enthalpy (eV per formula unit) with its source."""

    name: str
    formula: str
    metal: str
    n_metal: int
    n_O: int
    dHf_eV: float
    uncertainty_eV: float
    source: str


def load_formation_enthalpies() -> dict[str, Reference]:
    """The experimental formation enthalpies of ``spillover/data/formation_enthalpies.yaml``.

    Returns
    -------
    dict
        Bulk name (``rutile``, ``anatase``, ``RuO2``) -> :class:`Reference`, values in eV per formula unit.
    """
    import yaml

    text = (resources.files("spillover") / "data" / "formation_enthalpies.yaml").read_text()
    data = yaml.safe_load(text)
    out = {}
    for name, c in data["compounds"].items():
        out[name] = Reference(
            name=name,
            formula=c["formula"],
            metal=c["metal"],
            n_metal=int(c["n_metal"]),
            n_O=int(c["n_O"]),
            dHf_eV=float(c["dHf_kJ_per_mol"]) / KJ_PER_MOL_PER_EV,
            uncertainty_eV=float(c.get("uncertainty_kJ_per_mol", 0.0)) / KJ_PER_MOL_PER_EV,
            source=" ".join(str(c["source"]).split()),
        )
    return out


def formation_energy(
    e_oxide_per_fu: float, e_metal_per_atom: float, e_o2: float, n_metal: int, n_O: int,
    shift_eV_per_O: float = 0.0,
) -> float:
    """dHf = E(MxOy) - x E(M) - y (1/2 E(O2) + delta), eV per formula unit."""
    return float(e_oxide_per_fu) - n_metal * float(e_metal_per_atom) - n_O * mu_o(e_o2, 0.0, shift_eV_per_O)


def fit_o2_shift(raw_dHf_eV: list[float], exp_dHf_eV: list[float], n_O: list[int]) -> dict[str, float]:
    """Least-squares shift per O atom that makes computed formation energies match experiment.

    Minimises ``sum_i (raw_i - n_i delta - exp_i)^2``, so
    ``delta = sum_i n_i (raw_i - exp_i) / sum_i n_i^2``.

    Parameters
    ----------
    raw_dHf_eV
        Computed formation energies with the raw reference (delta = 0), eV per formula unit.
    exp_dHf_eV
        Experimental formation enthalpies, eV per formula unit.
    n_O
        O atoms per formula unit.

    Returns
    -------
    dict
        ``shift_eV_per_O``, ``rms_raw_eV`` and ``rms_corrected_eV`` (per formula unit).
    """
    raw, exp, n = (np.asarray(x, dtype=float) for x in (raw_dHf_eV, exp_dHf_eV, n_O))
    if not (len(raw) == len(exp) == len(n)) or len(raw) == 0:
        raise InputError("formation_energies", "need one raw value, one experimental value and n_O per compound")
    (delta,), *_ = np.linalg.lstsq(n[:, None], raw - exp, rcond=None)
    return {
        "shift_eV_per_O": float(delta),
        "rms_raw_eV": float(np.sqrt(np.mean((raw - exp) ** 2))),
        "rms_corrected_eV": float(np.sqrt(np.mean((raw - n * delta - exp) ** 2))),
    }
