"""The oxidation analysis: n extra O at the buried interface versus on the outer Ru surface of each system.

Every configuration starts from the system's shared relaxed cell (the plan's), and every energy
difference uses that cell's energy as E(clean) and the plan's O2 reference, so that interfacial and
surface O of one system share one electron reservoir and one strain state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobflow import Flow, Maker

from spillover.errors import InputError
from spillover.jobs.relax import RelaxMaker
from spillover.plan import Requirements
from spillover.sections.oxidation import OxidationSettings
from spillover.sections.systems import CellSettings, LatticeMatchSettings, OxygenSettings, SystemSpec

if TYPE_CHECKING:
    from spillover.plan import Shared
    from spillover.study import Study


@dataclass
class OxidationMaker(Maker):
    """Oxidation configurations of each Ru-terminated system, their relaxations and one summary each.

    Parameters
    ----------
    name
        Flow name.
    relax_maker
        Preset and overrides of every configuration's funnel.
    settings
        The study's ``oxidation`` section.
    systems
        The systems to oxidise (outer film Ru-0001).
    cell, limits, oxygen
        The study's ``cell``, ``lattice_match`` and ``oxygen`` sections (for the site counts checked before
        the run and for the O reference used).
    """

    name: str = "oxidation"
    relax_maker: RelaxMaker = field(default_factory=RelaxMaker)
    settings: OxidationSettings = field(default_factory=OxidationSettings)
    systems: tuple[SystemSpec, ...] = ()
    cell: CellSettings = field(default_factory=CellSettings)
    limits: LatticeMatchSettings = field(default_factory=LatticeMatchSettings)
    oxygen: OxygenSettings = field(default_factory=OxygenSettings)

    @classmethod
    def from_study(cls, study: Study, preset: str, scratch: Path | None = None) -> OxidationMaker:
        """The Maker of a study's oxidation analysis."""
        settings = study.oxidation
        chosen = [s for s in study.systems if s.films[-1] == "Ru-0001"
                  and (settings.systems is None or s.label in settings.systems)]
        if not chosen:
            raise InputError("oxidation.systems", "no system of the study has an outer Ru-0001 film",
                             "add e.g. {support: rutile-110, films: [Ru-0001]} to systems")
        relax = RelaxMaker(name="oxidation relax", preset=preset, preset_overrides=dict(study.preset_overrides))
        return cls(relax_maker=relax, settings=settings, systems=tuple(chosen), cell=study.cell,
                   limits=study.lattice_match, oxygen=study.oxygen)

    def requires(self) -> Requirements:
        """The relaxed cell of each system and the O2 reference."""
        return Requirements(relaxed_cells=tuple(s.label for s in self.systems), o2=True)

    def n_max(self, spec: SystemSpec) -> int:
        """The largest n of one system, checked against the sites of its cell built on the CIF lattices.

        Raises
        ------
        InputError
            ``oxidation.n_max`` is larger than what both placements hold (at most one full layer).
        """
        from spillover.build.oxidation import available_sites
        from spillover.jobs.cells import cell_atoms

        atoms, _ = cell_atoms(spec.support, spec.films, self.cell.model_dump(), self.limits.model_dump())
        avail = available_sites(atoms)
        limit = min(avail["full_layer"], avail["interface"], avail["surface"])
        n_max = self.settings.n_max
        if n_max == "full-layer":
            return limit
        if n_max > limit:
            raise InputError(
                "oxidation.n_max",
                f"{n_max} extra O atoms exceed the sites available on {spec.label} (full layer {avail['full_layer']}, "
                f"interface holds {avail['interface']}, surface {avail['surface']})",
                f"1..{limit} or 'full-layer'",
            )
        return int(n_max)

    def preflight(self) -> None:
        """Every system holds ``n_max`` O at both placements."""
        for spec in self.systems:
            self.n_max(spec)

    def job_settings(self, spec: SystemSpec) -> dict[str, Any]:
        """The settings the configuration and summary jobs of one system receive."""
        return {**self.settings.model_dump(), "use_o2_correction": self.oxygen.correction,
                "compute_o2_frequency": self.oxygen.vibrations, "n_max_resolved": self.n_max(spec)}

    def make(self, shared: Shared) -> Flow:
        """One configuration job per system, on its relaxed cell, with the shared O2 reference."""
        from spillover.jobs.oxidation import _tolerate_missing, oxidation_configurations

        relax = self.relax_maker
        jobs = []
        for spec in self.systems:
            clean = shared.relaxed_cells[spec.label]
            corr, vib = shared.o2_correction, shared.o2_vibration
            gen = oxidation_configurations(
                clean, clean.uuid, shared.o2, shared.o2.uuid,
                corr, corr.uuid if corr is not None else None, vib, vib.uuid if vib is not None else None,
                spec.support, list(spec.films), relax.preset, dict(relax.preset_overrides), self.job_settings(spec),
            )
            gen.name = f"oxidation sites {spec.label}"
            gen.config = _tolerate_missing()
            gen.update_metadata({"system": spec.label})
            jobs.append(gen)
        return Flow(jobs, name=self.name)
