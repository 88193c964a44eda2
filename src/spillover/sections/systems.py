"""The systems of a study and the cell every analysis of a system shares."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from spillover.sections.base import AREA, GAP, LAYERS, SEARCH_MAX, SEARCH_TEXT, STRAIN, VACUUM, Bound, Section

SupportName = Literal["rutile-110", "anatase-101"]
FilmName = Literal["Ru-0001", "RuO2-110"]
#: Film sequences (support side first) each support accepts; see spillover.build.interfaces.SUPPORTED.
FILM_SEQUENCES: tuple[tuple[str, ...], ...] = (("Ru-0001",), ("RuO2-110",), ("RuO2-110", "Ru-0001"))
#: The bulk each facet is cut from.
FACET_BULK = {"rutile-110": "rutile", "anatase-101": "anatase", "Ru-0001": "Ru", "RuO2-110": "RuO2"}


class SystemSpec(Section):
    """One system: a support and its films from the support outwards."""

    support: SupportName = Field(description="Support facet.")
    films: list[FilmName] = Field(min_length=1, max_length=2, description="Films, support side first.")

    @model_validator(mode="after")
    def _allowed_sequence(self) -> SystemSpec:
        if tuple(self.films) not in FILM_SEQUENCES:
            names = "; ".join("[" + ", ".join(f) + "]" for f in FILM_SEQUENCES)
            raise ValueError(f"films {self.films} not available (allowed: {names})")
        return self

    @property
    def label(self) -> str:
        """``support/film[/film]``, the system's name in every document and table."""
        return "/".join([self.support, *self.films])

    @property
    def bulks(self) -> set[str]:
        """The bulks its parts are cut from."""
        return {FACET_BULK[f] for f in (self.support, *self.films)}


class LatticeMatchSettings(Section):
    """Search limits of the lattice match (pymatgen ZSL), for the system cells and the scan."""

    max_area_A2: float = AREA.field(120.0, description=f"Largest in-plane area of a coincidence cell ({AREA.text}).")
    max_strain_percent: float = STRAIN.field(
        6.0, description=f"Largest |strain| along either cell vector ({STRAIN.text}).")

    @model_validator(mode="after")
    def _search(self) -> LatticeMatchSettings:
        if self.max_area_A2 * self.max_strain_percent > SEARCH_MAX:
            raise ValueError(f"max_area_A2 x max_strain_percent = {self.max_area_A2:g} x {self.max_strain_percent:g} "
                             f"is too large a lattice search (allowed: {SEARCH_TEXT})")
        return self


class CellSettings(Section):
    """Sizes of the system cells (the one relaxed interface cell per system that every analysis uses)."""

    support_layers: int = Bound(2, LAYERS.hi, integer=True).field(
        7, description="Support layers: O-Ti2O2-O trilayers of r-TiO2(110), Ti2O4 layers of a-TiO2(101) "
        "(3.25 and 3.52 Å thick).",
    )
    fixed_layers: int = Bound(0, LAYERS.hi - 1, integer=True).field(2, description="Bottom support layers held fixed.")
    film_layers: dict[FilmName, LAYERS.type()] = Field(  # type: ignore[valid-type]
        default_factory=lambda: {"Ru-0001": 4, "RuO2-110": 1}, description=f"Layers per film ({LAYERS.text}; Ru: "
        "atomic layers; RuO2: trilayers).",
    )
    vacuum: float = VACUUM.field(7.5, description=f"Vacuum on each side of the cell, as ASE's: the outermost film "
                                                 f"and the support's bottom are twice this apart ({VACUUM.text}).")
    gap: float | None = GAP.field(
        None, description="Distance between parts (Å); null: lattice continuation for epitaxial RuO2, 2 Å "
        "otherwise.",
    )

    @model_validator(mode="after")
    def _check(self) -> CellSettings:
        if self.fixed_layers >= self.support_layers:
            raise ValueError(f"fixed_layers ({self.fixed_layers}) must be below support_layers ({self.support_layers})")
        return self

    def layers_of(self, film: str) -> int:
        """Layers of ``film`` (1 where the study does not say)."""
        return int(self.film_layers.get(film, 1))


class OxygenSettings(Section):
    """The O2 reference shared by every analysis that needs mu_O."""

    box_A: float = Bound(8, 40, "Å").field(12.0, description="Edge of the box around the O2 molecule (Å).")
    correction: bool = Field(
        True, strict=True, description="Fit one shift per O atom to the experimental formation enthalpies of TiO2 "
        "and RuO2 (relaxes Ti and the oxides); analyses that use mu_O then use it.",
    )
    fit_on: list[Literal["rutile", "anatase", "RuO2"]] | None = Field(
        None, min_length=1,
        description="Oxides the O2 shift is fitted on; null: all three. [RuO2] for Ru-O quantities, and with "
        "Hubbard U on Ti (the Ti metal reference has no d-shell correction to match); the others then "
        "report their residuals only.",
    )
    vibrations: bool = Field(
        False, strict=True,
        description="Compute the O2 stretch with ase.vibrations at the preset (else the experimental value).",
    )
