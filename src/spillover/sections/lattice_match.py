"""Settings of the lattice-match analysis: the scan of film facets over support facets."""

from __future__ import annotations

from pydantic import Field

from spillover.sections.base import Section

#: Film facets and support facets of the default scan.
SCAN_FILMS = ("Ru-0001", "Ru-10-10", "RuO2-110", "RuO2-101", "RuO2-100")
SCAN_SUPPORTS = ("rutile-110", "rutile-101", "rutile-100", "anatase-101", "anatase-001")


class LatticeScanSettings(Section):
    """Which film and support facets the scan pairs (limits: the study's ``lattice_match``)."""

    films: list[str] = Field(default_factory=lambda: list(SCAN_FILMS), min_length=1, max_length=20,
                             description="Film facets, '<bulk>-<hkl>'.")
    supports: list[str] = Field(default_factory=lambda: list(SCAN_SUPPORTS), min_length=1, max_length=20,
                                description="Support facets, '<bulk>-<hkl>'.")
