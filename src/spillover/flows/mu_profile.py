"""The oxygen chemical-potential profile: O binding energies along support -> interface -> Ru.

For every site of :mod:`spillover.build.profile_sites` the flow relaxes the host and the host
with (or without) the O at the same preset, bottom layers fixed, and one summary job per support
records which calculations belong together. The binding energies themselves are computed by
:mod:`spillover.analysis.profile` from the stored calculations, never stored as bare numbers.

Which sites there are is planned on models built from the experimental bulks when the flow is
made (the flow needs one job per site). At run time the same builders cut the hosts from the
*relaxed* bulks and the sites are enumerated again on that host: a slab cut from a strained bulk
need not list its atoms in the same order or at the same fractional positions. Each site job
takes the run-time site with the planned ordinal, after checking that its region and layer are
the planned ones; the host relaxation keeps the atom order, so vacancy indices carry over.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from jobflow import Job, JobConfig, OnMissing, job
from pymatgen.io.ase import AseAtomsAdaptor

from spillover.errors import InputError
from spillover.jobs.relax import RelaxMaker
from spillover.schemas import CalcDoc, as_structure, package_versions
from spillover.schemas_profile import ProfileDoc, ProfileSite

if TYPE_CHECKING:
    from ase import Atoms

    from spillover.study import Study

KIND = "mu-profile"
#: Interface model that carries the interface region of each support, in order of preference.
INTERFACE_OF_SUPPORT = {
    "rutile-110": ("rutile-110/RuO2-110/Ru-0001", "rutile-110/RuO2-110"),
    "anatase-101": ("anatase-101/Ru-0001",),
}
SUPPORT_BULK = {"rutile-110": "rutile", "anatase-101": "anatase"}
#: Closest allowed distance (Å) between a defect and its periodic images.
MIN_IMAGE_DISTANCE_A = 5.0


def image_distance(atoms: Atoms, periodic: int = 3) -> float:
    """Shortest distance between a point and its periodic images (Å), over the first ``periodic`` cell vectors."""
    from ase.geometry import minkowski_reduce

    cell = np.asarray(atoms.cell)[:periodic]
    if periodic == 2:
        cell = cell[:, :2]
    reduced, _ = minkowski_reduce(cell, pbc=[True] * periodic) if periodic == 3 else (cell, None)
    combos = np.array(np.meshgrid(*[[-1, 0, 1]] * periodic)).reshape(periodic, -1).T
    lengths = np.linalg.norm(combos[np.any(combos != 0, axis=1)] @ reduced, axis=1)
    return float(lengths.min())


def in_plane_repeat(atoms: Atoms) -> tuple[int, int]:
    """Smallest in-plane repeat that puts a point defect at least 5 Å from its periodic images."""
    for n1, n2 in sorted(((i, j) for i in range(1, 6) for j in range(1, 6)), key=lambda ij: (ij[0] * ij[1], ij)):
        cell = np.asarray(atoms.cell).copy()
        cell[0] *= n1
        cell[1] *= n2
        probe = atoms.copy()
        probe.set_cell(cell)
        if image_distance(probe, 2) >= MIN_IMAGE_DISTANCE_A:
            return n1, n2
    raise InputError("mu_profile", "no in-plane repeat up to 5x5 keeps a defect 5 Å from its images")


def build_host(kind: str, bulk: Atoms, settings: dict, support: str | None = None) -> Atoms:
    """The host structure of one region, cut from ``bulk`` (pure function, also used at run time).

    Slabs and interfaces are repeated in plane (:func:`in_plane_repeat`) so that a defect is at
    least 5 Å from its images; the bulk and Ru supercells are the study's sizes.

    Parameters
    ----------
    kind
        ``support-slab``, ``bulk-supercell-<i>``, ``interface``, ``ru-supercell`` or ``ru-slab``.
    bulk
        The bulk to cut from (experimental or relaxed); for ``interface`` the interface model.
    settings
        The study's ``mu_profile`` settings as a dict.
    support
        Support facet for ``support-slab``.
    """
    from ase.build import make_supercell

    from spillover.build.profile_sites import ru_supercell
    from spillover.build.slabs import make_slab

    if kind == "support-slab":
        args = {"layers": settings["slab_layers"], "vacuum": settings["vacuum"], "fixed_layers": settings["fixed_layers"]}
        repeat = in_plane_repeat(make_slab(support, bulk=bulk, **args))
        return make_slab(support, bulk=bulk, repeat=repeat, **args)
    if kind == "interface":
        n1, n2 = in_plane_repeat(bulk)
        return make_supercell(bulk, np.diag([n1, n2, 1])) if (n1, n2) != (1, 1) else bulk.copy()
    if kind.startswith("bulk-supercell-"):
        repeat = settings["bulk_supercells"][SUPPORT_BULK[support]][int(kind.rsplit("-", 1)[1])]
        return make_supercell(bulk, np.diag(repeat))
    if kind == "ru-supercell":
        return ru_supercell(bulk, tuple(settings["ru_supercell"]))
    if kind == "ru-slab":
        return make_slab("Ru-0001", bulk=bulk, repeat=tuple(settings["ru_surface_repeat"]),
                         layers=settings["ru_surface_layers"], vacuum=settings["vacuum"], fixed_layers=1)
    raise ValueError(f"unknown host kind {kind!r}")


HOST_FIELD = {"ru-supercell": "mu_profile.ru_supercell", "ru-slab": "mu_profile.ru_surface_repeat"}


def check_image_distance(host: Atoms, kind: str) -> None:
    """Raise InputError when a point defect in ``host`` would sit closer than 5 Å to its images.

    For slabs and interfaces only the in-plane cell vectors count.
    """
    distance = image_distance(host, 2 if "layer" in host.arrays else 3)
    if distance < MIN_IMAGE_DISTANCE_A - 1e-6:
        field = HOST_FIELD.get(kind, "mu_profile.bulk_supercells" if kind.startswith("bulk") else "mu_profile")
        raise InputError(field, f"supercell too small: a defect would be {distance:.2f} Å from its periodic image",
                         f"a supercell whose images are at least {MIN_IMAGE_DISTANCE_A} Å apart")


@job
def cut_host(kind: str, bulk_structure: Any, settings: dict, support: str | None = None) -> dict:
    """Job: cut the host of ``kind`` from a relaxed bulk and enumerate its sites.

    Returns
    -------
    dict
        ``structure`` (the host, a Structure dict) and ``sites`` (the capped site entries of
        :func:`_site_entries`, enumerated on this host).
    """
    atoms = build_host(kind, AseAtomsAdaptor.get_atoms(as_structure(bulk_structure)), settings, support)
    sites = _capped(_site_entries(kind, atoms, settings), settings["max_sites_per_layer"])
    return {"structure": AseAtomsAdaptor.get_structure(atoms).as_dict(), "sites": sites}


@job(output_schema=CalcDoc)
def relax_site(host: Any, sites: list[dict], ordinal: int, planned: dict, maker: RelaxMaker, label: str,
               metadata: dict) -> CalcDoc:
    """Job: put the O in (or take it out of) the relaxed host and relax, bottom layers still fixed.

    Parameters
    ----------
    host
        The relaxed host structure (same atom order as the host the sites were enumerated on).
    sites
        The site entries enumerated on the unrelaxed host (:func:`cut_host`).
    ordinal
        Which of ``sites`` this job computes.
    planned
        The entry planned for this ordinal when the flow was made; its region and layer must match.
    maker
        The relaxation settings (preset, overrides).

    The site actually used is stored in ``metadata['mu_profile']['entry']`` of the result.
    """
    from spillover.build.profile_sites import OxygenSite, with_site

    if ordinal >= len(sites) or (sites[ordinal]["region"], sites[ordinal]["layer"]) != (planned["region"], planned["layer"]):
        found = sites[ordinal] if ordinal < len(sites) else None
        raise RuntimeError(
            f"site {label}: the host cut from the relaxed bulk has "
            f"{'no site ' + str(ordinal) if found is None else 'site ' + repr((found['region'], found['layer']))} "
            f"where the plan had {(planned['region'], planned['layer'])!r}"
        )
    site = sites[ordinal]
    atoms = AseAtomsAdaptor.get_atoms(as_structure(host))
    entry = OxygenSite(**{k: v for k, v in site.items() if k in OxygenSite.__dataclass_fields__})
    if entry.kind == "vacancy":
        if atoms[entry.index].symbol != "O":
            raise RuntimeError(f"site {label}: atom {entry.index} of the relaxed host is not O")
        _, target = with_site(atoms, entry)
    else:
        entry.position = (np.asarray(site["frac"]) @ np.asarray(atoms.cell)).tolist()
        target, _ = with_site(atoms, entry)
    meta = {**metadata, "mu_profile": {**metadata.get("mu_profile", {}), "entry": site}}
    return maker.compute(AseAtomsAdaptor.get_structure(target), label=label, kind="defect", metadata=meta)


@job(output_schema=ProfileDoc)
def profile_summary(support: str, preset: str, o2_job_id: str, o2_energy: float | None,
                    sites: list[dict], energies: dict[str, float | None], settings: dict) -> ProfileDoc:
    """Job: record which stored calculations make up the profile of one support.

    ``energies`` maps job uuids to their energies (``None`` for a job that failed); it is only
    used to list failures and make this job run last.
    """
    good, failed = [], []
    for s in sites:
        s = dict(s)
        used = (s.pop("run_time_site", None) or {}).get("mu_profile", {}).get("entry")
        if used is not None:  # what the site job actually computed, enumerated on the real host
            s["position"], s["equivalent"] = used["position"], used["equivalent"]
            s["equivalent_count"] = len(used["equivalent"])
        ok = used is not None and o2_energy is not None and all(
            energies.get(u) is not None for u in (s["with_job_id"], s["without_job_id"]))
        (good if ok else failed).append(ProfileSite(**s))
    return ProfileDoc(support=support, preset=preset, o2_job_id=o2_job_id, sites=good, failed=failed,
                      settings=settings, versions=package_versions())


def _frac(host: Atoms, position: list[float]) -> list[float]:
    return np.linalg.solve(np.asarray(host.cell).T, np.asarray(position)).tolist()


def _site_entries(host_kind: str, host: Atoms, settings: dict) -> list[dict]:
    from spillover.build import profile_sites as ps

    if host_kind == "support-slab":
        found = ps.support_slab_sites(host, settings["support_layers_probed"])
    elif host_kind.startswith("bulk-supercell-"):
        found = [ps.bulk_vacancy_site(host)]
    elif host_kind == "interface":
        found = ps.interface_sites(host)
    elif host_kind == "ru-supercell":
        found = ps.interstitial_sites(host)
    else:
        found = ps.hollow_sites(host)
    regions = set(settings["regions"])
    entries = []
    for s in found:
        if s.region not in regions:
            continue
        d = s.to_dict()
        d["frac"] = _frac(host, s.position)
        d["host"] = host_kind
        entries.append(d)
    return entries


def _o2_job(study: Study, preset: str) -> Job:
    from spillover.flows.oxidation import molecule_overrides, o2_structure

    maker = RelaxMaker(name="relax O2", preset=preset, preset_overrides=molecule_overrides(preset, study.preset_overrides))
    return maker.make(o2_structure(study.oxidation.o2_box_A), label="O2", kind="molecule")


def mu_profile_jobs(study: Study, bulk_jobs: dict[str, Job], preset: str, interfaces: dict[str, Job],
                    o2: Job | None = None) -> list[Job]:
    """Every job of the profile part of a study, with the bulks, interfaces and O2 it needs.

    Bulk relaxations and interface models missing from ``bulk_jobs``/``interfaces`` are created
    (and added to those dicts); so is the O2 relaxation when ``o2`` is None.

    Parameters
    ----------
    study
        The validated study (``study.mu_profile`` holds the settings).
    bulk_jobs
        Bulk name -> relaxation job; the profile needs the support bulks and Ru.
    preset
        Calculator preset of every job.
    interfaces
        Interface label -> interface-model job of the lattice-match part (the interface hosts).
    o2
        The O2 relaxation job whose energy is the reference; None makes one.
    """
    from spillover.build.bulk import load_bulk
    from spillover.flows.bulks import bulk_relax_jobs
    from spillover.flows.lattice_match import interface_jobs

    settings = study.mu_profile.model_dump()
    regions = set(settings["regions"])
    jobs: list[Job] = []
    needed = {SUPPORT_BULK[s] for s in settings["supports"]} | ({"Ru"} if regions & {"ru-bulk", "ru-surface"} else set())
    if "interface" in regions:
        needed |= {"RuO2", "Ru"}
    missing = sorted(needed - set(bulk_jobs))
    if missing:
        new_bulks = bulk_relax_jobs(missing, preset, study.preset_overrides)
        bulk_jobs.update(new_bulks)
        jobs += list(new_bulks.values())
    if "interface" in regions:
        match = {"lattice_match": study.lattice_match.model_dump(), "interface_model": study.interface_model.model_dump()}
        for support in settings["supports"]:
            study_labels = [s.label for s in study.interfaces]
            label = next((lab for lab in INTERFACE_OF_SUPPORT[support] if lab in interfaces or lab in study_labels), None)
            if label is not None and label not in interfaces:
                parts = label.split("/")
                (interfaces[label],) = interface_jobs([(parts[0], parts[1:])], bulk_jobs, preset, match)
                jobs.append(interfaces[label])
    if o2 is None:
        o2 = _o2_job(study, preset)
        jobs.append(o2)
    maker = RelaxMaker(name="relax", preset=preset, preset_overrides=study.preset_overrides,
                       steps=settings["relax_steps"])
    computed: dict[str, tuple[list[dict], dict[str, Any]]] = {}  # shared hosts (Ru) are computed once

    def host_jobs(kind: str, model: Atoms, cut: Job, name: str, support: str | None) -> tuple[list[dict], dict[str, Any]]:
        check_image_distance(model, kind)
        cut.name = f"mu-profile host {name}"
        meta = {"mu_profile": {"support": support, "host": kind}}
        host_relax = RelaxMaker(name=f"mu-profile relax {name}", preset=preset, preset_overrides=study.preset_overrides,
                                steps=settings["relax_steps"]).make(cut.output["structure"], label=f"{name} host",
                                                                    kind=KIND, metadata=meta)
        jobs.extend([cut, host_relax])
        energies = {host_relax.uuid: host_relax.output.energy_eV}
        docs = []
        planned = _capped(_site_entries(kind, model, settings), settings["max_sites_per_layer"])
        for ordinal, entry in enumerate(planned):
            site_name = f"bulk limit {name.rsplit(' ', 1)[-1]}" if kind.startswith("bulk-supercell") else entry["site"]
            defect = relax_site(host_relax.output.structure, cut.output["sites"], ordinal, entry, maker,
                                f"{name} {site_name}",
                                {"mu_profile": {"support": support, "host": kind, "site": site_name}})
            defect.name = f"mu-profile {name} {site_name}"
            jobs.append(defect)
            energies[defect.uuid] = defect.output.energy_eV
            with_id, without_id = ((host_relax.uuid, defect.uuid) if entry["kind"] == "vacancy"
                                   else (defect.uuid, host_relax.uuid))
            docs.append({
                "region": entry["region"], "site": site_name, "layer": entry["layer"], "kind": entry["kind"],
                "host": kind, "with_job_id": with_id, "without_job_id": without_id,
                "run_time_site": defect.output.metadata,  # the site as enumerated on the real host
            })
        return docs, energies

    for support in settings["supports"]:
        material = SUPPORT_BULK[support]
        site_docs: list[dict] = []
        energies: dict[str, Any] = {}

        def add(result: tuple[list[dict], dict[str, Any]]) -> None:
            site_docs.extend(result[0])
            energies.update(result[1])

        if regions & {"support-surface", "support-bulk"}:
            model = build_host("support-slab", load_bulk(material), settings, support)
            cut = cut_host("support-slab", bulk_jobs[material].output.structure, settings, support)
            add(host_jobs("support-slab", model, cut, f"{support} slab", support))
        if "support-bulk" in regions:
            for i in range(len(settings["bulk_supercells"][material])):
                kind = f"bulk-supercell-{i}"
                model = build_host(kind, load_bulk(material), settings, support)
                cut = cut_host(kind, bulk_jobs[material].output.structure, settings, support)
                add(host_jobs(kind, model, cut, f"{material} bulk {'x'.join(map(str, settings['bulk_supercells'][material][i]))}", support))
        if "interface" in regions:
            label = next((lab for lab in INTERFACE_OF_SUPPORT[support] if lab in interfaces), None)
            if label is None:
                raise InputError("mu_profile.supports", f"the interface region of {support} needs one of the "
                                 f"interfaces {list(INTERFACE_OF_SUPPORT[support])} in the study")
            model = build_host("interface", _interface_model(study, label), settings)
            cut = cut_host("interface", interfaces[label].output.structure, settings)
            add(host_jobs("interface", model, cut, label, support))
        for region, kind in (("ru-bulk", "ru-supercell"), ("ru-surface", "ru-slab")):
            if region in regions:
                if kind not in computed:
                    model = build_host(kind, load_bulk("Ru"), settings)
                    cut = cut_host(kind, bulk_jobs["Ru"].output.structure, settings)
                    computed[kind] = host_jobs(kind, model, cut, f"Ru {'bulk' if kind == 'ru-supercell' else '(0001)'}", None)
                add(computed[kind])
        summary = profile_summary(support, preset, o2.uuid, o2.output.energy_eV, site_docs, energies, settings)
        summary.name = f"mu-profile summary {support}"
        summary.config = JobConfig(on_missing_references=OnMissing.NONE)
        jobs.append(summary)
    return jobs


def _interface_model(study: Study, label: str) -> Atoms:
    """The interface model of ``label`` built from the experimental bulks (for site enumeration)."""
    from spillover.build.interfaces import make_interface

    support, *films = label.split("/")
    im = study.interface_model
    atoms, _ = make_interface(
        support, films, max_area=study.lattice_match.max_area_A2,
        max_strain_percent=study.lattice_match.max_strain_percent, support_layers=im.support_layers,
        film_layers=[im.film_layers.get(f, 1) for f in films], vacuum=im.vacuum, gap=im.gap,
        fixed_layers=im.fixed_layers,
    )
    return atoms


def _capped(entries: list[dict], per_layer: int | None) -> list[dict]:
    """At most ``per_layer`` sites per (region, host part/layer) group, in enumeration order."""
    if per_layer is None:
        return entries
    counts: dict[tuple, int] = {}
    kept = []
    for e in entries:
        key = (e["region"], e["site"].split(":")[0].split(" ")[0], e["layer"])
        if counts.get(key, 0) < per_layer:
            counts[key] = counts.get(key, 0) + 1
            kept.append(e)
    return kept
