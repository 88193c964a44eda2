"""Documents of the O level along the path and of the transfer energies (docs/science.md, "Quantities")."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from spillover.schemas.base import Document
from spillover.schemas.calc import CalcDoc


class ProfileFunnel(BaseModel):
    """The screening funnel of one region and layer of a system's cell."""

    region: str = Field(description="support, interlayer, interface, ru-interstitial or ru-surface.")
    layer: int | None = Field(None, description="Support layer from the interface, Ru gap from the interface; null: none.")
    occupied: bool = Field(description="True: lattice O vacated (E_b from E(cell) - E(cell without O)); False: O added.")
    job_id: str = Field(description="uuid of the funnel job (its FunnelDoc holds every candidate and the survivors).")
    n_candidates: int = Field(description="Symmetry-distinct sites screened.")


class HostSite(BaseModel):
    """A vacancy in a separate host (bulk supercell, bare slab) and its two stored relaxations."""

    region: Literal["bulk-reference", "bare-slab"] = Field(description="The deep reference or the comparison.")
    site: str = Field(description="Site label, e.g. 'bulk 3x3x4', 'L2:O14'.")
    layer: int | None = Field(None, description="Bare slab: layer from the outermost; bulk: null.")
    multiplicity: int = Field(description="Sites of the host this one stands for.")
    image_distance_A: float = Field(description="Distance from the vacancy to its nearest periodic image (Å).")
    with_job_id: str = Field(description="uuid of the host relaxation (with the O).")
    without_job_id: str = Field(description="uuid of the relaxation without the O.")


class ProfileDoc(Document):
    """Which stored calculations make up the O level along the path of one system."""

    doc_type: Literal["mu-profile"] = Field("mu-profile", description="Document type, for queries.")
    system: str = Field(description="System label, e.g. 'rutile-110/RuO2-110/Ru-0001'.")
    support: str = Field(description="Support facet.")
    cell_job_id: str = Field(description="uuid of the system's relaxed cell (E(cell)).")
    o2_job_id: str = Field(description="uuid of the O2 relaxation (the 1/2 E(O2) reference).")
    image_distance_A: float = Field(description="Shortest in-plane distance between a defect of the cell and its images (Å).")
    funnels: list[ProfileFunnel] = Field(description="One funnel per region and layer of the cell.")
    hosts: list[HostSite] = Field(default_factory=list, description="Bulk-reference and bare-slab vacancies.")
    failed: list[str] = Field(default_factory=list, description="What could not be computed (region, layer: why).")
    settings: dict[str, Any] = Field(description="The study's mu_profile settings (verdict thresholds included).")


class TransferMove(BaseModel):
    """One lattice O of support layer k moved to an empty site j, in the system's cell."""

    from_layer: int = Field(description="Support layer k of the moved O, from the interface.")
    from_site: str = Field(description="Label of the vacated O, e.g. 'L3:O57'.")
    from_index: int = Field(description="Index of the vacated O in the relaxed cell.")
    to_region: str = Field(description="interface or ru-interstitial.")
    to_site: str = Field(description="Label of the site j, e.g. 'interface lattice #4', 'gap1 octahedral'.")
    distance_A: float = Field(description="Distance between the vacancy and the moved O at the start (Å, minimum image).")
    vacancy_funnel_job_id: str = Field(description="uuid of the funnel that chose the vacated O.")
    site_funnel_job_id: str = Field(description="uuid of the funnel that chose site j.")
    calc: CalcDoc = Field(description="The relaxation of the cell with the O moved.")


class TransferDoc(Document):
    """Transfer energies dE(k -> j) = E(cell with the O moved) - E(cell) of one system (no O2 reference)."""

    doc_type: Literal["transfer"] = Field("transfer", description="Document type, for queries.")
    system: str = Field(description="System label.")
    cell_job_id: str = Field(description="uuid of the system's relaxed cell (E(cell)).")
    moves: list[TransferMove] = Field(description="Every move computed.")
    missing: list[str] = Field(default_factory=list, description="Layers or sites without a move, and why.")
    workers: int = Field(1, description="Worker processes the relaxations ran on.")
