"""The barrier analysis: climbing-image NEB of every symmetry-distinct O-vacancy hop of each region."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from jobflow import Flow, Maker

from spillover.plan import Requirements
from spillover.sections.barriers import BarrierSettings
from spillover.sections.systems import LatticeMatchSettings

if TYPE_CHECKING:
    from spillover.plan import Shared
    from spillover.study import Study


@dataclass
class BarrierMaker(Maker):
    """One hop-enumeration job per region; each adds the NEB jobs of its hops.

    Parameters
    ----------
    name
        Flow name.
    preset, preset_overrides
        Preset of the first band of every hop, and the study's overrides.
    settings
        The study's ``barriers`` section.
    limits
        The study's lattice-match limits (the RuO2/r-TiO2 host of the interface regions).
    checkpoint_dir
        Absolute directory of the band checkpoints (below the run's scratch base).
    """

    name: str = "barriers"
    preset: str = "screen"
    preset_overrides: dict = field(default_factory=dict)
    settings: BarrierSettings = field(default_factory=BarrierSettings)
    limits: LatticeMatchSettings = field(default_factory=LatticeMatchSettings)
    checkpoint_dir: str = ""

    @classmethod
    def from_study(cls, study: Study, preset: str, scratch: Path | None = None) -> BarrierMaker:
        """The Maker of a study's barrier analysis."""
        from spillover.jobs.barriers import checkpoint_root

        return cls(preset=preset, preset_overrides=dict(study.preset_overrides), settings=study.barriers,
                   limits=study.lattice_match, checkpoint_dir=checkpoint_root(scratch))

    def requires(self) -> Requirements:
        """The bulks every region's host is cut from."""
        from spillover.build.barriers import REGIONS

        return Requirements(bulks=frozenset(b for r in self.settings.regions for b in REGIONS[r]["bulks"]))

    def preflight(self) -> None:
        """The band settings resolve at the run's preset (and at the DFT preset of the ladder)."""
        from spillover.calculators import load_preset
        from spillover.jobs.barriers import BAND_OVERRIDES

        band = {k: getattr(self.settings, k) for k in BAND_OVERRIDES if getattr(self.settings, k) is not None}
        overrides = self.preset_overrides
        load_preset(self.preset, {**overrides, "neb": {**overrides.get("neb", {}), **band}})
        if self.settings.dft_preset:
            load_preset(self.settings.dft_preset, self.settings.dft_preset_overrides or None)

    def make(self, shared: Shared) -> Flow:
        """One ``region_barriers`` job per region, fed by the shared relaxed bulks."""
        from spillover.build.barriers import REGIONS
        from spillover.jobs.barriers import region_barriers

        settings = self.settings.model_dump()
        jobs = []
        for region in self.settings.regions:
            names = REGIONS[region]["bulks"]
            new = region_barriers(region, {m: shared.bulks[m].structure for m in names},
                                  {m: shared.bulks[m].uuid for m in names}, self.preset, self.preset_overrides,
                                  settings, self.limits.model_dump(), self.checkpoint_dir)
            new.name = f"hops {region}"
            jobs.append(new)
        return Flow(jobs, name=self.name)
