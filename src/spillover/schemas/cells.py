"""Documents of the shared system cells and of the lattice-match scan."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from spillover.schemas.base import Document, structure_as_dict


class FilmMatchEntry(BaseModel):
    """How one film of a system matches the common in-plane cell."""

    film: str = Field(description="Film facet, e.g. 'Ru-0001'.")
    film_matrix: list[list[int]] = Field(description="Film supercell in its surface cell (rows match the substrate rows).")
    strain_percent: list[float] = Field(description="Mismatch f_i along the two supercell vectors (%).")
    von_mises_percent: float = Field(description="Von Mises strain of the film on the cell (%).")


class CellDoc(Document):
    """One system's interface cell, built from the relaxed bulks (not yet relaxed itself)."""

    doc_type: Literal["system-cell"] = Field("system-cell", description="Document type, for queries.")
    system: str = Field(description="System label 'support/film[/film]', e.g. 'rutile-110/RuO2-110/Ru-0001'.")
    support: str = Field(description="Support facet, e.g. 'rutile-110'.")
    films: list[str] = Field(description="Films from the support outwards.")
    substrate_matrix: list[list[int]] = Field(description="Support supercell in its surface cell (canonical basis).")
    substrate_hnf: list[list[int]] = Field(description="Hermite normal form of the support supercell (the sublattice).")
    area_A2: float = Field(description="In-plane area of the cell (Å²).")
    matches: list[FilmMatchEntry] = Field(description="Each film on the common cell, support side first.")
    natoms: int = Field(description="Atoms in the cell.")
    part_natoms: list[int] = Field(description="Atoms per part: support, first film, second film.")
    support_layers: int = Field(description="Support layers (trilayers of r-TiO2(110), Ti2O4 layers of a-TiO2(101)).")
    film_layers: list[int] = Field(description="Layers per film.")
    fixed_layers: int = Field(description="Bottom support layers held fixed.")
    vacuum_A: float = Field(description="Vacuum on each side of the cell (Å), as ASE's: twice this between the "
                                         "outermost film and the next image of the support.")
    registry: list[str] = Field(description="In-plane registry of each film: 'epitaxial' or 'max-min-distance'.")
    report: dict[str, Any] = Field(description="The builder's full match report.")
    structure: dict = Field(description="The cell (pymatgen Structure.as_dict()).")
    layer: list[int] = Field(description="Layer per atom within its part; support layer 1 touches the film.")
    part: list[int] = Field(description="Part per atom: 0 support, 1 first film, 2 second film.")
    fixed_indices: list[int] = Field(description="Atoms held fixed.")
    bulk_sources: dict[str, str] = Field(description="Material -> uuid of the bulk relaxation it was cut from.")
    settings: dict[str, Any] = Field(description="Lattice-match and cell settings used.")

    _structures = field_validator("structure", mode="before")(structure_as_dict)


class ScanDoc(Document):
    """The lattice-match scan: best coincidence of each film facet on each support facet."""

    doc_type: Literal["lattice-scan"] = Field("lattice-scan", description="Document type, for queries.")
    rows: list[dict[str, Any]] = Field(description="One row per (support, film): area (null if none), strains, von Mises.")
    max_area_A2: float = Field(description="Largest area searched (Å²).")
    max_strain_percent: float = Field(description="Largest |strain| allowed (%).")
    lattices: str = Field(description="Which lattices: 'relaxed' (the bulks of bulk_sources) or 'experimental'.")
    bulk_sources: dict[str, str] = Field(default_factory=dict, description="Material -> uuid of its bulk relaxation.")
