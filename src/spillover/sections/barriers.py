"""Settings of the vacancy-migration barriers."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field, field_validator, model_validator

from spillover.sections.base import Section


BarrierRegion = Literal[
    "rutile-bulk", "rutile-110", "anatase-bulk", "anatase-101", "interfacial-RuO2", "across-interface"
]
BARRIER_REGIONS: tuple[str, ...] = get_args(BarrierRegion)


class BarrierSettings(Section):
    """Vacancy-migration barriers: which regions, which hops, and the band settings."""

    regions: list[BarrierRegion] = Field(
        default_factory=lambda: list(BARRIER_REGIONS), min_length=1,
        description="Regions whose symmetry-distinct vacancy hops are computed.",
    )
    cutoff_A: float = Field(3.0, gt=0, le=6.0, description="Longest O-O hop considered (Å).")
    supercell: dict[BarrierRegion, tuple[int, int, int]] = Field(
        default_factory=dict,
        description="Repetition per region (bulk cell, or surface cell with 1 last); default: the smallest "
        "whose cell widths exceed 2 x cutoff_A.",
    )
    slab_layers: int = Field(6, ge=2, le=20, description="Layers of the r-TiO2(110) and a-TiO2(101) slabs.")
    hop_layers: int = Field(5, ge=2, le=20, description="Outer slab layers whose layer k+1 -> k hops are computed.")
    fixed_layers: int = Field(1, ge=0, le=19, description="Bottom layers held fixed in slabs and interfaces.")
    vacuum: float = Field(12.0, gt=0, le=100, description="Vacuum of slab and interface hosts (Å).")
    interface_support_layers: int = Field(3, ge=2, le=20, description="r-TiO2(110) layers under the interfacial RuO2.")
    max_hops: int | dict[BarrierRegion, int] | None = Field(
        None,
        description="Most hops per region, shortest first (in slab regions: per layer pair k+1 -> k); one number "
        "for every region or one per region (regions not named: all hops); null: all hops.",
    )
    n_images: int | None = Field(None, ge=1, le=64, description="Intermediate images; null: the preset's neb.n_images.")
    fmax: float | None = Field(None, gt=0, le=10, description="Band force threshold (eV/Å); null: the preset's.")
    steps: int | None = Field(None, ge=0, le=100_000, description="Most band optimizer steps; null: the preset's.")
    optimizer: Literal["FIRE", "BFGS", "LBFGS", "MDMin"] | None = Field(None, description="Band optimizer; null: the preset's.")
    spring_constant: float | None = Field(None, gt=0, le=100, description="Spring constant (eV/Å²); null: the preset's.")
    relax_endpoints: bool = Field(True, description="Relax both endpoints before the band (else single points).")
    dft_preset: str | None = Field(
        None, description="Also run every hop at this preset (e.g. gpaw-production), starting from the band of "
        "the run's preset (the fidelity ladder).",
    )
    dft_preset_overrides: dict = Field(default_factory=dict, description="Overrides of dft_preset.")

    @field_validator("max_hops", mode="before")
    @classmethod
    def _check_max_hops(cls, value: object) -> object:
        allowed = f"a whole number >= 1, or a mapping of {', '.join(BARRIER_REGIONS)} to such numbers, or null"
        limits = value.items() if isinstance(value, dict) else [("", value)] if value is not None else []
        for region, limit in limits:
            if region and region not in BARRIER_REGIONS:
                raise ValueError(f"unknown region {region!r} (allowed: {allowed})")
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
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
        for region, rep in self.supercell.items():
            if min(rep) < 1:
                raise ValueError(f"supercell.{region}: repeats must be >= 1")
        return self
