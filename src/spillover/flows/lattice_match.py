"""Lattice-matched interface models cut from relaxed bulks."""

from __future__ import annotations

from jobflow import Job, job

from spillover.schemas import InterfaceDoc, as_structure, package_versions


@job(output_schema=InterfaceDoc)
def build_interface(
    support: str,
    films: list[str],
    bulk_structures: dict[str, dict],
    bulk_sources: dict[str, str],
    preset: str,
    settings: dict,
) -> InterfaceDoc:
    """Build one interface model from relaxed bulks and report its lattice match.

    Parameters
    ----------
    support, films
        Support facet and films from the support outwards.
    bulk_structures
        Material -> relaxed bulk structure (pymatgen dict).
    bulk_sources
        Material -> uuid of the job that relaxed it (stored for traceability).
    preset
        Preset of those relaxations.
    settings
        ``lattice_match`` and ``interface_model`` settings of the study.
    """
    from pymatgen.io.ase import AseAtomsAdaptor

    from spillover.build.interfaces import make_interface

    bulks = {name: AseAtomsAdaptor.get_atoms(as_structure(s)) for name, s in bulk_structures.items()}
    match, model = settings["lattice_match"], settings["interface_model"]
    atoms, report = make_interface(
        support,
        films,
        bulks=bulks,
        max_area=match["max_area_A2"],
        max_strain_percent=match["max_strain_percent"],
        support_layers=model["support_layers"],
        film_layers=[model["film_layers"].get(f, 1) for f in films],
        vacuum=model["vacuum"],
        gap=model["gap"],
        fixed_layers=model["fixed_layers"],
    )
    info = report.to_dict()
    # The table row of a stack describes its outermost match (Ru on RuO2/r-TiO2); the
    # inner one (RuO2 on r-TiO2) is its own interface and the full chain stays in `report`.
    outer = info["stack"][-1] if info.get("stack") else info
    return InterfaceDoc(
        label="/".join([support, *films]),
        support=support,
        films=list(films),
        film=films[-1],
        substrate_matrix=outer["substrate_matrix"],
        film_matrix=outer["film_matrix"],
        area_A2=outer["area_A2"],
        strain_percent=outer["strain_percent"],
        von_mises_percent=outer["von_mises_percent"],
        natoms=len(atoms),
        report=info,
        structure=AseAtomsAdaptor.get_structure(atoms).as_dict(),
        layer=[int(x) for x in atoms.arrays["layer"]],
        part=[int(x) for x in atoms.arrays["part"]],
        bulk_sources=bulk_sources,
        preset=preset,
        builder_settings=settings,
        versions=package_versions(),
    )


def interface_jobs(
    interfaces: list[tuple[str, list[str]]], bulk_jobs: dict[str, Job], preset: str, settings: dict
) -> list[Job]:
    """One :func:`build_interface` job per interface, fed by the relaxed bulks.

    Parameters
    ----------
    interfaces
        (support, films) pairs.
    bulk_jobs
        Bulk name -> relaxation job (see :func:`spillover.flows.bulks.bulk_relax_jobs`).
    preset
        Preset of the bulk relaxations.
    settings
        ``lattice_match`` and ``interface_model`` settings.
    """
    from spillover.study import FACET_BULK

    jobs = []
    for support, films in interfaces:
        needed = sorted({FACET_BULK[f] for f in (support, *films)})
        new = build_interface(
            support,
            list(films),
            {m: bulk_jobs[m].output.structure for m in needed},
            {m: bulk_jobs[m].uuid for m in needed},
            preset,
            settings,
        )
        new.name = f"interface {'/'.join([support, *films])}"
        jobs.append(new)
    return jobs
