"""Jobs of the oxidation analysis: configurations on the relaxed system cell, their relaxations, the summary.

``oxidation_configurations`` counts the symmetry-distinct configurations on the relaxed cell
(:mod:`spillover.build.oxidation`) and adds one screening funnel per placement and n
(:func:`oxidation_funnel`, every configuration: :mod:`spillover.jobs.funnel`) and a summary job
storing an :class:`~spillover.schemas.oxidation.OxidationDoc`. A failed funnel, or one none of whose
final relaxations converged, does not stop the summary: it is listed there and not used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobflow import Flow, Job, JobConfig, OnMissing, Response, job

from spillover.schemas import plain as _plain
from spillover.schemas.funnel import FunnelDoc
from spillover.schemas.oxidation import ConfigEntry, OxidationDoc, OxidationSitesDoc

if TYPE_CHECKING:
    from ase import Atoms

KIND = "oxidation"


def _tolerate_missing() -> JobConfig:
    """Run even when a parent failed; its missing outputs resolve to None."""
    return JobConfig(on_missing_references=OnMissing.NONE)


def _host(clean: dict) -> Atoms:
    """The relaxed clean cell as Atoms with its layer/part arrays and fixed atoms."""
    from spillover.schemas import calc_atoms

    return calc_atoms(clean)


def _configurations(host: Atoms, placement: str, n: int, sites) -> list:
    from spillover.build.oxidation import configurations

    return configurations(host, placement, n, None, sites=sites) if n <= len(sites) else []


@job(output_schema=OxidationSitesDoc)
def oxidation_configurations(
    clean: dict | None, clean_id: str, o2: dict | None, o2_id: str, correction: dict | None, correction_id: str | None,
    vibration: dict | None, vibration_id: str | None, support: str, films: list[str], preset: str,
    preset_overrides: dict, settings: dict,
) -> Response:
    """Count the configurations on the relaxed clean model; add one funnel per placement and n, and the summary.

    Runs even when the O2 correction or vibration job failed (the summary then says so); needs the
    clean and O2 relaxations.
    """
    import numpy as np
    from jobflow import CURRENT_JOB

    from spillover.build.oxidation import PLACEMENTS, find_sites, full_layer, max_filling

    label = "/".join([support, *films])
    clean, o2, correction, vibration = (_plain(x) for x in (clean, o2, correction, vibration))
    if clean is None or o2 is None:
        raise RuntimeError(f"{label}: the clean interface or the O2 relaxation failed; nothing to oxidise")
    host = _host(clean)
    sites = {p: find_sites(host, p) for p in PLACEMENTS}
    n_values = list(range(1, int(settings["n_max_resolved"]) + 1))
    entries: list[ConfigEntry] = []
    funnels: list[Job] = []
    skipped: list[str] = []
    n_distinct: dict[str, dict[str, int]] = {p: {} for p in PLACEMENTS}
    for placement in PLACEMENTS:
        for n in n_values:
            count = len(_configurations(host, placement, n, sites[placement]))
            n_distinct[placement][str(n)] = count
            if not count:
                skipped.append(f"{placement} n={n}")
                continue
            funnel = oxidation_funnel(clean, clean_id, label, placement, n, preset, preset_overrides,
                                      settings["funnel"])
            funnel.name = f"oxidation {label} {placement} n={n}"
            funnel.update_metadata({"system": label, "placement": placement, "n_O": n})
            funnels.append(funnel)
            entries.append(ConfigEntry(placement=placement, n_O=n, job_id=funnel.uuid, n_candidates=count,
                                       preset=preset))
    cell = np.asarray(host.cell)
    area = float(np.linalg.norm(np.cross(cell[0], cell[1])))
    summary = oxidation_summary(
        label, support, list(films), preset,
        {"job_id": clean_id, "energy_eV": clean["energy_eV"], "preset": clean["preset"],
         "preset_resolved": clean["preset_resolved"], "area_A2": area},
        {"job_id": o2_id, "energy_eV": o2["energy_eV"], "preset": o2["preset"], "preset_resolved": o2["preset_resolved"],
         "bond_A": _bond(o2)},
        correction, correction_id, vibration, vibration_id,
        [e.model_dump() for e in entries], [f.output for f in funnels], settings, CURRENT_JOB.job.uuid,
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
    return Response(output=doc, addition=Flow([*funnels, summary], name=f"oxidation {label}"))


@job(output_schema=FunnelDoc)
def oxidation_funnel(
    clean: dict, clean_id: str, label: str, placement: str, n: int, preset: str, preset_overrides: dict,
    funnel: dict,
) -> FunnelDoc:
    """Every symmetry-distinct configuration of ``n`` O at ``placement`` through the screening funnel."""
    from spillover.jobs.funnel import run_funnel
    from spillover.sections.funnel import FunnelSettings

    candidates, infos = placement_candidates(_host(_plain(clean)), placement, n)
    meta = {"oxidation": {"interface": label, "clean_job_id": clean_id, "placement": placement, "n_O": n}}
    return run_funnel(f"{label} {n}O@{placement}", candidates, infos, preset, preset_overrides,
                      FunnelSettings(**funnel), kind=KIND, metadata=meta)


def placement_candidates(host: Atoms, placement: str, n: int) -> tuple[list[Atoms], list[dict]]:
    """Every symmetry-distinct configuration of ``n`` O at ``placement`` and what each is, in funnel order.

    The O level along the path screens the n = 1 sets with the same funnel: the same candidates in
    the same order give the same funnel hash, so one of the two analyses reuses the other's.
    """
    from spillover.build.oxidation import find_sites

    sites = find_sites(host, placement)
    confs = _configurations(host, placement, n, sites)
    infos = [{"placement": placement, "n_O": n, "config_index": c.index, "site_indices": list(c.site_indices),
              "site_kinds": list(c.site_kinds),
              # configurations the host's operations map this one onto, itself included
              "multiplicity": len({tuple(sorted(int(p[i]) for i in c.site_indices)) for p in sites.permutations})}
             for c in confs]
    return [c.atoms for c in confs], infos


def survivor_entry(entry: ConfigEntry, funnel: dict | None) -> ConfigEntry:
    """``entry`` filled from its funnel's document: the survivor, or why there is none."""
    if funnel is None:
        entry.status = "failed"
        return entry
    entry.n_unconverged = int(funnel.get("n_unconverged", 0))
    if funnel.get("survivor") is None:
        entry.status, entry.converged = "not converged", False
        return entry
    calc = funnel["survivors"][0]
    info = funnel["candidates"][funnel["survivor"]]["info"]
    entry.config_index, entry.site_indices, entry.site_kinds = info["config_index"], info["site_indices"], info["site_kinds"]
    entry.energy_eV, entry.converged, entry.preset = float(calc["energy_eV"]), True, calc["preset"]
    entry.status = "ok"
    return entry


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

    Failed funnels (no stored output) are listed and not used; so are funnels none of whose final
    relaxations converged.
    """
    from spillover.analysis.oxidation import best_configurations, check_same_preset, gamma_grid, onsets
    from spillover.analysis.thermo import O2_EXP_BOND_A, O2_EXP_FREQUENCY_EV

    correction, vibration = _plain(correction), _plain(vibration)
    configs = [survivor_entry(ConfigEntry(**entry), _plain(result)) for entry, result in zip(entries, results)]
    check_same_preset([clean, o2, *({"preset": c.preset} for c in configs if c.status == "ok")])

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

    usable = [c.model_dump() for c in configs if c.status == "ok"]
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
        onsets=onsets(best, thermo), settings=settings,
    )
