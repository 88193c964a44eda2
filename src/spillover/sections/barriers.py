"""Settings of the vacancy-hop network and its bands (docs/science.md, "Vacancy migration")."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from spillover.sections.base import (
    BAND_STEPS,
    CUTOFF,
    FMAX,
    IMAGES,
    MAPPING_TEXT,
    PRESET_NAME_PATTERN,
    SPLIT,
    SPRING,
    BoundedMapping,
    Distinct,
    Section,
)


class BarrierSettings(Section):
    """The vacancy-hop network of each system's cell: which systems, which hops, and the band settings.

    Nodes are the profile's vacancy sites (``mu_profile.support_layers_probed`` and ``mu_profile.funnel``
    decide them, so both analyses share their relaxed vacancies).
    """

    systems: Annotated[list[str], Distinct] | None = Field(
        None, max_length=20,
        description="System labels whose network is computed, each in its own relaxed cell; null: every system of "
        "the study whose outermost film is Ru-0001.",
    )
    cutoff_A: float = CUTOFF.field(3.0, description=f"Longest O-O hop of the network ({CUTOFF.text}).")
    lazy: bool = Field(
        True, strict=True,
        description="Compute a hop's band only while it could lie on a best path (its lower bound, the higher "
        "endpoint vacancy energy, is below the best path found so far); false: every hop of the network.",
    )
    n_images: int | None = IMAGES.field(
        None, description="Intermediate images, an even number (no image on the mirror plane of a symmetric hop); "
        "null: the preset's neb.n_images.")
    fmax: float | None = FMAX.field(None, description="Band force threshold (eV/Å); null: the preset's.")
    steps: int | None = BAND_STEPS.field(None, description="Most band optimizer steps; null: the preset's.")
    optimizer: Literal["FIRE", "BFGS", "LBFGS", "MDMin"] | None = Field(None, description="Band optimizer; null: the preset's.")
    spring_constant: float | None = SPRING.field(None, description="Spring constant (eV/Å²); null: the preset's.")
    split_below_eV: float | None = SPLIT.field(
        None,
        description="A band whose lowest intermediate image lies more than this below both its ends holds a state "
        "of its own: it is relaxed and a band is computed from each end to it, which then give the hop's saddle "
        "(eV, e.g. 0.05); null (the default: at screen it split 1 of 12 bands and changed no E_eff): never split.",
    )
    dft_preset: str | None = Field(
        None, pattern=PRESET_NAME_PATTERN,
        description="Also run every hop on a best path at this preset (e.g. gpaw-production), starting from its "
        "band at the run's preset (the fidelity ladder).",
    )
    dft_preset_overrides: BoundedMapping = Field(
        default_factory=dict, json_schema_extra={"allowed": MAPPING_TEXT}, description="Overrides of dft_preset.")

    @field_validator("n_images")
    @classmethod
    def _even(cls, value: int | None) -> int | None:
        if value is not None and value % 2:
            raise ValueError(f"{value} images put the middle one on the mirror plane of a symmetric hop "
                             "(allowed: an even number, e.g. 4 or 6)")
        return value

    @model_validator(mode="after")
    def _check(self) -> BarrierSettings:
        for label in self.systems or []:
            if label.count("/") < 1:
                raise ValueError(f"systems: {label!r} is not a system label (allowed: support/film[/film], e.g. "
                                 "'rutile-110/Ru-0001')")
        return self
