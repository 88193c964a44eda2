"""Oxidation energetics: O2 reference, O2 correction, clean and oxidised Ru-film interfaces, one summary each.

The flow (built by :func:`oxidation_jobs`, run as part of the study's flow):

1. ``relax O2``: the triplet molecule in a box, same preset as everything else (CHGNet has no spin;
   with GPAW the molecule is spin-polarised with initial moments 1, 1 and Gamma-point only;
   GPAW's ``hund`` applies to single atoms only).
2. ``O2 vibrations`` (optional): the O-O stretch with :class:`ase.vibrations.Vibrations`.
3. ``O2 correction`` (optional): formation energies of rutile, anatase and RuO2 from the relaxed
   bulks, Ti and Ru; one shift per O atom fitted to experiment (``spillover/data``).
4. Per interface: the interface model (shared with the lattice-match part when both run), its
   clean relaxation, then ``oxidation sites``: a job that generates the symmetry-distinct
   configurations on the relaxed clean model (:mod:`spillover.build.defects`) and adds one
   relaxation per configuration and a summary job storing an
   :class:`~spillover.schemas_oxidation.OxidationDoc`. A failed relaxation does not stop the
   summary: it is listed there and not used.
"""

from __future__ import annotations

import contextlib
import io
from typing import TYPE_CHECKING, Any

from jobflow import Flow, Job, JobConfig, OnMissing, Response, job

from spillover.errors import InputError
from spillover.jobs.relax import RelaxMaker
from spillover.schemas import package_versions
from spillover.schemas_oxidation import (
    ConfigEntry,
    FormationEntry,
    O2CorrectionDoc,
    O2VibrationDoc,
    OxidationDoc,
    OxidationSitesDoc,
)

if TYPE_CHECKING:
    from ase import Atoms
    from pymatgen.core import Structure

    from spillover.study import InterfaceSpec, Study

#: Bulks whose relaxations the O2 correction needs (oxides and their metals).
CORRECTION_BULKS = ("rutile", "anatase", "RuO2", "Ti", "Ru")
KIND = "oxidation"


def _tolerate_missing() -> JobConfig:
    """Run even when a parent failed; its missing outputs resolve to None."""
    return JobConfig(on_missing_references=OnMissing.NONE)


def _plain(doc: Any) -> Any:
    """A resolved job output as a plain dict (jobflow may hand back the pydantic document)."""
    return doc.model_dump() if hasattr(doc, "model_dump") else doc


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


def oxidation_interfaces(study: Study) -> list[InterfaceSpec]:
    """The study's interfaces to oxidise: those named in ``oxidation.interfaces``, else every one with outer Ru."""
    candidates = [s for s in study.interfaces if s.films[-1] == "Ru-0001"]
    if study.oxidation.interfaces is not None:
        candidates = [s for s in candidates if s.label in study.oxidation.interfaces]
    if not candidates:
        raise InputError("oxidation.interfaces", "no interface of the study has an outer Ru-0001 film",
                         "add e.g. {support: rutile-110, films: [Ru-0001]} to interfaces")
    return candidates


def _model(study: Study, spec: InterfaceSpec) -> Atoms:
    from spillover.build.interfaces import make_interface

    model = study.interface_model
    atoms, _ = make_interface(
        spec.support, list(spec.films), max_area=study.lattice_match.max_area_A2,
        max_strain_percent=study.lattice_match.max_strain_percent, support_layers=model.support_layers,
        film_layers=[model.film_layers.get(f, 1) for f in spec.films], vacuum=model.vacuum, gap=model.gap,
        fixed_layers=model.fixed_layers,
    )
    return atoms


def resolve_n_max(study: Study, spec: InterfaceSpec) -> int:
    """The largest n of one interface, checked against the sites of the model built from the CIFs.

    Raises
    ------
    InputError
        ``oxidation.n_max`` is larger than what both placements hold (at most one full layer).
    """
    from spillover.build.defects import available_sites

    avail = available_sites(_model(study, spec))
    limit = min(avail["full_layer"], avail["interface"], avail["surface"])
    n_max = study.oxidation.n_max
    if n_max == "full-layer":
        return limit
    if n_max > limit:
        raise InputError(
            "oxidation.n_max",
            f"{n_max} extra O atoms exceed the sites available on {spec.label} (full layer {avail['full_layer']}, "
            f"interface holds {avail['interface']}, surface {avail['surface']})",
            f"1..{limit} or 'full-layer'",
        )
    return int(n_max)


def oxidation_jobs(study: Study, bulk_jobs: dict[str, Job], preset: str, interfaces: dict[str, Job]) -> list[Job]:
    """Every job of the oxidation part of a study (bulk relaxations it adds included).

    Parameters
    ----------
    study
        The validated study.
    bulk_jobs
        Bulk name -> relaxation job of the study; missing bulks this part needs are added to it.
    preset
        Calculator preset of every job.
    interfaces
        Interface label -> interface-model job already in the flow (reused); others are created.

    Returns
    -------
    list of Job
        The new jobs, in order.
    """
    from spillover.flows.bulks import bulk_relax_jobs
    from spillover.flows.lattice_match import interface_jobs
    from spillover.study import FACET_BULK

    ox = study.oxidation
    overrides = study.preset_overrides
    specs = oxidation_interfaces(study)
    n_max = {spec.label: resolve_n_max(study, spec) for spec in specs}
    jobs: list[Job] = []
    needed = {FACET_BULK[f] for s in specs for f in (s.support, *s.films)}
    needed |= set(CORRECTION_BULKS) if ox.use_o2_correction else set()
    missing = [b for b in ("rutile", "anatase", "RuO2", "Ru", "Ti") if b in needed and b not in bulk_jobs]
    new_bulks = bulk_relax_jobs(missing, preset, overrides) if missing else {}
    bulk_jobs.update(new_bulks)
    jobs += list(new_bulks.values())

    mol = molecule_overrides(preset, overrides)
    o2 = RelaxMaker(name="relax O2", preset=preset, preset_overrides=mol).make(
        o2_structure(ox.o2_box_A), label="O2", kind="molecule"
    )
    jobs.append(o2)
    vib = corr = None
    if ox.compute_o2_frequency:
        vib = o2_vibrations(o2.output, o2.uuid, preset, mol)
        vib.name = "O2 vibrations"
        jobs.append(vib)
    if ox.use_o2_correction:
        corr = o2_correction(
            {b: bulk_jobs[b].output for b in CORRECTION_BULKS}, {b: bulk_jobs[b].uuid for b in CORRECTION_BULKS},
            o2.output, o2.uuid, preset,
        )
        corr.name = "O2 correction"
        jobs.append(corr)
    settings = {
        "lattice_match": study.lattice_match.model_dump(),
        "interface_model": study.interface_model.model_dump(),
    }
    for spec in specs:
        iface = interfaces.get(spec.label)
        if iface is None:
            (iface,) = interface_jobs([(spec.support, list(spec.films))], bulk_jobs, preset, settings)
            jobs.append(iface)
        meta = {"oxidation": {"interface": spec.label, "placement": "clean", "n_O": 0}}
        clean = RelaxMaker(name=f"oxidation clean {spec.label}", preset=preset, preset_overrides=overrides,
                           steps=ox.relax_steps).make(iface.output.structure, label=f"{spec.label} clean",
                                                      kind=KIND, metadata=meta)
        gen = oxidation_configurations(
            clean.output, clean.uuid, o2.output, o2.uuid,
            corr.output if corr else None, corr.uuid if corr else None,
            vib.output if vib else None, vib.uuid if vib else None,
            spec.support, list(spec.films), preset, overrides,
            {**ox.model_dump(), "n_max_resolved": n_max[spec.label]},
        )
        gen.name = f"oxidation sites {spec.label}"
        gen.config = _tolerate_missing()
        jobs += [clean, gen]
    return jobs


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
        calc, params = make_calculator(resolved, atoms)
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
        versions=package_versions(),
    )


@job(output_schema=O2CorrectionDoc)
def o2_correction(bulks: dict[str, dict], bulk_ids: dict[str, str], o2: dict, o2_id: str, preset: str) -> O2CorrectionDoc:
    """Formation energies of the oxides in the data file and the fitted O2 shift per O atom."""
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
    fit = fit_o2_shift(raws, exps, nos)
    delta = fit["shift_eV_per_O"]
    entries = [
        FormationEntry(
            name=name, formula=ref.formula, metal=ref.metal, n_O=ref.n_O, dHf_raw_eV=raw,
            dHf_corrected_eV=raw - ref.n_O * delta, dHf_exp_eV=ref.dHf_eV, source=ref.source,
            oxide_job_id=bulk_ids[name], metal_job_id=bulk_ids[ref.metal],
        )
        for name, ref, raw in rows
    ]
    return O2CorrectionDoc(
        shift_eV_per_O=delta, rms_raw_eV=fit["rms_raw_eV"], rms_corrected_eV=fit["rms_corrected_eV"],
        e_o2_eV=o2["energy_eV"], o2_job_id=o2_id, entries=entries, preset=o2["preset"], versions=package_versions(),
    )


def _host(clean: dict) -> Atoms:
    """The relaxed clean model as Atoms with its layer/part arrays and fixed atoms."""
    import numpy as np
    from ase.constraints import FixAtoms
    from pymatgen.io.ase import AseAtomsAdaptor

    from spillover.schemas import as_structure

    structure = as_structure(clean["structure"])
    atoms = AseAtomsAdaptor.get_atoms(structure)
    atoms.set_constraint(FixAtoms(indices=clean["fixed_indices"]) if clean["fixed_indices"] else None)
    atoms.arrays["layer"] = np.asarray(clean["layer"], dtype=int)
    atoms.arrays["part"] = np.asarray(clean["part"], dtype=int)
    atoms.set_tags(atoms.arrays["layer"])
    return atoms


@job(output_schema=OxidationSitesDoc)
def oxidation_configurations(
    clean: dict | None, clean_id: str, o2: dict | None, o2_id: str, correction: dict | None, correction_id: str | None,
    vibration: dict | None, vibration_id: str | None, support: str, films: list[str], preset: str,
    preset_overrides: dict, settings: dict,
) -> Response:
    """Generate the configurations on the relaxed clean model; add their relaxations and the summary.

    Runs even when the O2 correction or vibration job failed (the summary then says so); needs the
    clean and O2 relaxations.
    """
    import numpy as np
    from jobflow import CURRENT_JOB
    from pymatgen.io.ase import AseAtomsAdaptor

    from spillover.build.defects import PLACEMENTS, configurations, find_sites, full_layer, max_filling

    label = "/".join([support, *films])
    clean, o2, correction, vibration = (_plain(x) for x in (clean, o2, correction, vibration))
    if clean is None or o2 is None:
        raise RuntimeError(f"{label}: the clean interface or the O2 relaxation failed; nothing to oxidise")
    host = _host(clean)
    sites = {p: find_sites(host, p) for p in PLACEMENTS}
    n_values = list(range(1, int(settings["n_max_resolved"]) + 1))
    entries: list[ConfigEntry] = []
    relaxes: list[Job] = []
    skipped: list[str] = []
    n_distinct: dict[str, dict[str, int]] = {p: {} for p in PLACEMENTS}
    for placement in PLACEMENTS:
        for n in n_values:
            found = configurations(host, placement, n, int(settings["max_configs_per_n"]), sites=sites[placement]) \
                if n <= len(sites[placement]) else []
            n_distinct[placement][str(n)] = found[0].n_distinct if found else 0
            if not found:
                skipped.append(f"{placement} n={n}")
                continue
            for conf in found:
                meta = {"oxidation": {"interface": label, "clean_job_id": clean_id, **conf.metadata()}}
                relax = RelaxMaker(
                    name=f"oxidation {label} {placement} n={n} #{conf.index}", preset=preset,
                    preset_overrides=preset_overrides, steps=settings.get("relax_steps"),
                ).make(AseAtomsAdaptor.get_structure(conf.atoms), label=f"{label} {n}O@{placement} #{conf.index}",
                       kind=KIND, metadata=meta)
                relaxes.append(relax)
                entries.append(ConfigEntry(placement=placement, n_O=n, config_index=conf.index,
                                           site_indices=conf.site_indices, site_kinds=conf.site_kinds,
                                           job_id=relax.uuid, preset=preset))
    cell = np.asarray(host.cell)
    area = float(np.linalg.norm(np.cross(cell[0], cell[1])))
    results = [
        {"job_id": r.uuid, "energy_eV": r.output.energy_eV, "converged": r.output.converged, "preset": r.output.preset}
        for r in relaxes
    ]
    summary = oxidation_summary(
        label, support, list(films), preset,
        {"job_id": clean_id, "energy_eV": clean["energy_eV"], "preset": clean["preset"],
         "preset_resolved": clean["preset_resolved"], "area_A2": area},
        {"job_id": o2_id, "energy_eV": o2["energy_eV"], "preset": o2["preset"], "preset_resolved": o2["preset_resolved"],
         "bond_A": _bond(o2)},
        correction, correction_id, vibration, vibration_id,
        [e.model_dump() for e in entries], results, settings, CURRENT_JOB.job.uuid,
    )
    summary.name = f"oxidation summary {label}"
    summary.config = _tolerate_missing()
    doc = OxidationSitesDoc(
        label=label, clean_job_id=clean_id, full_layer=full_layer(host),
        sites={p: len(s) for p, s in sites.items()},
        capacity={p: max_filling(s, cell) for p, s in sites.items()},
        n_values=n_values, interface_lift_A=sites["interface"].lift_A, n_distinct=n_distinct,
        configurations=entries, skipped=skipped, preset=preset,
    )
    return Response(output=doc, addition=Flow([*relaxes, summary], name=f"oxidation {label}"))


def _bond(o2: dict) -> float:
    from spillover.schemas import as_structure

    structure = as_structure(o2["structure"])
    return float(structure.get_distance(0, 1))


@job(output_schema=OxidationDoc)
def oxidation_summary(
    label: str, support: str, films: list[str], preset: str, clean: dict, o2: dict, correction: dict | None,
    correction_id: str | None, vibration: dict | None, vibration_id: str | None, entries: list[dict],
    results: list[dict | None], settings: dict, sites_job_id: str,
) -> OxidationDoc:
    """Collect the relaxations of one interface: best configuration per placement and n, gamma, onsets.

    Failed relaxations (no stored output) are listed and not used.
    """
    from spillover.analysis.oxidation import best_configurations, check_same_preset, gamma_grid, onsets
    from spillover.analysis.thermo import O2_EXP_BOND_A, O2_EXP_FREQUENCY_EV

    correction, vibration = _plain(correction), _plain(vibration)
    configs = []
    for entry, result in zip(entries, results):
        conf = ConfigEntry(**entry)
        energy = None if result is None else result.get("energy_eV")
        if energy is None:
            conf.status = "failed"
        else:
            conf.energy_eV, conf.converged, conf.preset = float(energy), result.get("converged"), result.get("preset")
            conf.status = "ok" if conf.converged else "not converged"
        configs.append(conf)
    check_same_preset([clean, o2, *({"preset": c.preset} for c in configs if c.status != "failed")])

    note = ""
    shift, reference, corr_id = 0.0, "raw", None
    if settings.get("use_o2_correction"):
        if correction is None:
            note = "the O2 correction job failed; raw O2 reference used"
        else:
            check_same_preset([o2, {"preset": correction["preset"]}])
            shift, reference, corr_id = float(correction["shift_eV_per_O"]), "corrected", correction_id
    freq, bond, source, vib_id = O2_EXP_FREQUENCY_EV, O2_EXP_BOND_A, "experimental", None
    if settings.get("compute_o2_frequency"):
        if vibration is not None and vibration.get("is_real"):
            freq, bond, source, vib_id = vibration["frequency_eV"], vibration["bond_A"], "computed", vibration_id
        else:
            note = (note + "; " if note else "") + "computed O2 stretch missing or imaginary; experimental frequency used"

    usable = [c.model_dump() for c in configs if c.status != "failed"]
    best = best_configurations(usable, clean["energy_eV"], o2["energy_eV"], shift)
    thermo = {"frequency_eV": freq, "bond_A": bond}
    grid = gamma_grid(best, clean["area_A2"], settings["temperatures_K"], settings["pressures_bar"], thermo)
    return OxidationDoc(
        label=label, support="/".join([support, *films[:-1]]), films=films, preset=preset, area_A2=clean["area_A2"],
        clean_job_id=clean["job_id"], clean_energy_eV=clean["energy_eV"], o2_job_id=o2["job_id"], e_o2_eV=o2["energy_eV"],
        o2_reference=reference, o2_shift_eV_per_O=shift, o2_correction_job_id=corr_id, o2_correction_note=note,
        o2_frequency_eV=freq, o2_bond_A=bond, o2_frequency_source=source, o2_vibration_job_id=vib_id,
        sites_job_id=sites_job_id, n_values=sorted({c.n_O for c in configs}), configurations=configs, best=best,
        failed_job_ids=[c.job_id for c in configs if c.status == "failed"], gamma_grid=grid,
        onsets=onsets(best, thermo), settings=settings, versions=package_versions(),
    )


__all__ = [
    "oxidation_jobs", "o2_structure", "molecule_overrides", "o2_vibrations", "o2_correction",
    "oxidation_configurations", "oxidation_summary", "resolve_n_max", "oxidation_interfaces",
]
