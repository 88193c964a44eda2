"""Output documents of the vacancy-migration (NEB) analysis."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from spillover.schemas.base import Document


class EndpointSummary(BaseModel):
    """One relaxed NEB endpoint."""

    energy_eV: float = Field(description="Total energy of the relaxed endpoint (eV).")
    max_force_eV_per_A: float = Field(description="Largest force on a free atom after relaxation (eV/Å).")
    converged: bool = Field(description="Whether the endpoint relaxation reached its force threshold.")
    n_ionic_steps: int = Field(description="Optimizer steps of the endpoint relaxation.")
    force_calls: int = Field(description="Calculator calls of the endpoint relaxation (frames of its trajectory).")
    content_hash: str = Field(description="Content hash of the endpoint relaxation (spillover.schemas.CalcDoc).")


class OptimizerFallback(BaseModel):
    """The switch of a band that blew up to its fallback optimizer (NebSettings.fallback_optimizer)."""

    from_optimizer: str = Field(description="Optimizer under which the band blew up.")
    optimizer: str = Field(description="Optimizer that took over.")
    maxstep_A: float | None = Field(
        None, description="Largest atom move per step of the optimizer that took over (Å); None: its default "
        "(a record from before the fallback step length existed)."
    )
    blowup_eV: float = Field(description="Rise of the highest image above its lowest that counted as a blow-up (eV).")
    detected_at: int = Field(description="Index into band_energy_history_eV of the band that blew up.")
    restored_from: int | None = Field(
        description="Index into band_energy_history_eV of the band the fallback started from (the lowest highest "
        "image before the blow-up); None: that band was not saved (a checkpoint from before fallbacks existed), so "
        "the fallback started from the band's first start (restart)."
    )
    restart: str = Field(description="Where the fallback's band came from, in words.")
    steps_before: int = Field(description="Optimizer steps of the band before the fallback took over.")
    history_start: int = Field(description="Index into band_energy_history_eV where the fallback's run starts.")


class NebDoc(Document):
    """A climbing-image NEB of one vacancy hop, with its barriers and its cost."""

    doc_type: Literal["neb"] = Field("neb", description="Document type, for queries.")
    label: str = Field(description="Hop label, e.g. 'L2:O40 -> L1:O3 (2.78 Å)'.")
    region: str = Field(description="Where the hop runs: in-layer, between-layers, interlayer, across-interface (a network), or custom.")
    support: str = Field(description="Support the region belongs to: r-TiO2 or a-TiO2 (empty for custom bands).")
    hop: dict[str, Any] = Field(
        default_factory=dict,
        description="The hop (spillover.build.barriers.Hop.to_dict): sites, layers, length, and the equivalent "
        "hops it stands for.",
    )
    formula: str = Field(description="Formula of the endpoint structures.")
    natoms: int = Field(description="Atoms per image.")
    Ea_forward_eV: float = Field(description="Highest image energy minus initial energy (eV).")
    Ea_reverse_eV: float = Field(description="Highest image energy minus final energy (eV).")
    dE_eV: float = Field(description="Reaction energy, final minus initial (eV); Ea_forward - Ea_reverse.")
    Ea_forward_spline_eV: float = Field(description="Forward barrier from the maximum of the spline (eV).")
    energies_eV: list[float] = Field(description="Total energy of every image, endpoints included (eV).")
    relative_energies_eV: list[float] = Field(description="Image energies relative to the initial state (eV).")
    path_A: list[float] = Field(description="Reaction coordinate of every image: accumulated displacement (Å).")
    spline_path_A: list[float] = Field(description="Reaction coordinate of the spline points (Å).")
    spline_energies_eV: list[float] = Field(
        description="Spline through the image energies and the forces along the path (ase NEBTools), relative to the "
        "initial state (eV)."
    )
    image_positions_A: list[list[list[float]]] = Field(description="Cartesian positions of every image (Å).")
    symbols: list[str] = Field(description="Chemical symbols, same order in every image.")
    cell_A: list[list[float]] = Field(description="Cell vectors (Å), shared by all images.")
    pbc: list[bool] = Field(description="Periodic boundary conditions.")
    fixed_indices: list[int] = Field(default_factory=list, description="Atoms held fixed in every image.")
    climbing_image: int = Field(description="Index of the highest (climbing) image in the band.")
    climbing_image_max_force_eV_per_A: float = Field(
        description="Largest NEB force on an atom of the climbing image at the end (eV/Å)."
    )
    max_force_eV_per_A: float = Field(description="Largest NEB force on any intermediate image at the end (eV/Å).")
    converged: bool = Field(description="Whether every image reached fmax.")
    n_images: int = Field(description="Intermediate images.")
    spring_constant: float = Field(description="Spring constant (eV/Å²).")
    climb: bool = Field(description="Climbing image on.")
    method: str = Field(description="ase.mep.NEB method.")
    optimizer: str = Field(description="ASE optimizer of the band.")
    ladder: str | None = Field(
        None, description="'corrected': the band was relaxed by corrected steps on the start band's preset "
        "(NebSettings.ladder); None: by ``optimizer`` alone."
    )
    corrected_steps: int | None = Field(
        None, description="Corrected steps (DFT evaluations of the band after its start), counted in optimizer_steps."
    )
    surrogate_force_calls: int | None = Field(
        None, description="Calls of the surrogate (the start band's preset) during the corrected steps; not counted "
        "in band_force_calls, which counts this preset's calls only."
    )
    surrogate_preset: str | None = Field(None, description="Preset of the corrected steps' surrogate.")
    corrected_stalled: bool | None = Field(
        None, description="True: the corrected steps stalled and ``optimizer`` went on from their band."
    )
    seed_displacement_A: float = Field(
        0.0, description="Random displacement of the free atoms at the band's start (Å; NebSettings.seed_displacement_A); 0: none."
    )
    fallback: OptimizerFallback | None = Field(
        None, description="The switch to the fallback optimizer if the band blew up under ``optimizer``; None: it did not."
    )
    lowest_image_rel_eV: float | None = Field(
        None, description="Lowest intermediate image minus the lower endpoint (eV) at the end. Below about -0.05 eV "
        "the band holds a state lower than both ends: an intermediate minimum, or endpoints that are not minima at "
        "this preset (e.g. single points at another level's geometry); the barrier then is not the hop's."
    )
    fmax_target_eV_per_A: float = Field(description="Force threshold (eV/Å).")
    steps_max: int = Field(description="Most optimizer steps allowed to one optimizer (a fallback gets as many again).")
    optimizer_steps: int = Field(description="Optimizer steps of the band, over every run of this job.")
    band_force_calls: int = Field(description="Calculator calls on the intermediate images, over every run.")
    endpoint_force_calls: int = Field(description="Calculator calls of the two endpoint relaxations.")
    force_calls: int = Field(description="All calculator calls behind this document: band plus endpoints.")
    wall_time_s: float = Field(description="Wall time over every run of this job (s).")
    runs: int = Field(description="Times the band was (re)started: 1, or more after an interruption.")
    start_band: str = Field(
        description="Where this run's starting band came from: 'idpp', 'checkpoint' or "
        "'band of job <uuid> at <preset>'."
    )
    initial_start_band: str = Field(description="Where the first run's starting band came from.")
    band_energy_history_eV: list[list[float]] = Field(
        description="Image energies (endpoints included) at every optimizer step, over every run (eV)."
    )
    run_start_steps: list[int] = Field(description="Index into band_energy_history_eV where each run started.")
    endpoints: list[EndpointSummary] = Field(description="Initial and final endpoint relaxations.")
    relax_endpoints: bool = Field(description="Whether the endpoints were relaxed (else single points).")
    checkpoint_dir: str = Field(description="Directory of the band checkpoint (band.traj, state.json).")
    calculator: str = Field(description="Calculator name.")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Free-form provenance (study, region).")
    reused_from_job_id: str | None = Field(
        None, description="uuid of the stored band this one is a copy of (same content hash, converged at this fmax "
        "or tighter); None: computed by this job.",
    )
