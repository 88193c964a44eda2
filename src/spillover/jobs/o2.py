"""The O2 reference every mu_O needs: the molecule, its vibration, the fitted correction per O.

1. The triplet molecule in a box relaxes at the study's preset (CHGNet has no spin; with GPAW the
   molecule is spin-polarised with initial moments 1, 1 and Gamma-point only; GPAW's ``hund``
   applies to single atoms only).
2. ``o2_vibrations`` (optional): the O-O stretch with :class:`ase.vibrations.Vibrations`.
3. ``o2_correction`` (optional): formation energies of rutile, anatase and RuO2 from the relaxed
   bulks, Ti and Ru; one shift per O atom fitted to experiment (``spillover/data``).
"""

from __future__ import annotations

import contextlib
import io
from typing import TYPE_CHECKING

from jobflow import job

from spillover.errors import InputError
from spillover.schemas import plain as _plain
from spillover.schemas.oxidation import FormationEntry, O2CorrectionDoc, O2VibrationDoc

if TYPE_CHECKING:
    from pymatgen.core import Structure

#: Bulks whose relaxations the O2 correction needs (oxides and their metals).
CORRECTION_BULKS = ("rutile", "anatase", "RuO2", "Ti", "Ru")


def o2_structure(box_A: float = 12.0) -> Structure:
    """Triplet O2 (experimental bond, initial moments 1, 1) in a slightly orthorhombic box."""
    from pymatgen.core import Lattice, Structure

    from spillover.analysis.thermo import O2_EXP_BOND_A

    lattice = Lattice.orthorhombic(box_A, box_A + 0.5, box_A + 1.0)
    centre = [box_A / 2, (box_A + 0.5) / 2, (box_A + 1.0) / 2]
    coords = [[centre[0], centre[1], centre[2] - O2_EXP_BOND_A / 2], [centre[0], centre[1], centre[2] + O2_EXP_BOND_A / 2]]
    return Structure(lattice, ["O", "O"], coords, coords_are_cartesian=True, site_properties={"magmom": [1.0, 1.0]})


def molecule_overrides(preset: str, preset_overrides: dict | None) -> dict:
    """Preset overrides for the isolated molecule: GPAW spin-polarised at the Gamma point only."""
    from spillover.calculators import _deep_merge, load_preset

    overrides = dict(preset_overrides or {})
    if load_preset(preset, overrides or None).calculator == "gpaw":
        overrides = _deep_merge(overrides, {"gpaw": {"spinpol": True, "kpts": [1, 1, 1]}})
    return overrides


@job(output_schema=O2VibrationDoc)
def o2_vibrations(o2: dict, o2_id: str, preset: str, preset_overrides: dict, delta: float = 0.01) -> O2VibrationDoc:
    """Harmonic modes of the relaxed O2 with :class:`ase.vibrations.Vibrations` (central differences)."""
    import tempfile
    from pathlib import Path

    import numpy as np
    from ase.vibrations import Vibrations
    from pymatgen.io.ase import AseAtomsAdaptor

    from spillover.calculators import close_calculator, load_preset, make_calculator
    from spillover.schemas import as_structure

    o2 = _plain(o2)
    atoms = AseAtomsAdaptor.get_atoms(as_structure(o2["structure"]))
    resolved = load_preset(preset, preset_overrides or None)
    with contextlib.redirect_stdout(io.StringIO()):
        calc, params = make_calculator(resolved, atoms, stress=False)
    atoms.calc = calc
    try:
        with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
            vib = Vibrations(atoms, name=str(Path(tmp) / "vib"), delta=delta, nfree=2)
            vib.run()
            energies = np.asarray(vib.get_energies(), dtype=complex)
    finally:
        close_calculator(calc)  # GPAW in MPI ranks: end them with the job
    stretch = energies[np.argmax(np.abs(energies))]
    real = abs(stretch.imag) < 1e-8 and stretch.real > 0
    freq = float(abs(stretch))
    from spillover.analysis.thermo import EV_PER_INVCM

    return O2VibrationDoc(
        frequency_eV=freq,
        frequency_cm=freq / EV_PER_INVCM,
        is_real=bool(real),
        all_modes_eV=[[float(e.real), float(e.imag)] for e in energies],
        bond_A=float(atoms.get_distance(0, 1, mic=True)),
        displacement_A=delta,
        o2_job_id=o2_id,
        preset=resolved.name,
        preset_resolved=resolved.model_dump(),
        parameters=params,
    )


@job(output_schema=O2CorrectionDoc)
def o2_correction(bulks: dict[str, dict], bulk_ids: dict[str, str], o2: dict, o2_id: str, preset: str,
                  fit_on: list[str] | None = None) -> O2CorrectionDoc:
    """Formation energies of the oxides in the data file and the O2 shift per O atom fitted on ``fit_on``.

    ``fit_on`` None fits on every oxide of the data file; the others get their residual only.
    """
    from spillover.analysis.oxidation import check_same_preset
    from spillover.analysis.thermo import fit_o2_shift, formation_energy, load_formation_enthalpies

    refs = load_formation_enthalpies()
    o2, bulks = _plain(o2), {name: _plain(doc) for name, doc in bulks.items()}
    check_same_preset([o2, *(bulks[name] for name in bulks)])
    raws, exps, nos, rows = [], [], [], []
    for name, ref in refs.items():
        oxide, metal = bulks[name], bulks[ref.metal]
        if oxide["formula"] != ref.formula:
            raise InputError("bulks", f"{name} relaxed to {oxide['formula']}, expected {ref.formula}")
        n_fu = oxide["natoms"] / (ref.n_metal + ref.n_O)
        raw = formation_energy(oxide["energy_eV"] / n_fu, metal["energy_per_atom_eV"], o2["energy_eV"], ref.n_metal, ref.n_O)
        raws.append(raw)
        exps.append(ref.dHf_eV)
        nos.append(ref.n_O)
        rows.append((name, ref, raw))
    fitted_on = [name for name, _, _ in rows if fit_on is None or name in fit_on]
    use = [k for k, (name, _, _) in enumerate(rows) if name in fitted_on]
    fit = fit_o2_shift([raws[k] for k in use], [exps[k] for k in use], [nos[k] for k in use])
    delta = fit["shift_eV_per_O"]
    entries = [
        FormationEntry(
            name=name, formula=ref.formula, metal=ref.metal, n_O=ref.n_O, dHf_raw_eV=raw,
            dHf_corrected_eV=raw - ref.n_O * delta, dHf_exp_eV=ref.dHf_eV, source=ref.source,
            oxide_job_id=bulk_ids[name], metal_job_id=bulk_ids[ref.metal], fitted=name in fitted_on,
            residual_eV=raw - ref.n_O * delta - ref.dHf_eV,
        )
        for name, ref, raw in rows
    ]
    return O2CorrectionDoc(
        shift_eV_per_O=delta, rms_raw_eV=fit["rms_raw_eV"], rms_corrected_eV=fit["rms_corrected_eV"],
        e_o2_eV=o2["energy_eV"], o2_job_id=o2_id, entries=entries, preset=o2["preset"], fitted_on=fitted_on,
    )
