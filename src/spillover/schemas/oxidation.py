"""Output documents of the oxidation analysis (O2 reference, O2 correction, configurations, summary)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from spillover.schemas.base import Document


class O2VibrationDoc(Document):
    """Harmonic vibration of the relaxed O2 molecule (ase.vibrations.Vibrations)."""

    doc_type: Literal["o2-vibration"] = Field("o2-vibration", description="Document type, for queries.")
    frequency_eV: float = Field(description="O-O stretch energy hbar*omega (eV); the real part if imaginary.")
    frequency_cm: float = Field(description="O-O stretch wavenumber (cm^-1).")
    is_real: bool = Field(description="Whether the stretch mode is real (usable for thermochemistry).")
    all_modes_eV: list[list[float]] = Field(description="All 6 mode energies as [real, imaginary] (eV).")
    bond_A: float = Field(description="O-O bond length of the relaxed molecule (Å).")
    displacement_A: float = Field(description="Finite-difference displacement (Å).")
    o2_job_id: str = Field(description="uuid of the O2 relaxation the modes were computed on.")


class FormationEntry(BaseModel):
    """Computed and experimental formation energy of one oxide."""

    name: str = Field(description="Bulk name, e.g. 'rutile'.")
    formula: str = Field(description="Formula unit, e.g. 'TiO2'.")
    metal: str = Field(description="The metal bulk, e.g. 'Ti'.")
    n_O: int = Field(description="O atoms per formula unit.")
    dHf_raw_eV: float = Field(description="Computed formation energy with the raw O2 reference (eV per formula unit).")
    dHf_corrected_eV: float = Field(description="Computed formation energy with the fitted shift (eV per formula unit).")
    dHf_exp_eV: float = Field(description="Experimental formation enthalpy at 298.15 K (eV per formula unit).")
    source: str = Field(description="Source of the experimental value.")
    oxide_job_id: str = Field(description="uuid of the oxide bulk relaxation.")
    metal_job_id: str = Field(description="uuid of the metal bulk relaxation.")
    fitted: bool = Field(True, description="Whether this oxide entered the fit (else it only reports its residual).")
    residual_eV: float | None = Field(None, description="dHf_corrected - dHf_exp (eV per formula unit).")


class O2CorrectionDoc(Document):
    """The O2 correction: one energy shift per O atom fitted to experimental formation enthalpies."""

    doc_type: Literal["o2-correction"] = Field("o2-correction", description="Document type, for queries.")
    shift_eV_per_O: float = Field(description="Fitted shift delta: mu_O = 1/2 E(O2) + delta + dmu_O (eV per O).")
    rms_raw_eV: float = Field(description="RMS error of the raw formation energies of the fitted oxides (eV per "
                              "formula unit).")
    rms_corrected_eV: float = Field(description="RMS error of the fitted oxides after the shift (eV per formula unit); "
                                    "each entry's residual_eV covers the others too.")
    e_o2_eV: float = Field(description="E(O2) the fit used (eV).")
    o2_job_id: str = Field(description="uuid of the O2 relaxation.")
    entries: list[FormationEntry] = Field(description="One entry per oxide of the data file, fitted or not.")
    fitted_on: list[str] = Field(default_factory=list, description="The oxides the shift was fitted on.")


class ConfigEntry(BaseModel):
    """The survivor of one placement and n: the funnel's lowest converged relaxation."""

    placement: Literal["interface", "surface"] = Field(description="Where the extra O atoms sit.")
    n_O: int = Field(description="Number of extra O atoms.")
    job_id: str = Field(description="uuid of the funnel job (its document holds every candidate and the relaxations).")
    n_candidates: int = Field(0, description="Symmetry-distinct configurations the funnel screened.")
    config_index: int | None = Field(None, description="Candidate index of the survivor; None if none converged.")
    site_indices: list[int] = Field(default_factory=list, description="Indices of the survivor's filled sites.")
    site_kinds: list[str] = Field(default_factory=list, description="'fcc', 'hcp' or 'lattice' per filled site.")
    energy_eV: float | None = Field(None, description="Survivor's total energy (eV); None if none converged.")
    converged: bool | None = Field(None, description="Whether the survivor's relaxation met its force threshold.")
    n_unconverged: int = Field(0, description="Final relaxations of the funnel that did not converge (excluded).")
    preset: str | None = Field(None, description="Preset of the relaxation (checked against the others).")
    status: Literal["planned", "ok", "not converged", "failed"] = Field(
        "planned", description="ok / not converged (no final relaxation converged: excluded) / failed (the funnel job)."
    )


class OxidationSitesDoc(Document):
    """The candidate sites and configurations generated for one interface (before relaxation)."""

    doc_type: Literal["oxidation-configurations"] = Field("oxidation-configurations", description="Document type, for queries.")
    label: str = Field(description="Interface label, e.g. 'rutile-110/Ru-0001'.")
    clean_job_id: str = Field(description="uuid of the clean relaxation the configurations start from.")
    full_layer: int = Field(description="O atoms in one full layer (one per Ru of the contact layer).")
    sites: dict[str, int] = Field(description="Candidate sites per placement.")
    capacity: dict[str, int] = Field(description="Most O each placement holds with O-O >= 2 Å.")
    n_values: list[int] = Field(description="Numbers of extra O atoms computed.")
    interface_lift_A: float = Field(description="Rigid lift of the film applied with interfacial O (Å).")
    n_distinct: dict[str, dict[str, int]] = Field(description="placement -> n -> symmetry-distinct site sets found.")
    configurations: list[ConfigEntry] = Field(description="One funnel per placement and n (energies in the summary).")
    skipped: list[str] = Field(default_factory=list, description="(placement, n) without any valid configuration.")


class BestEntry(BaseModel):
    """The lowest-energy configuration of one placement and n."""

    placement: Literal["interface", "surface"] = Field(description="Where the extra O atoms sit.")
    n_O: int = Field(description="Number of extra O atoms.")
    job_id: str = Field(description="uuid of its relaxation.")
    energy_eV: float = Field(description="Its total energy (eV).")
    converged: bool | None = Field(None, description="Whether its relaxation reached the force threshold.")
    dE_eV: float = Field(description="E(c) - E(clean) - n mu_O at dmu_O = 0 with the reference used (eV).")
    dmu_zero_eV: float = Field(description="dmu_O at which its gamma crosses zero (eV).")


class GammaPoint(BaseModel):
    """gamma of the best configuration of one placement and n at one (T, p)."""

    T_K: float = Field(description="Temperature (K).")
    p_bar: float = Field(description="O2 pressure (bar).")
    dmu_O_eV: float = Field(description="dmu_O(T, p) (eV).")
    placement: str = Field(description="interface or surface.")
    n_O: int = Field(description="Number of extra O atoms.")
    gamma_eV_per_A2: float = Field(description="Oxidation energy per area (eV/Å²).")


class Onset(BaseModel):
    """Where oxidation at one placement becomes favourable against the clean interface."""

    placement: str = Field(description="interface or surface.")
    dmu_O_eV: float | None = Field(description="dmu_O above which some n has gamma < 0 (eV).")
    n_O: int | None = Field(description="The n that becomes favourable first.")
    T_K_at_1bar: float | None = Field(description="T at 1 bar with that dmu_O (K); None outside 10-5000 K.")


class OxidationDoc(Document):
    """Oxidation energetics of one Ru-film interface: interfacial versus surface O, per n."""

    doc_type: Literal["oxidation"] = Field("oxidation", description="Document type, for queries.")
    label: str = Field(description="Interface label, e.g. 'rutile-110/Ru-0001'.")
    support: str = Field(description="What the Ru film sits on: the support, or support/RuO2-110 for the stack.")
    films: list[str] = Field(description="Films from the support outwards.")
    area_A2: float = Field(description="Interface cell area A (Å²).")
    clean_job_id: str = Field(description="uuid of the clean interface relaxation.")
    clean_energy_eV: float = Field(description="E(clean) (eV).")
    o2_job_id: str = Field(description="uuid of the O2 relaxation.")
    e_o2_eV: float = Field(description="E(O2) (eV).")
    o2_reference: Literal["raw", "corrected"] = Field(description="Which O reference the energies below use.")
    o2_shift_eV_per_O: float = Field(description="O2 correction used (0 for raw) (eV per O).")
    o2_correction_job_id: str | None = Field(None, description="uuid of the O2 correction fit, if computed.")
    o2_correction_note: str = Field("", description="Why the correction is not used, if it was asked for.")
    o2_frequency_eV: float = Field(description="O2 stretch energy used in dmu_O (eV).")
    o2_bond_A: float = Field(description="O2 bond length used for the rotational entropy (Å).")
    o2_frequency_source: str = Field(description="'experimental' or 'computed'.")
    o2_vibration_job_id: str | None = Field(None, description="uuid of the O2 vibration job, if computed.")
    sites_job_id: str = Field(description="uuid of the job that generated the configurations.")
    n_values: list[int] = Field(description="Numbers of extra O atoms computed.")
    configurations: list[ConfigEntry] = Field(description="Every configuration, with its status.")
    best: list[BestEntry] = Field(description="Lowest-energy configuration per placement and n.")
    failed_job_ids: list[str] = Field(description="Relaxations that failed (listed, not used).")
    gamma_grid: list[GammaPoint] = Field(description="gamma of each best configuration on the study's (T, p) grid.")
    onsets: list[Onset] = Field(description="Where interfacial and surface oxidation become favourable.")
    settings: dict[str, Any] = Field(description="The study's oxidation settings.")
