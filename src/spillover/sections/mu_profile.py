"""Settings of the O level along the path, the transfer energies and the verdict (docs/science.md, "Quantities")."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from spillover.sections.base import COUNT, LAYERS, VACUUM, Bound, Distinct, Repeat, Section, Temperature
from spillover.sections.funnel import FunnelSettings

#: Regions of the profile: occupied lattice O (support layers, interlayer RuO2), empty sites (interface,
#: between Ru layers, outer Ru surface), the deep bulk reference and the labelled bare-slab comparison.
ProfileRegion = Literal["support", "interlayer", "interface", "ru-interstitial", "ru-surface", "bulk-reference",
                        "bare-slab"]
DEFAULT_REGIONS = ["support", "interlayer", "interface", "ru-interstitial", "ru-surface", "bulk-reference"]
ENERGY_THRESHOLD = Bound(-10, 10, "eV")
TOLERANCE = Bound(0, 1, "eV")
PREFACTOR = Bound(1e6, 1e18, "/s", lo_open=True)
RATE = Bound(1e-12, 1e12, "/s", lo_open=True)
Layer = LAYERS.type()


class VerdictSettings(Section):
    """When a system shows the bulk-spillover signature (printed with every verdict)."""

    transfer_threshold_eV: float = ENERGY_THRESHOLD.field(
        0.3, description="The deep transfer dE(k -> j) must be at most this (eV).")
    tolerance_eV: float = TOLERANCE.field(
        0.05, description="Differences smaller than this are 'equal' (eV): no strict comparison of noisy numbers.")
    temperature_K: Temperature = Field(600.0, description="Temperature of the hop rate (K).")
    prefactor_per_s: float = PREFACTOR.field(1e13, description="Attempt frequency of a hop (1/s).")
    min_rate_per_s: float = RATE.field(1.0, description="Slowest hop rate that still counts as mobile (1/s).")
    deep_layers: Annotated[list[Layer], Distinct] = Field(
        default_factory=lambda: [3, 4, 5], min_length=1, max_length=20,
        description="Support layers (from the interface) whose transfer decides: the experiment's O comes from 3-5.")


class MuProfileSettings(Section):
    """The O level along support bulk -> support layers -> interface -> Ru, and the transfer energies."""

    systems: Annotated[list[str], Distinct] | None = Field(
        None, max_length=20,
        description="System labels to profile, each in its own relaxed cell; null: every system of the study whose "
        "outermost film is Ru-0001.",
    )
    regions: Annotated[list[ProfileRegion], Distinct] = Field(
        default_factory=lambda: list(DEFAULT_REGIONS), min_length=1, max_length=7,
        description="Regions to compute; 'bare-slab' (vacancies of a bare support slab) is a labelled comparison.",
    )
    support_layers_probed: int = LAYERS.field(
        5, description="L: support layers 1..L (from the interface) whose lattice O are vacated and moved.")
    funnel: FunnelSettings = Field(
        default_factory=FunnelSettings,
        description="Every symmetry-distinct site of a region and layer goes through this funnel (the oxidation "
        "analysis's n=1 funnels are the same calculations and are reused).")
    transfer_sites: int = COUNT.field(
        2, description="Best empty sites per region (interface, ru-interstitial) each layer's O is moved to.")
    bulk_supercells: dict[Literal["rutile", "anatase"],
                          Annotated[list[tuple[Repeat, Repeat, Repeat]], Field(min_length=1, max_length=2)]] = Field(
        default_factory=lambda: {"rutile": [(2, 2, 3), (3, 3, 4)], "anatase": [(2, 2, 1), (3, 3, 1)]},
        description="Supercells of the deep-bulk vacancy, two per bulk give the finite-size change; repeats 1..8.",
    )
    slab_layers: int = Bound(2, LAYERS.hi, integer=True).field(7, description="Layers of the bare support slab.")
    fixed_layers: int = Bound(0, LAYERS.hi - 1, integer=True).field(
        2, description="Bottom layers of the bare support slab held fixed.")
    vacuum: float = VACUUM.field(7.5, description=f"Vacuum on each side of the bare support slab, as ASE's ({VACUUM.text}).")
    verdict: VerdictSettings = Field(default_factory=VerdictSettings, description="Thresholds of the verdict.")

    @model_validator(mode="after")
    def _check(self) -> MuProfileSettings:
        if "bare-slab" in self.regions:
            if self.fixed_layers >= self.slab_layers:
                raise ValueError(f"fixed_layers ({self.fixed_layers}) must be below slab_layers ({self.slab_layers})")
            free = self.slab_layers - self.fixed_layers
            if self.support_layers_probed > free:
                raise ValueError(f"support_layers_probed = {self.support_layers_probed} is larger than the bare slab's "
                                 f"{free} free layers (allowed: 1..{free}; raise slab_layers)")
        for label in self.systems or []:
            if label.count("/") < 1:
                raise ValueError(f"{label!r} is not a system label ('support/film[/film]')")
        return self
