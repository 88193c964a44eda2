"""Settings of the oxidation analysis: n extra O at the buried interface versus on the outer Ru surface."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator

from spillover.sections.base import Distinct, Pressure, Section, Temperature
from spillover.sections.funnel import FunnelSettings


class OxidationSettings(Section):
    """Which systems are oxidised, how many O, on which (T, p) grid."""

    systems: Annotated[list[str], Distinct] | None = Field(
        None, max_length=20,
        description="System labels ('support/film[/film]') to oxidise; null: every system of the study whose outermost "
        "film is Ru-0001.",
    )
    n_max: int | str = Field(
        "full-layer",
        description="Largest number of extra O atoms, or 'full-layer' (one O per Ru of the contact layer, capped at "
        "what both placements hold).",
    )
    funnel: FunnelSettings = Field(
        default_factory=FunnelSettings,
        description="Every symmetry-distinct configuration of each placement and n goes through this funnel.",
    )
    temperatures_K: list[Temperature] = Field(
        default_factory=lambda: [300.0, 500.0, 700.0, 900.0], min_length=1, max_length=100,
        description="Temperatures of the (T, p) grid (K).",
    )
    pressures_bar: list[Pressure] = Field(
        default_factory=lambda: [1e-10, 1e-5, 1.0], min_length=1, max_length=100,
        description="O2 pressures of the (T, p) grid (bar).",
    )

    @field_validator("n_max", mode="before")
    @classmethod
    def _n_max(cls, value: object) -> object:
        if isinstance(value, str) and value == "full-layer":
            return value
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100:
            raise ValueError(f"{value!r} is not a number of O atoms (allowed: an integer in 1..100, or 'full-layer')")
        return value

    @field_validator("systems")
    @classmethod
    def _labels(cls, value: list[str] | None) -> list[str] | None:
        for label in value or []:
            if not label.endswith("/Ru-0001"):
                raise ValueError(f"{label!r} has no outer Ru-0001 film to oxidise")
        return value
