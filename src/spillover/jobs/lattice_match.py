"""The lattice-match scan as a job: every film facet on every support facet, at the relaxed bulk lattices."""

from __future__ import annotations

from typing import Any

from jobflow import job

from spillover.schemas import ScanDoc, as_structure


@job(output_schema=ScanDoc)
def lattice_scan_job(films: list[str], supports: list[str], bulk_structures: dict[str, Any],
                     bulk_sources: dict[str, str], preset: str, lattice_match: dict[str, Any]) -> ScanDoc:
    """Run :func:`spillover.build.scan.lattice_scan` on the relaxed bulks and store its rows.

    Parameters
    ----------
    films, supports
        Facets to pair.
    bulk_structures, bulk_sources
        Material -> relaxed structure, and -> uuid of its relaxation.
    preset
        Preset of those relaxations.
    lattice_match
        The study's ``lattice_match`` limits as a dict.
    """
    from pymatgen.io.ase import AseAtomsAdaptor

    from spillover.build.scan import lattice_scan

    bulks = {name: AseAtomsAdaptor.get_atoms(as_structure(s)) for name, s in bulk_structures.items()}
    rows = lattice_scan(films, supports, bulks=bulks, max_area=lattice_match["max_area_A2"],
                        max_strain_percent=lattice_match["max_strain_percent"])
    return ScanDoc(rows=[r.to_dict() for r in rows], max_area_A2=lattice_match["max_area_A2"],
                   max_strain_percent=lattice_match["max_strain_percent"], lattices="relaxed",
                   bulk_sources=bulk_sources, preset=preset)
