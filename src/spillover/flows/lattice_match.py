"""The lattice-match analysis: every system's cell built (shared), and the scan of facets over supports."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from jobflow import Flow, Maker

from spillover.plan import Requirements
from spillover.sections.lattice_match import LatticeScanSettings
from spillover.sections.systems import LatticeMatchSettings

if TYPE_CHECKING:
    from spillover.plan import Shared
    from spillover.study import Study

@dataclass
class LatticeMatchMaker(Maker):
    """Build every system's cell (the table ``lattice-match``) and scan facets (the table ``lattice-scan``).

    Parameters
    ----------
    name
        Flow name.
    systems
        Labels of the systems whose cells the table lists.
    scan
        Facets of the scan.
    limits
        The study's lattice-match limits.
    """

    name: str = "lattice-match"
    systems: tuple[str, ...] = ()
    scan: LatticeScanSettings = field(default_factory=LatticeScanSettings)
    limits: LatticeMatchSettings = field(default_factory=LatticeMatchSettings)

    @classmethod
    def from_study(cls, study: Study, preset: str, scratch: Path | None = None) -> LatticeMatchMaker:
        """The Maker of a study's lattice-match analysis."""
        return cls(systems=tuple(s.label for s in study.systems), scan=study.lattice_scan, limits=study.lattice_match)

    def scan_bulks(self) -> list[str]:
        """The bulks the scanned facets are cut from.

        Raises
        ------
        InputError
            Naming the facet of ``lattice_scan`` that is not '<bulk>-<hkl>' of a known bulk.
        """
        from spillover.build.slabs import parse_facet
        from spillover.errors import InputError

        materials = set()
        for key in ("films", "supports"):
            for i, facet in enumerate(getattr(self.scan, key)):
                try:
                    materials.add(parse_facet(facet)[0])
                except InputError as exc:
                    raise InputError(f"lattice_scan.{key}[{i}]", exc.problem, exc.allowed) from None
        return sorted(materials)

    def requires(self) -> Requirements:
        """The scan's bulks and every system's built cell."""
        return Requirements(bulks=frozenset(self.scan_bulks()), cells=self.systems)

    def preflight(self) -> None:
        """Facet names are checked by building each one-layer slab (no calculator)."""
        from spillover.build.slabs import make_slab

        from spillover.errors import InputError

        for key in ("films", "supports"):
            for i, facet in enumerate(getattr(self.scan, key)):
                try:
                    make_slab(facet, layers=1)
                except InputError as exc:
                    raise InputError(f"lattice_scan.{key}[{i}]", exc.problem, exc.allowed) from None

    def make(self, shared: Shared) -> Flow:
        """The scan job at the relaxed bulk lattices (the cells are the plan's shared jobs)."""
        from spillover.jobs.lattice_match import lattice_scan_job

        bulks = self.scan_bulks()
        scan = lattice_scan_job(list(self.scan.films), list(self.scan.supports),
                                {m: shared.bulks[m].structure for m in bulks},
                                {m: shared.bulks[m].uuid for m in bulks}, shared.preset,
                                self.limits.model_dump())
        scan.name = "lattice scan"
        return Flow([scan], name=self.name)
