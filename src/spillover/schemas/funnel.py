"""The document of one screening funnel: every candidate with its stage energies, and the survivors."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from spillover.schemas.base import Document
from spillover.schemas.calc import CalcDoc


class Candidate(BaseModel):
    """One candidate structure and how far it went."""

    index: int = Field(description="Index of the candidate in the funnel's input order.")
    info: dict[str, Any] = Field(default_factory=dict, description="What the candidate is (e.g. its filled sites).")
    single_point_eV: float = Field(description="Energy of the unrelaxed candidate (eV).")
    loose_eV: float | None = Field(None, description="Energy after the loose relaxation (eV); None: not taken on.")
    loose_converged: bool | None = Field(None, description="Whether the loose relaxation met loose_fmax.")
    final_eV: float | None = Field(None, description="Energy after the relaxation to convergence (eV).")
    final_converged: bool | None = Field(None, description="Whether the final relaxation met the preset's fmax.")
    dft_single_point_eV: float | None = Field(
        None, description="DFT stage: energy at the DFT preset on the final screen geometry (eV); None: not taken on.")
    dft_final_eV: float | None = Field(None, description="DFT stage: energy after relaxing at the DFT preset (eV).")
    dft_final_converged: bool | None = Field(None, description="Whether the DFT relaxation met its preset's fmax.")
    stage: Literal["single point", "loose", "final", "dft"] = Field(description="The last stage this candidate reached.")


class StageCost(BaseModel):
    """What one stage cost."""

    name: Literal["single point", "loose", "final", "dft single point", "dft final"] = Field(description="Stage name.")
    candidates: int = Field(description="Candidates computed in this stage.")
    force_calls: int = Field(description="Energy (and force) evaluations of the stage.")
    wall_time_s: float = Field(description="Wall time of the stage (s).")


class FunnelDoc(Document):
    """Result of one funnel: the candidates it ranked, the stages, the survivor's relaxation."""

    doc_type: Literal["funnel"] = Field("funnel", description="Document type, for queries.")
    label: str = Field(description="What was screened, e.g. 'rutile-110/Ru-0001 interface n=2'.")
    settings: dict[str, Any] = Field(description="The funnel settings (FunnelSettings).")
    candidates: list[Candidate] = Field(description="Every candidate, in input order.")
    stages: list[StageCost] = Field(description="The stages in order, with their cost.")
    survivors: list[CalcDoc] = Field(
        description="The final relaxations, lowest energy first (converged ones before unconverged ones)."
    )
    survivor: int | None = Field(
        None, description="Candidate index of the lowest converged final relaxation; None if none converged."
    )
    n_unconverged: int = Field(0, description="Final relaxations that did not meet fmax (excluded from tables).")
    dft_preset: str | None = Field(None, description="Preset of the DFT stage; None: the funnel had none.")
    dft_survivors: list[CalcDoc] = Field(
        default_factory=list,
        description="DFT stage: the relaxations at dft_preset, lowest energy first (converged ones first).",
    )
    force_calls: int = Field(description="Energy (and force) evaluations of every stage together.")
    workers: int = Field(description="Worker processes the stages ran on.")
    reused_from_job_id: str | None = Field(
        None, description="uuid of the stored funnel this one is a copy of (same content hash); None: computed."
    )
