"""The O level along the path and the transfer energies of each system, in the system's own relaxed cell.

For every chosen system one ``profile_sites`` job (:mod:`spillover.jobs.mu_profile`) starts from the
plan's relaxed cell and adds a funnel per region and layer, the transfer job and a summary. The deep
reference (a vacancy in bulk supercells of the support, two sizes) and the bare-slab comparison are
shared by the systems of one support. E_b and dE are computed by :mod:`spillover.analysis.mu_profile`
from the stored calculations, never stored as bare numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobflow import Flow, Job, JobConfig, Maker, OnMissing

from spillover.errors import InputError
from spillover.jobs.relax import RelaxMaker
from spillover.plan import Requirements
from spillover.sections.mu_profile import MuProfileSettings
from spillover.sections.systems import CellSettings, LatticeMatchSettings, SystemSpec

if TYPE_CHECKING:
    from spillover.plan import Shared
    from spillover.study import Study


def chosen_systems(study: Study, labels: list[str] | None, field: str) -> list[SystemSpec]:
    """The study's systems named by ``labels``; None: every system whose outermost film is Ru-0001.

    Raises
    ------
    InputError
        A label that is not a system of the study, or no system to choose.
    """
    known = {s.label: s for s in study.systems}
    if labels is None:
        chosen = [s for s in study.systems if s.films[-1] == "Ru-0001"]
    else:
        unknown = [lab for lab in labels if lab not in known]
        if unknown:
            raise InputError(field, f"{unknown[0]!r} is not a system of the study", ", ".join(known))
        chosen = [known[lab] for lab in labels]
    if not chosen:
        raise InputError(field, "no system of the study has an outer Ru-0001 film", "list the systems")
    return chosen


@dataclass
class MuProfileMaker(Maker):
    """Funnels, transfers and a summary per system; bulk-reference and bare-slab vacancies per support.

    Parameters
    ----------
    name
        Flow name.
    relax_maker
        Preset and overrides of every relaxation.
    settings
        The study's ``mu_profile`` section.
    systems
        The systems to profile.
    cell, limits
        The study's ``cell`` and ``lattice_match`` sections (to check the sites before the run).
    """

    name: str = "mu-profile"
    relax_maker: RelaxMaker = field(default_factory=RelaxMaker)
    settings: MuProfileSettings = field(default_factory=MuProfileSettings)
    systems: tuple[SystemSpec, ...] = ()
    cell: CellSettings = field(default_factory=CellSettings)
    limits: LatticeMatchSettings = field(default_factory=LatticeMatchSettings)

    @classmethod
    def from_study(cls, study: Study, preset: str, scratch: Path | None = None) -> MuProfileMaker:
        """The Maker of a study's profile: the listed systems, or every one with an outer Ru-0001 film."""
        settings = study.mu_profile
        chosen = chosen_systems(study, settings.systems, "mu_profile.systems")
        relax = RelaxMaker(name="mu-profile relax", preset=preset, preset_overrides=dict(study.preset_overrides))
        return cls(relax_maker=relax, settings=settings, systems=tuple(chosen), cell=study.cell,
                   limits=study.lattice_match)

    def _supports(self) -> list[str]:
        return list(dict.fromkeys(s.support for s in self.systems))

    def requires(self) -> Requirements:
        """The relaxed cell of each system, the support bulks (references) and the O2 reference."""
        from spillover.build.mu_profile import SUPPORT_BULK

        hosts = set(self.settings.regions) & {"bulk-reference", "bare-slab"}
        bulks = frozenset(SUPPORT_BULK[s] for s in self._supports()) if hosts else frozenset()
        return Requirements(bulks=bulks, relaxed_cells=tuple(s.label for s in self.systems), o2=True)

    def preflight(self) -> None:
        """Probed layers that exist and are free in every cell (CIF lattices); hosts large enough."""
        from spillover.build.bulk import load_bulk
        from spillover.build.mu_profile import SUPPORT_BULK, build_host, cell_vacancy_sites, check_image_distance
        from spillover.jobs.cells import cell_atoms

        for spec in self.systems:
            atoms, _ = cell_atoms(spec.support, spec.films, self.cell.model_dump(), self.limits.model_dump())
            cell_vacancy_sites(atoms, self.settings.support_layers_probed)
        for kind, support, _ in self._host_kinds():
            check_image_distance(build_host(kind, load_bulk(SUPPORT_BULK[support]), self.settings.model_dump(), support),
                                 kind)

    def _host_kinds(self) -> list[tuple[str, str, str]]:
        """(host kind, support, name) of every bulk-reference and bare-slab host."""
        from spillover.build.mu_profile import SUPPORT_BULK

        regions, out = set(self.settings.regions), []
        for support in self._supports():
            material = SUPPORT_BULK[support]
            if "bulk-reference" in regions:
                for i, size in enumerate(self.settings.bulk_supercells[material]):
                    out.append((f"bulk-supercell-{i}", support, f"bulk {'x'.join(map(str, size))}"))
            if "bare-slab" in regions:
                out.append(("support-slab", support, f"{support} bare slab"))
        return out

    def _host_jobs(self, shared: Shared) -> tuple[list[Job], dict[str, list[dict[str, Any]]]]:
        """Host and vacancy jobs of the bulk references and bare slabs, and their entries per support."""
        from spillover.build.bulk import load_bulk
        from spillover.build.mu_profile import SUPPORT_BULK, build_host, image_distance, site_entries
        from spillover.jobs.mu_profile import cut_host, relax_site

        settings = self.settings.model_dump()
        preset, overrides = self.relax_maker.preset, dict(self.relax_maker.preset_overrides)
        jobs: list[Job] = []
        entries: dict[str, list[dict[str, Any]]] = {s: [] for s in self._supports()}
        for kind, support, name in self._host_kinds():
            material = SUPPORT_BULK[support]
            planned_host = build_host(kind, load_bulk(material), settings, support)
            cut = cut_host(kind, shared.bulks[material].structure, settings, support, name)
            cut.name = f"mu-profile host {material} {name}"
            meta = {"mu_profile": {"support": support, "host": kind}}
            host = RelaxMaker(name=f"mu-profile relax {name}", preset=preset, preset_overrides=overrides).make(
                cut.output["structure"], label=f"{material} {name} host", kind="mu-profile", metadata=meta)
            jobs += [cut, host]
            distance = image_distance(planned_host, 2 if kind == "support-slab" else 3)
            for ordinal, entry in enumerate(site_entries(kind, planned_host, settings, name)):
                region = "bulk-reference" if kind.startswith("bulk") else "bare-slab"
                what = f"{material} {name} vacancy" if region == "bulk-reference" else f"{material} {name} {entry['site']}"
                site = relax_site(host.output.structure, cut.output["sites"], ordinal, entry, self.relax_maker, what,
                                  {"mu_profile": {**meta["mu_profile"], "site": entry["site"]}})
                site.name = f"mu-profile {what}"
                jobs.append(site)
                entries[support].append({
                    "region": region, "site": entry["site"], "layer": entry["layer"],
                    "multiplicity": len(entry["equivalent"]), "image_distance_A": distance,
                    "with_job_id": host.uuid, "without_job_id": site.uuid,
                    "with_energy": host.output.energy_eV, "without_energy": site.output.energy_eV,
                })
        return jobs, entries

    def make(self, shared: Shared) -> Flow:
        """The host jobs, then one ``profile_sites`` job per system on its relaxed cell."""
        from spillover.jobs.mu_profile import profile_sites

        jobs, hosts = self._host_jobs(shared)
        settings = self.settings.model_dump()
        for spec in self.systems:
            clean = shared.relaxed_cells[spec.label]
            gen = profile_sites(clean, clean.uuid, shared.o2.uuid, spec.label, spec.support, self.relax_maker.preset,
                                dict(self.relax_maker.preset_overrides), settings, hosts[spec.support])
            gen.name = f"mu-profile sites {spec.label}"
            gen.config = JobConfig(on_missing_references=OnMissing.NONE)
            gen.update_metadata({"system": spec.label})
            jobs.append(gen)
        return Flow(jobs, name=self.name)
