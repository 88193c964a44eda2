"""Documents of the oxygen chemical-potential profile."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from spillover.schemas.base import Document


class ProfileSite(BaseModel):
    """One symmetry-distinct O site and the two stored calculations its E_b comes from."""

    region: str = Field(description="support-surface, support-bulk, interface, ru-bulk or ru-surface.")
    site: str = Field(description="Site label, e.g. 'L2:O14', 'outermost O', 'octahedral', 'hcp hollow'.")
    layer: int | None = Field(None, description="Layer (1 = outermost of its part); null for bulk sites.")
    kind: str = Field(description="'vacancy' (lattice O removed) or 'added' (O put in).")
    host: str = Field(description="Host model: support-slab, bulk-supercell-<i>, interface, ru-supercell, ru-slab.")
    equivalent_count: int | None = Field(
        None, description="Number of sites of the host this one stands for; null if its job failed."
    )
    equivalent: list | None = Field(
        None, description="The sites this one stands for, itself first: host indices (vacancies) or Cartesian "
        "positions in Å (added O); null if its job failed."
    )
    position: list[float] | None = Field(
        None, description="Cartesian O position in the unrelaxed host cut from the relaxed bulk (Å); null if its job failed."
    )
    with_job_id: str = Field(description="uuid of the relaxation of the host with the O.")
    without_job_id: str = Field(description="uuid of the relaxation of the host without the O.")


class ProfileDoc(Document):
    """Which stored calculations make up the O binding-energy profile of one support."""

    doc_type: Literal["mu-profile"] = Field("mu-profile", description="Document type, for queries.")
    support: str = Field(description="Support facet, 'rutile-110' or 'anatase-101'.")
    o2_job_id: str = Field(description="uuid of the O2 relaxation (the 1/2 E(O2) reference).")
    sites: list[ProfileSite] = Field(description="Sites whose calculations all finished.")
    failed: list[ProfileSite] = Field(default_factory=list, description="Sites with a failed calculation (not used).")
    settings: dict[str, Any] = Field(description="The study's mu_profile settings.")
