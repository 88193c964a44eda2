"""Jobs and host builders of the O chemical-potential profile.

Which sites there are is planned on hosts built from the experimental bulks (and the system cell
built on the CIF lattices) when the flow is made: the flow needs one job per site. At run time the
same builders cut the hosts from the *relaxed* bulks (the interface host is the system's relaxed
cell) and the sites are enumerated again on that host: a slab cut from a strained bulk need not list
its atoms in the same order or at the same fractional positions. Each site job takes the run-time
site with the planned ordinal, after checking that its region and layer are the planned ones; the
host relaxation keeps the atom order, so vacancy indices carry over.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from jobflow import job
from pymatgen.io.ase import AseAtomsAdaptor

from spillover.build.mu_profile import build_host, capped, site_entries
from spillover.jobs.relax import RelaxMaker
from spillover.schemas import CalcDoc, as_structure, calc_atoms, plain
from spillover.schemas.mu_profile import ProfileDoc, ProfileSite

if TYPE_CHECKING:
    pass

KIND = "mu-profile"
@job
def cut_host(kind: str, bulk_structure: Any, settings: dict, support: str | None = None) -> dict:
    """Job: cut the host of ``kind`` from a relaxed bulk and enumerate its sites.

    Returns
    -------
    dict
        ``structure`` (the host, a Structure dict) and ``sites`` (the capped site entries of
        :func:`spillover.build.mu_profile.site_entries`, enumerated on this host).
    """
    source = plain(bulk_structure)
    # the interface host is a stored relaxed cell (its document), the others a relaxed bulk structure
    atoms = calc_atoms(source) if isinstance(source, dict) and "energy_eV" in source else \
        AseAtomsAdaptor.get_atoms(as_structure(source))
    atoms = build_host(kind, atoms, settings, support)
    sites = capped(site_entries(kind, atoms, settings), settings["max_sites_per_layer"])
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
    from spillover.build.mu_profile import OxygenSite, with_site

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
                      settings=settings)


