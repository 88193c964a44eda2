"""Settings of the vacancy-migration barriers."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import Field, field_validator, model_validator

from spillover.sections.base import (
    BAND_STEPS,
    COUNT,
    CUTOFF,
    FMAX,
    IMAGES,
    LAYERS,
    MAPPING_TEXT,
    PRESET_NAME_PATTERN,
    SPRING,
    VACUUM,
    Bound,
    BoundedMapping,
    Distinct,
    Repeat,
    Section,
)


BarrierRegion = Literal[
    "rutile-bulk", "rutile-110", "anatase-bulk", "anatase-101", "interfacial-RuO2", "across-interface"
]
BARRIER_REGIONS: tuple[str, ...] = get_args(BarrierRegion)


class BarrierSettings(Section):
    """Vacancy-migration barriers: which regions, which hops, and the band settings."""

    regions: Annotated[list[BarrierRegion], Distinct] = Field(
        default_factory=lambda: list(BARRIER_REGIONS), min_length=1, max_length=len(BARRIER_REGIONS),
        description="Regions whose symmetry-distinct vacancy hops are computed.",
    )
    cutoff_A: float = CUTOFF.field(3.0, description=f"Longest O-O hop considered ({CUTOFF.text}).")
    supercell: dict[BarrierRegion, tuple[Repeat, Repeat, Repeat]] = Field(
        default_factory=dict,
        description="Repetition per region (bulk cell, or surface cell with 1 last; repeats 1..8); default: the "
        "smallest whose cell widths exceed 2 x cutoff_A.",
    )
    slab_layers: int = Bound(2, LAYERS.hi, integer=True).field(
        6, description="Layers of the r-TiO2(110) and a-TiO2(101) slabs.")
    hop_layers: int = Bound(2, LAYERS.hi, integer=True).field(
        5, description="Outer slab layers whose layer k+1 -> k hops are computed.")
    fixed_layers: int = Bound(0, LAYERS.hi - 1, integer=True).field(
        1, description="Bottom layers held fixed in slabs and interfaces.")
    vacuum: float = VACUUM.field(12.0, description=f"Vacuum of slab and interface hosts ({VACUUM.text}).")
    interface_support_layers: int = Bound(2, LAYERS.hi, integer=True).field(
        3, description="r-TiO2(110) layers under the interfacial RuO2.")
    max_hops: int | dict[BarrierRegion, int] | None = Field(
        None,
        description="Most hops per region, shortest first (in slab regions: per layer pair k+1 -> k); one number "
        "for every region or one per region (regions not named: all hops); null: all hops.",
    )
    n_images: int | None = IMAGES.field(None, description="Intermediate images; null: the preset's neb.n_images.")
    fmax: float | None = FMAX.field(None, description="Band force threshold (eV/Å); null: the preset's.")
    steps: int | None = BAND_STEPS.field(None, description="Most band optimizer steps; null: the preset's.")
    optimizer: Literal["FIRE", "BFGS", "LBFGS", "MDMin"] | None = Field(None, description="Band optimizer; null: the preset's.")
    spring_constant: float | None = SPRING.field(None, description="Spring constant (eV/Å²); null: the preset's.")
    relax_endpoints: bool = Field(
        True, strict=True, description="Relax both endpoints before the band (else single points).")
    dft_preset: str | None = Field(
        None, pattern=PRESET_NAME_PATTERN,
        description="Also run every hop at this preset (e.g. gpaw-production), starting from the band of "
        "the run's preset (the fidelity ladder).",
    )
    dft_preset_overrides: BoundedMapping = Field(
        default_factory=dict, json_schema_extra={"allowed": MAPPING_TEXT}, description="Overrides of dft_preset.")

    @field_validator("max_hops", mode="before")
    @classmethod
    def _check_max_hops(cls, value: object) -> object:
        allowed = (f"a whole number in {COUNT.text}, or a mapping of {', '.join(BARRIER_REGIONS)} to such numbers, "
                   "or null")
        if value is not None and not isinstance(value, (int, dict)) or isinstance(value, bool):
            raise ValueError(f"{value!r} is not a hop count (allowed: {allowed})")
        limits = value.items() if isinstance(value, dict) else [("", value)] if value is not None else []
        for region, limit in limits:
            if region and region not in BARRIER_REGIONS:
                raise ValueError(f"unknown region {region!r} (allowed: {allowed})")
            if not COUNT.contains(limit):
                raise ValueError(f"{limit!r} is not a hop count (allowed: {allowed})")
        return value

    @model_validator(mode="after")
    def _check(self) -> BarrierSettings:
        if self.hop_layers + self.fixed_layers > self.slab_layers:
            raise ValueError(
                f"hop_layers ({self.hop_layers}) + fixed_layers ({self.fixed_layers}) exceed slab_layers "
                f"({self.slab_layers}); the hopping layers must be free"
            )
        if self.fixed_layers >= self.interface_support_layers:
            raise ValueError("fixed_layers must be below interface_support_layers")
        return self
