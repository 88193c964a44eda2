"""The O chemical-potential profile: O binding energies along support -> interface -> Ru.

For every site of :mod:`spillover.build.mu_profile` the flow relaxes the host and the host with
(or without) the O at the same preset, bottom layers fixed, and one summary job per support records
which calculations belong together. The binding energies are computed by
:mod:`spillover.analysis.mu_profile` from the stored calculations, never stored as bare numbers.
The interface host of each support is its system's shared relaxed cell; the support slabs, bulk
supercells and Ru hosts are cut from the shared relaxed bulks (see :mod:`spillover.jobs.mu_profile`).
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
    from ase import Atoms

    from spillover.plan import Shared
    from spillover.study import Study

#: The system whose cell carries the interface region of each support, in order of preference:
#: like for like on both supports (the RuO2/Ru stack first).
INTERFACE_OF_SUPPORT = {
    support: (f"{support}/RuO2-110/Ru-0001", f"{support}/RuO2-110", f"{support}/Ru-0001")
    for support in ("rutile-110", "anatase-101")
}


@dataclass
class MuProfileMaker(Maker):
    """Hosts, sites and one summary per support of the O binding-energy profile.

    Parameters
    ----------
    name
        Flow name.
    relax_maker
        Relaxation of every host and site (preset, overrides, step limit).
    settings
        The study's ``mu_profile`` section.
    interfaces
        Support -> system whose cell carries its interface region.
    cell, limits
        The study's ``cell`` and ``lattice_match`` sections (to plan the interface sites on the CIF lattices).
    """

    name: str = "mu-profile"
    relax_maker: RelaxMaker = field(default_factory=RelaxMaker)
    settings: MuProfileSettings = field(default_factory=MuProfileSettings)
    interfaces: dict[str, SystemSpec] = field(default_factory=dict)
    cell: CellSettings = field(default_factory=CellSettings)
    limits: LatticeMatchSettings = field(default_factory=LatticeMatchSettings)

    @classmethod
    def from_study(cls, study: Study, preset: str, scratch: Path | None = None) -> MuProfileMaker:
        """The Maker of a study's profile; the interface region needs a system on each support."""
        settings = study.mu_profile
        labels = {s.label: s for s in study.systems}
        interfaces = {}
        if "interface" in settings.regions:
            for support in settings.supports:
                label = next((lab for lab in INTERFACE_OF_SUPPORT[support] if lab in labels), None)
                if label is None:
                    raise InputError("mu_profile.supports", f"the interface region of {support} needs one of the "
                                     f"systems {list(INTERFACE_OF_SUPPORT[support])} in the study")
                interfaces[support] = labels[label]
        relax = RelaxMaker(name="mu-profile relax", preset=preset, preset_overrides=dict(study.preset_overrides),
                           steps=settings.relax_steps)
        return cls(relax_maker=relax, settings=settings, interfaces=interfaces, cell=study.cell,
                   limits=study.lattice_match)

    def requires(self) -> Requirements:
        """The support bulks and Ru, the interface systems' relaxed cells and the O2 reference."""
        from spillover.build.mu_profile import SUPPORT_BULK

        regions = set(self.settings.regions)
        bulks = {SUPPORT_BULK[s] for s in self.settings.supports} | ({"Ru"} if regions & {"ru-bulk", "ru-surface"} else set())
        return Requirements(bulks=frozenset(bulks), relaxed_cells=tuple(s.label for s in self.interfaces.values()), o2=True)

    def preflight(self) -> None:
        """Hosts large enough for their defects, probed layers that exist (on the CIF lattices)."""
        from spillover.build.mu_profile import check_image_distance

        for kind, model, _ in self._planned_hosts():
            check_image_distance(model, kind)

    def _interface_model(self, spec: SystemSpec) -> Atoms:
        from spillover.jobs.cells import cell_atoms

        return cell_atoms(spec.support, spec.films, self.cell.model_dump(), self.limits.model_dump())[0]

    def _planned_hosts(self) -> list[tuple[str, Atoms, str | None]]:
        """(host kind, host built from the CIFs, support) of every host, Ru hosts once."""
        from spillover.build.bulk import load_bulk
        from spillover.build.mu_profile import SUPPORT_BULK, build_host

        settings, regions = self.settings.model_dump(), set(self.settings.regions)
        out = []
        for support in self.settings.supports:
            material = SUPPORT_BULK[support]
            if regions & {"support-surface", "support-bulk"}:
                out.append(("support-slab", build_host("support-slab", load_bulk(material), settings, support), support))
            if "support-bulk" in regions:
                for i in range(len(settings["bulk_supercells"][material])):
                    kind = f"bulk-supercell-{i}"
                    out.append((kind, build_host(kind, load_bulk(material), settings, support), support))
            if "interface" in regions:
                out.append(("interface", build_host("interface", self._interface_model(self.interfaces[support]), settings),
                            support))
        for region, kind in (("ru-bulk", "ru-supercell"), ("ru-surface", "ru-slab")):
            if region in regions:
                out.append((kind, build_host(kind, load_bulk("Ru"), settings), None))
        return out

    def make(self, shared: Shared) -> Flow:
        """Host and site jobs of every region, then one summary per support."""
        from spillover.build.mu_profile import SUPPORT_BULK, capped, check_image_distance, site_entries
        from spillover.jobs.mu_profile import cut_host, profile_summary, relax_site

        settings = self.settings.model_dump()
        preset, overrides = self.relax_maker.preset, dict(self.relax_maker.preset_overrides)
        jobs: list[Job] = []
        computed: dict[str, tuple[list[dict], dict[str, Any]]] = {}  # hosts shared by both supports (Ru): once

        def host_jobs(kind: str, model: Atoms, source: Any, name: str, support: str | None):
            check_image_distance(model, kind)
            cut = cut_host(kind, source, settings, support)
            cut.name = f"mu-profile host {name}"
            meta = {"mu_profile": {"support": support, "host": kind}}
            host_relax = RelaxMaker(name=f"mu-profile relax {name}", preset=preset, preset_overrides=overrides,
                                    steps=settings["relax_steps"]).make(cut.output["structure"], label=f"{name} host",
                                                                        kind="mu-profile", metadata=meta)
            jobs.extend([cut, host_relax])
            energies = {host_relax.uuid: host_relax.output.energy_eV}
            docs = []
            for ordinal, entry in enumerate(capped(site_entries(kind, model, settings), settings["max_sites_per_layer"])):
                site_name = f"bulk limit {name.rsplit(' ', 1)[-1]}" if kind.startswith("bulk-supercell") else entry["site"]
                defect = relax_site(host_relax.output.structure, cut.output["sites"], ordinal, entry, self.relax_maker,
                                    f"{name} {site_name}", {"mu_profile": {"support": support, "host": kind,
                                                                           "site": site_name}})
                defect.name = f"mu-profile {name} {site_name}"
                jobs.append(defect)
                energies[defect.uuid] = defect.output.energy_eV
                with_id, without_id = ((host_relax.uuid, defect.uuid) if entry["kind"] == "vacancy"
                                       else (defect.uuid, host_relax.uuid))
                docs.append({
                    "region": entry["region"], "site": site_name, "layer": entry["layer"], "kind": entry["kind"],
                    "host": kind, "with_job_id": with_id, "without_job_id": without_id,
                    "run_time_site": defect.output.metadata,  # the site as enumerated on the real host
                })
            return docs, energies

        by_support: dict[str, tuple[list[dict], dict[str, Any]]] = {s: ([], {}) for s in self.settings.supports}
        for kind, model, support in self._planned_hosts():
            if support is None:  # Ru hosts: computed once, shared by every support's profile
                name = f"Ru {'bulk' if kind == 'ru-supercell' else '(0001)'}"
                computed[kind] = host_jobs(kind, model, shared.bulks["Ru"].structure, name, None)
                continue
            material = SUPPORT_BULK[support]
            if kind == "interface":
                spec = self.interfaces[support]
                result = host_jobs(kind, model, shared.relaxed_cells[spec.label], spec.label, support)
            elif kind == "support-slab":
                result = host_jobs(kind, model, shared.bulks[material].structure, f"{support} slab", support)
            else:
                size = "x".join(map(str, settings["bulk_supercells"][material][int(kind.rsplit("-", 1)[1])]))
                result = host_jobs(kind, model, shared.bulks[material].structure, f"{material} bulk {size}", support)
            by_support[support][0].extend(result[0])
            by_support[support][1].update(result[1])
        for support, (site_docs, energies) in by_support.items():
            for result in computed.values():
                site_docs.extend(result[0])
                energies.update(result[1])
            summary = profile_summary(support, preset, shared.o2.uuid, shared.o2.energy_eV, site_docs, energies, settings)
            summary.name = f"mu-profile summary {support}"
            summary.config = JobConfig(on_missing_references=OnMissing.NONE)
            jobs.append(summary)
        return Flow(jobs, name=self.name)
