"""Jobs of the O level along the path and of the transfer energies, on each system's relaxed cell.

``profile_sites`` enumerates the sites on the relaxed cell (:mod:`spillover.build.mu_profile`) and
adds one screening funnel per region and layer (:func:`profile_funnel`, every symmetry-distinct
site: :mod:`spillover.jobs.funnel`), the transfer job and the summary. ``profile_transfer`` moves the
lattice O of each support layer that costs least to remove (its vacancy funnel's survivor) to the
best empty sites of the interface and the Ru film, and relaxes each move to convergence. The bulk
reference and the bare-slab comparison are vacancies of separate hosts (:func:`cut_host`,
:func:`relax_site`). Energies are never stored as bare differences: the tables
(:mod:`spillover.analysis.mu_profile`) recompute E_b and dE from the stored calculations.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from jobflow import Flow, JobConfig, OnMissing, Response, job
from pymatgen.io.ase import AseAtomsAdaptor

from spillover.jobs.relax import RelaxMaker
from spillover.schemas import CalcDoc, as_structure, calc_atoms, plain
from spillover.schemas.funnel import FunnelDoc
from spillover.schemas.mu_profile import HostSite, ProfileDoc, ProfileFunnel, TransferDoc, TransferMove

if TYPE_CHECKING:
    from ase import Atoms

KIND = "mu-profile"
#: Regions screened in the cell, in path order: occupied lattice O, then empty sites.
CELL_REGIONS = ("support", "interlayer", "interface", "ru-interstitial", "ru-surface")
#: Empty regions whose best sites receive the moved O.
TRANSFER_REGIONS = ("interface", "ru-interstitial")


def _tolerate_missing() -> JobConfig:
    return JobConfig(on_missing_references=OnMissing.NONE)


def has_ru_film(cell: Atoms) -> bool:
    """Whether the outermost film of the cell is a metal (no O): the empty Ru sites exist."""
    part = cell.arrays["part"]
    top = part == part.max()
    return bool(part.max() > 0 and "O" not in np.array(cell.get_chemical_symbols())[top])


def region_candidates(cell: Atoms, region: str, layer: int | None, settings: dict) -> tuple[list[Atoms], list[dict]]:
    """The candidate structures of one region and layer of the cell and what each is.

    Occupied regions give the cell without each symmetry-distinct O; ``interface`` and
    ``ru-surface`` the n = 1 configurations of the oxidation analysis (same order, so the same
    funnel); ``ru-interstitial`` the cell with O in each distinct hole of Ru gap ``layer``.
    """
    from spillover.build.film_sites import film_interstitial_sites
    from spillover.build.mu_profile import cell_vacancy_sites, without_atom
    from spillover.jobs.oxidation import placement_candidates

    if region in ("support", "interlayer"):
        sites = [s for s in cell_vacancy_sites(cell, settings["support_layers_probed"])
                 if s.region == region and s.layer == layer]
        return ([without_atom(cell, s.index) for s in sites],
                [{"site": s.site, "index": s.index, "multiplicity": len(s.equivalent), "position": s.position}
                 for s in sites])
    if region in ("interface", "ru-surface"):
        return placement_candidates(cell, "interface" if region == "interface" else "surface", 1)
    if region == "ru-interstitial":
        sites = [s for s in film_interstitial_sites(cell) if s.layer == layer]
        out = []
        for s in sites:
            atoms = cell.copy()
            atoms.append("O")
            atoms.positions[-1] = s.position
            atoms.arrays["layer"][-1], atoms.arrays["part"][-1] = 0, -1
            out.append(atoms)
        return out, [{"site": s.site, "multiplicity": len(s.equivalent), "position": s.position} for s in sites]
    raise ValueError(f"unknown region {region!r}")


def site_label(region: str, info: dict) -> str:
    """A site's label from its funnel candidate info (the oxidation funnels' infos included)."""
    if "site" in info:
        return str(info["site"])
    return f"{info['site_kinds'][0]} #{info['site_indices'][0]}"


def cell_groups(cell: Atoms, settings: dict) -> list[tuple[str, int | None, bool]]:
    """(region, layer, occupied) of every funnel the cell gets, in path order."""
    from spillover.build.film_sites import film_interstitial_sites
    from spillover.build.mu_profile import cell_vacancy_sites

    regions = set(settings["regions"])
    groups: list[tuple[str, int | None, bool]] = []
    for s in cell_vacancy_sites(cell, settings["support_layers_probed"]):
        if s.region in regions and (s.region, s.layer, True) not in groups:
            groups.append((s.region, s.layer, True))
    if has_ru_film(cell):
        if "interface" in regions:
            groups.append(("interface", None, False))
        if "ru-interstitial" in regions:
            for gap in sorted({s.layer for s in film_interstitial_sites(cell)}):
                groups.append(("ru-interstitial", gap, False))
        if "ru-surface" in regions:
            groups.append(("ru-surface", None, False))
    return groups


@job
def profile_sites(clean: dict | None, clean_id: str, o2_id: str, label: str, support: str, preset: str,
                  preset_overrides: dict, settings: dict, hosts: list[dict]) -> Response:
    """Enumerate the sites of the relaxed cell; add one funnel per region and layer, the transfer and the summary."""
    from jobflow import CURRENT_JOB

    from spillover.build.mu_profile import image_distance

    clean = plain(clean)
    if clean is None:
        raise RuntimeError(f"{label}: the relaxed cell is missing; no profile")
    cell = calc_atoms(clean)
    funnels, entries = [], []
    for region, layer, occupied in cell_groups(cell, settings):
        candidates, _ = region_candidates(cell, region, layer, settings)
        if not candidates:
            continue
        where = f"{region}" + (f" L{layer}" if layer is not None else "")
        f = profile_funnel(clean, clean_id, label, region, layer, preset, preset_overrides, settings)
        f.name = f"mu-profile {label} {where}"
        f.update_metadata({"system": label, "mu_profile": {"region": region, "layer": layer}})
        f.config = _tolerate_missing()
        funnels.append(f)
        entries.append(ProfileFunnel(region=region, layer=layer, occupied=occupied, job_id=f.uuid,
                                     n_candidates=len(candidates)).model_dump())
    vacancies = {e["layer"]: f.output for e, f in zip(entries, funnels) if e["region"] == "support"}
    targets = [(e["region"], e["job_id"], f.output) for e, f in zip(entries, funnels) if e["region"] in TRANSFER_REGIONS]
    new = [*funnels]
    if vacancies and targets:
        transfer = profile_transfer(clean, clean_id, label, preset, preset_overrides, settings,
                                    {str(k): v for k, v in vacancies.items()},
                                    {str(e["layer"]): e["job_id"] for e in entries if e["region"] == "support"},
                                    [(r, u) for r, u, _ in targets], [o for _, _, o in targets])
        transfer.name = f"transfer {label}"
        transfer.update_metadata({"system": label})
        transfer.config = _tolerate_missing()
        new.append(transfer)
    summary = profile_summary(label, support, preset, clean_id, o2_id, image_distance(cell, 2), entries,
                              [f.output for f in funnels], hosts, settings)
    summary.name = f"mu-profile summary {label}"
    summary.update_metadata({"system": label, "sites_job_id": CURRENT_JOB.job.uuid})
    summary.config = _tolerate_missing()
    new.append(summary)
    return Response(addition=Flow(new, name=f"mu-profile {label}"))


@job(output_schema=FunnelDoc)
def profile_funnel(clean: dict, clean_id: str, label: str, region: str, layer: int | None, preset: str,
                   preset_overrides: dict, settings: dict) -> FunnelDoc:
    """Every symmetry-distinct site of one region and layer of the cell through the screening funnel."""
    from spillover.jobs.funnel import run_funnel
    from spillover.sections.funnel import FunnelSettings

    cell = calc_atoms(plain(clean))
    candidates, infos = region_candidates(cell, region, layer, settings)
    infos = [{**i, "region": region, "layer": layer} for i in infos] if region not in ("interface", "ru-surface") else infos
    where = region + (f" L{layer}" if layer is not None else "")
    meta = {"mu_profile": {"system": label, "clean_job_id": clean_id, "region": region, "layer": layer}}
    return run_funnel(f"{label} O {where}", candidates, infos, preset, preset_overrides,
                      FunnelSettings(**settings["funnel"]), kind=KIND, metadata=meta)


def _converged(funnel: dict) -> list[tuple[dict, dict]]:
    """(candidate info, final relaxation) of every converged survivor, lowest energy first."""
    out = []
    for calc in funnel.get("survivors", []):
        if calc.get("converged"):
            index = calc["metadata"]["funnel"]["candidate"]
            out.append((funnel["candidates"][index]["info"], calc))
    return sorted(out, key=lambda ic: ic[1]["energy_eV"])


def _distance(cell: Atoms, a: np.ndarray, b: np.ndarray) -> float:
    """Minimum-image distance between two points of the cell, periodic in plane (Å)."""
    from ase.geometry import get_distances

    return float(get_distances([a], [b], cell=cell.cell, pbc=[True, True, False])[1][0, 0])


@job(output_schema=TransferDoc)
def profile_transfer(clean: dict, clean_id: str, label: str, preset: str, preset_overrides: dict, settings: dict,
                     vacancies: dict[str, dict | None], vacancy_ids: dict[str, str], target_ids: list,
                     targets: list[dict | None]) -> TransferDoc:
    """Move the O of each support layer that costs least to remove to the best empty sites; relax each move.

    The start of a move is the relaxed cell with O at site j (the site funnel's final structure; the
    added O is its last atom) without the layer's O, so the film has already made room for the O.
    """
    from spillover.jobs.funnel import relax_candidate
    from spillover.workers import map_tasks, worker_count

    clean = plain(clean)
    cell = calc_atoms(clean)
    missing: list[str] = []
    sources = []
    for layer in sorted(vacancies, key=int):
        found = _converged(plain(vacancies[layer]) or {})
        if not found:
            missing.append(f"L{layer}: no converged vacancy")
            continue
        info = found[0][0]
        sources.append((int(layer), info["site"], int(info["index"]), vacancy_ids[layer]))
    sites = []
    for (region, uuid), funnel in zip(target_ids, targets):
        sites += [(region, site_label(region, info), calc, uuid) for info, calc in _converged(plain(funnel) or {})]
    if not sites:
        missing.append("no converged empty site at the interface or in the Ru film")
    chosen = []
    for region in TRANSFER_REGIONS:
        ranked = sorted((s for s in sites if s[0] == region), key=lambda s: s[2]["energy_eV"])
        chosen += ranked[: settings["transfer_sites"]]
    tasks, plans = [], []
    for layer, name, index, vac_id in sources:
        for region, site, calc, site_id in chosen:
            start = calc_atoms(calc)
            o_at_j = start.positions[-1].copy()
            distance = _distance(cell, cell.positions[index], o_at_j)
            del start[index]
            tasks.append({"atoms": start, "preset": preset, "preset_overrides": preset_overrides, "kind": KIND,
                          "fmax": None, "label": f"{label} {name} -> {site}",
                          "metadata": {"transfer": {"system": label, "from_layer": layer, "to_site": site}}})
            plans.append({"from_layer": layer, "from_site": name, "from_index": index, "to_region": region,
                          "to_site": site, "distance_A": distance, "vacancy_funnel_job_id": vac_id,
                          "site_funnel_job_id": site_id})
    workers = worker_count()
    docs = map_tasks(relax_candidate, tasks, workers)
    moves = [TransferMove(**plan, calc=doc) for plan, doc in zip(plans, docs)]
    return TransferDoc(preset=preset, system=label, cell_job_id=clean_id, moves=moves, missing=missing, workers=workers)


@job(output_schema=ProfileDoc)
def profile_summary(label: str, support: str, preset: str, clean_id: str, o2_id: str, image_distance_A: float,
                    funnels: list[dict], results: list[dict | None], hosts: list[dict], settings: dict) -> ProfileDoc:
    """Record which stored calculations make up the O level along the path of one system."""
    failed, kept = [], []
    for entry, result in zip(funnels, results):
        where = entry["region"] + (f" L{entry['layer']}" if entry["layer"] is not None else "")
        if result is None:
            failed.append(f"{where}: funnel failed")
            continue
        if plain(result).get("survivor") is None:
            failed.append(f"{where}: no final relaxation converged")
        kept.append(ProfileFunnel(**entry))
    host_sites = []
    for h in hosts:
        if h.get("with_energy") is None or h.get("without_energy") is None:
            failed.append(f"{h['region']} {h['site']}: a relaxation failed")
            continue
        host_sites.append(HostSite(**{k: v for k, v in h.items() if k in HostSite.model_fields}))
    return ProfileDoc(preset=preset, system=label, support=support, cell_job_id=clean_id, o2_job_id=o2_id,
                      image_distance_A=image_distance_A, funnels=kept, hosts=host_sites, failed=failed,
                      settings=settings)


@job
def cut_host(kind: str, bulk_structure: Any, settings: dict, support: str, name: str) -> dict:
    """Job: cut the bare slab or bulk supercell ``kind`` from a relaxed bulk and enumerate its vacancies.

    Returns
    -------
    dict
        ``structure`` (the host, a Structure dict) and ``sites`` (:func:`spillover.build.mu_profile.site_entries`).
    """
    from spillover.build.mu_profile import build_host, site_entries

    atoms = build_host(kind, AseAtomsAdaptor.get_atoms(as_structure(plain(bulk_structure))), settings, support)
    return {"structure": AseAtomsAdaptor.get_structure(atoms).as_dict(), "sites": site_entries(kind, atoms, settings, name)}


@job(output_schema=CalcDoc)
def relax_site(host: Any, sites: list[dict], ordinal: int, planned: dict, maker: RelaxMaker, label: str,
               metadata: dict) -> CalcDoc:
    """Job: take the O of site ``ordinal`` out of the relaxed host and relax (bottom layers still fixed).

    ``planned`` is the entry planned on the CIF bulk; the run-time site must have its region and layer.
    """
    from spillover.build.mu_profile import without_atom

    if ordinal >= len(sites) or (sites[ordinal]["region"], sites[ordinal]["layer"]) != (planned["region"], planned["layer"]):
        found = sites[ordinal] if ordinal < len(sites) else None
        raise RuntimeError(
            f"site {label}: the host cut from the relaxed bulk has "
            f"{'no site ' + str(ordinal) if found is None else 'site ' + repr((found['region'], found['layer']))} "
            f"where the plan had {(planned['region'], planned['layer'])!r}"
        )
    site = sites[ordinal]
    atoms = AseAtomsAdaptor.get_atoms(as_structure(host))
    if atoms[site["index"]].symbol != "O":
        raise RuntimeError(f"site {label}: atom {site['index']} of the relaxed host is not O")
    meta = {**metadata, "mu_profile": {**metadata.get("mu_profile", {}), "entry": site}}
    return maker.compute(AseAtomsAdaptor.get_structure(without_atom(atoms, site["index"])), label=label,
                         kind="defect", metadata=meta)
