"""Settings of the O chemical-potential profile."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from spillover.sections.base import COUNT, LAYERS, VACUUM, Bound, Distinct, Repeat, Section, StepLimit
from spillover.sections.systems import SupportName


ProfileRegion = Literal["support-surface", "support-bulk", "interface", "ru-bulk", "ru-surface"]


class MuProfileSettings(Section):
    """The O chemical-potential profile: O binding energy from the support surface into Ru."""

    supports: Annotated[list[SupportName], Distinct] = Field(
        default_factory=lambda: ["rutile-110", "anatase-101"], min_length=1, max_length=2,
        description="Supports to profile.",
    )
    regions: Annotated[list[ProfileRegion], Distinct] = Field(
        default_factory=lambda: ["support-surface", "support-bulk", "interface", "ru-bulk", "ru-surface"],
        min_length=1, max_length=5, description="Regions to compute.",
    )
    slab_layers: int = Bound(2, LAYERS.hi, integer=True).field(7, description="Layers of the bare support slab.")
    support_layers_probed: int = LAYERS.field(5, description="L: O layers probed from the support surface down.")
    fixed_layers: int = Bound(0, LAYERS.hi - 1, integer=True).field(
        2, description="Bottom layers of the support slab held fixed.")
    vacuum: float = VACUUM.field(12.0, description=f"Vacuum of the profile slabs ({VACUUM.text}).")
    bulk_supercells: dict[Literal["rutile", "anatase"],
                          Annotated[list[tuple[Repeat, Repeat, Repeat]], Field(min_length=1, max_length=2)]] = Field(
        default_factory=lambda: {"rutile": [(2, 2, 3), (3, 3, 4)], "anatase": [(2, 2, 1), (3, 3, 1)]},
        description="Supercells of the deep-bulk vacancy, one or two per bulk (two give the finite-size change); "
        "repeats 1..8.",
    )
    ru_supercell: tuple[Repeat, Repeat, Repeat] = Field(
        (2, 2, 2), description="hcp Ru supercell for interstitial O (repeats 1..8).")
    ru_surface_repeat: tuple[Repeat, Repeat] = Field(
        (2, 2), description="Ru(0001) surface cell (repeats 1..8); (2, 2) is 0.25 ML.")
    ru_surface_layers: int = Bound(2, LAYERS.hi, integer=True).field(4, description="Layers of the Ru(0001) slab.")
    max_sites_per_layer: int | None = COUNT.field(
        None, description="Cap on the symmetry-distinct sites computed per layer (per part and layer at interfaces)."
    )
    relax_steps: StepLimit | None = Field(None, description="Most optimizer steps per relaxation; null: the preset's.")

    @model_validator(mode="after")
    def _check(self) -> MuProfileSettings:
        if self.fixed_layers >= self.slab_layers:
            raise ValueError(f"fixed_layers ({self.fixed_layers}) must be below slab_layers ({self.slab_layers})")
        free = self.slab_layers - self.fixed_layers
        if self.support_layers_probed > free:
            raise ValueError(
                f"support_layers_probed = {self.support_layers_probed} is larger than the slab's {free} free layers "
                f"(allowed: 1..{free}; raise slab_layers)"
            )
        for bulk, sizes in self.bulk_supercells.items():
            if not 1 <= len(sizes) <= 2:
                raise ValueError(f"bulk_supercells.{bulk}: one or two supercells of positive repeats")
        if self.ru_surface_repeat[0] * self.ru_surface_repeat[1] < 4:
            raise ValueError(f"ru_surface_repeat {list(self.ru_surface_repeat)} is too small for 0.25 ML (allowed: 2x2 or larger)")
        return self
