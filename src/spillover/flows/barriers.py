"""The barrier analysis: the O-vacancy hop network of each system's relaxed cell and its effective barriers.

For every chosen system one ``network_sites`` job (:mod:`spillover.jobs.hop_network`) starts from the
plan's relaxed cell; it adds the profile's vacancy funnels (shared with the mu-profile analysis by their
hash), the relaxations of the remaining nodes, and the network job that computes the bands the best
paths need.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from jobflow import Flow, JobConfig, Maker, OnMissing

from spillover.errors import InputError
from spillover.plan import Requirements
from spillover.sections.barriers import BarrierSettings
from spillover.sections.mu_profile import MuProfileSettings
from spillover.sections.systems import CellSettings, LatticeMatchSettings, SystemSpec

if TYPE_CHECKING:
    from spillover.plan import Shared
    from spillover.study import Study


@dataclass
class BarrierMaker(Maker):
    """One hop network per system.

    Parameters
    ----------
    name
        Flow name.
    preset, preset_overrides
        Preset of every calculation, and the study's overrides.
    settings
        The study's ``barriers`` section.
    profile
        The study's ``mu_profile`` section (the nodes: probed layers and their funnel).
    systems
        The systems whose network is computed.
    cell, limits
        The study's ``cell`` and ``lattice_match`` sections (to check the network before the run).
    checkpoint_dir
        Absolute directory of the band checkpoints (below the run's scratch base).
    """

    name: str = "barriers"
    preset: str = "screen"
    preset_overrides: dict = field(default_factory=dict)
    settings: BarrierSettings = field(default_factory=BarrierSettings)
    profile: MuProfileSettings = field(default_factory=MuProfileSettings)
    systems: tuple[SystemSpec, ...] = ()
    cell: CellSettings = field(default_factory=CellSettings)
    limits: LatticeMatchSettings = field(default_factory=LatticeMatchSettings)
    checkpoint_dir: str = ""

    @classmethod
    def from_study(cls, study: Study, preset: str, scratch: Path | None = None) -> BarrierMaker:
        """The Maker of a study's hop networks: the listed systems, or every one with an outer Ru-0001 film."""
        from spillover.flows.mu_profile import chosen_systems
        from spillover.jobs.barriers import checkpoint_root

        chosen = chosen_systems(study, study.barriers.systems, "barriers.systems")
        return cls(preset=preset, preset_overrides=dict(study.preset_overrides), settings=study.barriers,
                   profile=study.mu_profile, systems=tuple(chosen), cell=study.cell, limits=study.lattice_match,
                   checkpoint_dir=checkpoint_root(scratch))

    def requires(self) -> Requirements:
        """The relaxed cell of each system."""
        return Requirements(relaxed_cells=tuple(s.label for s in self.systems))

    def preflight(self) -> None:
        """Band settings that resolve, with an even number of images; a network in every cell (CIF lattices)."""
        from spillover.build.hop_network import cell_network
        from spillover.calculators import load_preset
        from spillover.jobs.cells import cell_atoms
        from spillover.jobs.hop_network import BAND_OVERRIDES

        band = {k: getattr(self.settings, k) for k in BAND_OVERRIDES if getattr(self.settings, k) is not None}
        overrides = self.preset_overrides
        preset = load_preset(self.preset, {**overrides, "neb": {**overrides.get("neb", {}), **band}})
        if preset.neb.n_images % 2:
            raise InputError("barriers.n_images", f"the preset's {preset.neb.n_images} images put the middle one on "
                             "the mirror plane of a symmetric hop", "an even number, e.g. 4 or 6")
        if self.settings.dft_preset:
            load_preset(self.settings.dft_preset, self.settings.dft_preset_overrides or None)
        for spec in self.systems:
            atoms, _ = cell_atoms(spec.support, spec.films, self.cell.model_dump(), self.limits.model_dump())
            cell_network(atoms, self.profile.support_layers_probed, self.settings.cutoff_A)

    def make(self, shared: Shared) -> Flow:
        """One ``network_sites`` job per system on its relaxed cell."""
        from spillover.jobs.hop_network import network_sites

        jobs = []
        for spec in self.systems:
            clean = shared.relaxed_cells[spec.label]
            gen = network_sites(clean, clean.uuid, spec.label, spec.support, self.preset, dict(self.preset_overrides),
                                self.profile.model_dump(), self.settings.model_dump(), self.checkpoint_dir)
            gen.name = f"hop-network sites {spec.label}"
            gen.config = JobConfig(on_missing_references=OnMissing.NONE)
            gen.update_metadata({"system": spec.label})
            jobs.append(gen)
        return Flow(jobs, name=self.name)
