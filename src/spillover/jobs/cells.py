"""The system cell: one interface model per system, cut from the relaxed bulks, shared by every analysis."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jobflow import job

from spillover.schemas import CellDoc, as_structure, fixed_indices

if TYPE_CHECKING:
    from ase import Atoms

    from spillover.build.interfaces import MatchReport


def cell_atoms(support: str, films: list[str], cell: dict[str, Any], lattice_match: dict[str, Any],
               bulks: dict[str, Atoms] | None = None) -> tuple[Atoms, MatchReport]:
    """Build a system's cell with the study's sizes and limits (pure; the CIF lattices without ``bulks``).

    Parameters
    ----------
    support, films
        The system: support facet and films from the support outwards.
    cell
        The study's ``cell`` section (:class:`~spillover.sections.systems.CellSettings` as a dict).
    lattice_match
        The study's ``lattice_match`` section as a dict.
    bulks
        Relaxed bulks by material name; missing ones come from ``structures/``.
    """
    from spillover.build.interfaces import make_interface

    return make_interface(
        support, list(films), bulks=bulks, max_area=lattice_match["max_area_A2"],
        max_strain_percent=lattice_match["max_strain_percent"], support_layers=cell["support_layers"],
        film_layers=[int(cell["film_layers"].get(f, 1)) for f in films], vacuum=cell["vacuum"], gap=cell["gap"],
        fixed_layers=cell["fixed_layers"],
    )


@job(output_schema=CellDoc)
def build_cell(support: str, films: list[str], bulk_structures: dict[str, Any], bulk_sources: dict[str, str],
               preset: str, cell: dict[str, Any], lattice_match: dict[str, Any]) -> CellDoc:
    """Build one system's cell from relaxed bulks and store it with its lattice match.

    Parameters
    ----------
    support, films
        The system.
    bulk_structures
        Material -> relaxed bulk structure (pymatgen Structure or its dict).
    bulk_sources
        Material -> uuid of the job that relaxed it.
    preset
        Preset of those relaxations.
    cell, lattice_match
        The study's ``cell`` and ``lattice_match`` sections as dicts.
    """
    from pymatgen.io.ase import AseAtomsAdaptor

    bulks = {name: AseAtomsAdaptor.get_atoms(as_structure(s)) for name, s in bulk_structures.items()}
    atoms, report = cell_atoms(support, films, cell, lattice_match, bulks)
    info = report.to_dict()
    return CellDoc(
        system="/".join([support, *films]), support=support, films=list(films),
        substrate_matrix=info["substrate_matrix"], substrate_hnf=info["substrate_hnf"], area_A2=info["area_A2"],
        matches=info["matches"], natoms=len(atoms), part_natoms=info["part_natoms"],
        support_layers=int(cell["support_layers"]), film_layers=info["film_layers"],
        fixed_layers=int(cell["fixed_layers"]), vacuum_A=float(cell["vacuum"]), registry=info["registry"],
        report=info, structure=AseAtomsAdaptor.get_structure(atoms).as_dict(),
        layer=[int(x) for x in atoms.arrays["layer"]], part=[int(x) for x in atoms.arrays["part"]],
        fixed_indices=fixed_indices(atoms), bulk_sources=bulk_sources, preset=preset,
        settings={"cell": cell, "lattice_match": lattice_match},
    )
