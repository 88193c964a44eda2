"""Settings of the lattice-match analysis: the scan of film facets over support facets."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from spillover.sections.base import Distinct, Section

#: Film facets and support facets of the default scan.
SCAN_FILMS = ("Ru-0001", "Ru-10-10", "RuO2-110", "RuO2-101", "RuO2-100")
SCAN_SUPPORTS = ("rutile-110", "rutile-101", "rutile-100", "anatase-101", "anatase-001")
#: A facet name, '<bulk>-<hkl>' with low Miller indices (the bulk and termination are checked by building
#: its slab in the preflight).
FacetName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9]{0,9}-(?:-?[0-3]){3,4}$", json_schema_extra={
    "allowed": "'<bulk>-<hkl>' with Miller indices -3..3, e.g. " + ", ".join(SCAN_FILMS[:3])})]



class LatticeScanSettings(Section):
    """Which film and support facets the scan pairs (limits: the study's ``lattice_match``)."""

    films: Annotated[list[FacetName], Distinct] = Field(
        default_factory=lambda: list(SCAN_FILMS), min_length=1, max_length=20,
        description="Film facets, '<bulk>-<hkl>'.")
    supports: Annotated[list[FacetName], Distinct] = Field(
        default_factory=lambda: list(SCAN_SUPPORTS), min_length=1, max_length=20,
        description="Support facets, '<bulk>-<hkl>'.")
