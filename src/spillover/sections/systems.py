"""The systems of a study and the cell every analysis of a system shares."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from spillover.sections.base import Section

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

    max_area_A2: float = Field(120.0, gt=0, le=1000, description="Largest in-plane area of a coincidence cell (Å²).")
    max_strain_percent: float = Field(6.0, gt=0, le=20, description="Largest |strain| along either cell vector (%).")


class CellSettings(Section):
    """Sizes of the system cells (the one relaxed interface cell per system that every analysis uses)."""

    support_layers: int = Field(
        7, ge=2, le=20, description="Support layers: O-Ti2O2-O trilayers of r-TiO2(110), Ti2O4 layers of a-TiO2(101) "
        "(3.25 and 3.52 Å thick).",
    )
    fixed_layers: int = Field(2, ge=0, le=19, description="Bottom support layers held fixed.")
    film_layers: dict[FilmName, int] = Field(
        default_factory=lambda: {"Ru-0001": 4, "RuO2-110": 1}, description="Layers per film (Ru: atomic layers; "
        "RuO2: trilayers).",
    )
    vacuum: float = Field(15.0, gt=0, le=100, description="Vacuum above the outermost film (Å).")
    gap: float | None = Field(
        None, gt=0, le=10, description="Distance between parts (Å); null: lattice continuation for epitaxial RuO2, 2 Å "
        "otherwise.",
    )

    @model_validator(mode="after")
    def _check(self) -> CellSettings:
        if self.fixed_layers >= self.support_layers:
            raise ValueError(f"fixed_layers ({self.fixed_layers}) must be below support_layers ({self.support_layers})")
        for film, n in self.film_layers.items():
            if not 1 <= n <= 20:
                raise ValueError(f"film_layers.{film} must be in 1..20, got {n}")
        return self

    def layers_of(self, film: str) -> int:
        """Layers of ``film`` (1 where the study does not say)."""
        return int(self.film_layers.get(film, 1))


class OxygenSettings(Section):
    """The O2 reference shared by every analysis that needs mu_O."""

    box_A: float = Field(12.0, ge=8.0, le=40.0, description="Edge of the box around the O2 molecule (Å).")
    correction: bool = Field(
        True, description="Fit one shift per O atom to the experimental formation enthalpies of TiO2 and RuO2 (relaxes "
        "Ti and the oxides); analyses that use mu_O then use it.",
    )
    vibrations: bool = Field(
        False, description="Compute the O2 stretch with ase.vibrations at the preset (else the experimental value)."
    )
