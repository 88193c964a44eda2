"""The study file: what to compute, validated by pydantic, and its translation into a jobflow Flow."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from spillover.errors import InputError

BulkName = Literal["rutile", "anatase", "RuO2", "Ru", "Ti"]
SupportName = Literal["rutile-110", "anatase-101"]
FilmName = Literal["Ru-0001", "RuO2-110"]
AnalysisName = Literal["lattice-match", "oxidation", "mu-profile", "barriers"]
ANALYSES: tuple[str, ...] = ("lattice-match", "oxidation", "mu-profile", "barriers")

# The bulk each facet is cut from.
FACET_BULK = {"rutile-110": "rutile", "anatase-101": "anatase", "Ru-0001": "Ru", "RuO2-110": "RuO2"}
# Film sequences each support accepts (see build.interfaces.make_interface).
ALLOWED_FILMS = {
    "rutile-110": (("Ru-0001",), ("RuO2-110",), ("RuO2-110", "Ru-0001")),
    "anatase-101": (("Ru-0001",),),
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InterfaceSpec(_Strict):
    """One interface model: a support and its films from the support outwards."""

    support: SupportName = Field(description="Support facet.")
    films: list[FilmName] = Field(min_length=1, max_length=2, description="Films, support side first.")

    @model_validator(mode="after")
    def _allowed_combination(self) -> InterfaceSpec:
        allowed = ALLOWED_FILMS[self.support]
        if tuple(self.films) not in allowed:
            names = "; ".join("[" + ", ".join(f) + "]" for f in allowed)
            raise ValueError(f"films {self.films} not available on {self.support} (allowed: {names})")
        return self

    @property
    def label(self) -> str:
        """``support/film[/film]``."""
        return "/".join([self.support, *self.films])


class LatticeMatchSettings(_Strict):
    """Search limits of the ZSL lattice match."""

    max_area_A2: float = Field(120.0, gt=0, description="Largest matched in-plane area (Å²).")
    max_strain_percent: float = Field(6.0, gt=0, description="Largest |strain| along either direction (%).")


class InterfaceModelSettings(_Strict):
    """Sizes of the interface models."""

    support_layers: int = Field(3, ge=1, description="Support trilayers.")
    film_layers: dict[FilmName, int] = Field(
        default_factory=lambda: {"Ru-0001": 3, "RuO2-110": 1}, description="Layers per film."
    )
    vacuum: float = Field(12.0, ge=0, description="Vacuum thickness (Å).")
    gap: float | None = Field(
        None, gt=0, description="Distance between parts (Å); null: lattice continuation for epitaxial RuO2, 2 Å otherwise."
    )
    fixed_layers: int = Field(1, ge=0, description="Bottom support layers held fixed.")

    @model_validator(mode="after")
    def _check(self) -> InterfaceModelSettings:
        if self.fixed_layers >= self.support_layers:
            raise ValueError(f"fixed_layers ({self.fixed_layers}) must be below support_layers ({self.support_layers})")
        for film, n in self.film_layers.items():
            if n < 1:
                raise ValueError(f"film_layers.{film} must be >= 1")
        return self


PositiveFinite = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class OxidationSettings(_Strict):
    """Oxidation energetics: n extra O at the Ru/support interface versus on the outer Ru surface."""

    interfaces: list[str] | None = Field(
        None,
        description="Interface labels ('support/film[/film]') to oxidise; null: every interface of the study "
        "whose outermost film is Ru-0001.",
    )
    n_max: int | str = Field(
        "full-layer",
        description="Largest number of extra O atoms, or 'full-layer' (one O per Ru of the contact layer, "
        "capped at what both placements hold).",
    )
    max_configs_per_n: int = Field(2, ge=1, description="Symmetry-distinct configurations relaxed per placement and n.")
    temperatures_K: list[PositiveFinite] = Field(
        default_factory=lambda: [300.0, 500.0, 700.0, 900.0], min_length=1, description="Temperatures of the (T, p) grid (K)."
    )
    pressures_bar: list[PositiveFinite] = Field(
        default_factory=lambda: [1e-10, 1e-5, 1.0], min_length=1, description="O2 pressures of the (T, p) grid (bar)."
    )
    use_o2_correction: bool = Field(
        True, description="Fit one shift per O atom to the experimental formation enthalpies of TiO2 and RuO2 and use it."
    )
    compute_o2_frequency: bool = Field(
        False, description="Compute the O2 vibration with ase.vibrations at the preset (else the experimental value)."
    )
    relax_steps: int | None = Field(
        None, ge=1, description="Most optimizer steps of the interface relaxations; null: the preset's."
    )
    o2_box_A: float = Field(12.0, ge=8.0, description="Edge of the box around the O2 molecule (Å).")

    @field_validator("n_max")
    @classmethod
    def _n_max(cls, value: int | str) -> int | str:
        if isinstance(value, str) and value != "full-layer":
            raise ValueError(f"must be an integer >= 1 or 'full-layer', got {value!r}")
        if isinstance(value, int) and value < 1:
            raise ValueError(f"must be an integer >= 1 or 'full-layer', got {value}")
        return value

    @field_validator("interfaces")
    @classmethod
    def _labels(cls, value: list[str] | None) -> list[str] | None:
        for label in value or []:
            support, *films = label.split("/")
            if support not in FACET_BULK or support not in ALLOWED_FILMS:
                raise ValueError(f"unknown support {support!r} in {label!r} (allowed: {', '.join(ALLOWED_FILMS)})")
            if not films or films[-1] != "Ru-0001":
                raise ValueError(f"{label!r} has no outer Ru-0001 film to oxidise")
        return value


ProfileRegion = Literal["support-surface", "support-bulk", "interface", "ru-bulk", "ru-surface"]


class MuProfileSettings(_Strict):
    """The O chemical-potential profile: O binding energy from the support surface into Ru."""

    supports: list[SupportName] = Field(
        default_factory=lambda: ["rutile-110", "anatase-101"], min_length=1, description="Supports to profile."
    )
    regions: list[ProfileRegion] = Field(
        default_factory=lambda: ["support-surface", "support-bulk", "interface", "ru-bulk", "ru-surface"],
        min_length=1, description="Regions to compute.",
    )
    slab_layers: int = Field(7, ge=2, description="Layers of the bare support slab.")
    support_layers_probed: int = Field(5, ge=1, description="L: O layers probed from the support surface down.")
    fixed_layers: int = Field(2, ge=0, description="Bottom layers of the support slab held fixed.")
    vacuum: float = Field(12.0, gt=0, description="Vacuum of the profile slabs (Å).")
    bulk_supercells: dict[Literal["rutile", "anatase"], list[tuple[int, int, int]]] = Field(
        default_factory=lambda: {"rutile": [(2, 2, 3), (3, 3, 4)], "anatase": [(2, 2, 1), (3, 3, 1)]},
        description="Supercells of the deep-bulk vacancy, one or two per bulk (two give the finite-size change).",
    )
    ru_supercell: tuple[int, int, int] = Field((2, 2, 2), description="hcp Ru supercell for interstitial O.")
    ru_surface_repeat: tuple[int, int] = Field((2, 2), description="Ru(0001) surface cell; (2, 2) is 0.25 ML.")
    ru_surface_layers: int = Field(4, ge=2, description="Layers of the Ru(0001) slab.")
    max_sites_per_layer: int | None = Field(
        None, ge=1, description="Cap on the symmetry-distinct sites computed per layer (per part and layer at interfaces)."
    )
    relax_steps: int | None = Field(None, ge=1, description="Most optimizer steps per relaxation; null: the preset's.")

    @model_validator(mode="after")
    def _check(self) -> MuProfileSettings:
        if self.fixed_layers >= self.slab_layers:
            raise ValueError(f"fixed_layers ({self.fixed_layers}) must be below slab_layers ({self.slab_layers})")
        free = self.slab_layers - self.fixed_layers
        if self.support_layers_probed > free:
            raise ValueError(
                f"support_layers_probed = {self.support_layers_probed} is larger than the slab's {free} free layers "
                f"(allowed: 1..{free}; raise slab_layers)"
            )
        for bulk, sizes in self.bulk_supercells.items():
            if not 1 <= len(sizes) <= 2 or any(min(size) < 1 for size in sizes):
                raise ValueError(f"bulk_supercells.{bulk}: one or two supercells of positive repeats")
        if self.ru_surface_repeat[0] * self.ru_surface_repeat[1] < 4:
            raise ValueError(f"ru_surface_repeat {list(self.ru_surface_repeat)} is too small for 0.25 ML (allowed: 2x2 or larger)")
        return self


BarrierRegion = Literal[
    "rutile-bulk", "rutile-110", "anatase-bulk", "anatase-101", "interfacial-RuO2", "across-interface"
]
BARRIER_REGIONS: tuple[str, ...] = get_args(BarrierRegion)


class BarrierSettings(_Strict):
    """Vacancy-migration barriers: which regions, which hops, and the band settings."""

    regions: list[BarrierRegion] = Field(
        default_factory=lambda: list(BARRIER_REGIONS), min_length=1,
        description="Regions whose symmetry-distinct vacancy hops are computed.",
    )
    cutoff_A: float = Field(3.0, gt=0, le=6.0, description="Longest O-O hop considered (Å).")
    supercell: dict[BarrierRegion, tuple[int, int, int]] = Field(
        default_factory=dict,
        description="Repetition per region (bulk cell, or surface cell with 1 last); default: the smallest "
        "whose cell widths exceed 2 x cutoff_A.",
    )
    slab_layers: int = Field(6, ge=2, description="Layers of the r-TiO2(110) and a-TiO2(101) slabs.")
    hop_layers: int = Field(5, ge=2, description="Outer slab layers whose layer k+1 -> k hops are computed.")
    fixed_layers: int = Field(1, ge=0, description="Bottom layers held fixed in slabs and interfaces.")
    vacuum: float = Field(12.0, gt=0, description="Vacuum of slab and interface hosts (Å).")
    interface_support_layers: int = Field(3, ge=2, description="r-TiO2(110) layers under the interfacial RuO2.")
    max_hops: int | dict[BarrierRegion, int] | None = Field(
        None,
        description="Most hops per region, shortest first (in slab regions: per layer pair k+1 -> k); one number "
        "for every region or one per region (regions not named: all hops); null: all hops.",
    )
    n_images: int | None = Field(None, ge=1, description="Intermediate images; null: the preset's neb.n_images.")
    fmax: float | None = Field(None, gt=0, description="Band force threshold (eV/Å); null: the preset's.")
    steps: int | None = Field(None, ge=0, description="Most band optimizer steps; null: the preset's.")
    optimizer: Literal["FIRE", "BFGS", "LBFGS", "MDMin"] | None = Field(None, description="Band optimizer; null: the preset's.")
    spring_constant: float | None = Field(None, gt=0, description="Spring constant (eV/Å²); null: the preset's.")
    relax_endpoints: bool = Field(True, description="Relax both endpoints before the band (else single points).")
    dft_preset: str | None = Field(
        None, description="Also run every hop at this preset (e.g. gpaw-production), starting from the band of "
        "the run's preset (the fidelity ladder).",
    )
    dft_preset_overrides: dict = Field(default_factory=dict, description="Overrides of dft_preset.")

    @field_validator("max_hops", mode="before")
    @classmethod
    def _check_max_hops(cls, value: object) -> object:
        allowed = f"a whole number >= 1, or a mapping of {', '.join(BARRIER_REGIONS)} to such numbers, or null"
        limits = value.items() if isinstance(value, dict) else [("", value)] if value is not None else []
        for region, limit in limits:
            if region and region not in BARRIER_REGIONS:
                raise ValueError(f"unknown region {region!r} (allowed: {allowed})")
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
                raise ValueError(f"{limit!r} is not a hop count (allowed: {allowed})")
        return value

    @model_validator(mode="after")
    def _check(self) -> BarrierSettings:
        if self.hop_layers + self.fixed_layers > self.slab_layers:
            raise ValueError(
                f"hop_layers ({self.hop_layers}) + fixed_layers ({self.fixed_layers}) exceed slab_layers "
                f"({self.slab_layers}); the hopping layers must be free"
            )
        if self.fixed_layers >= self.interface_support_layers:
            raise ValueError("fixed_layers must be below interface_support_layers")
        for region, rep in self.supercell.items():
            if min(rep) < 1:
                raise ValueError(f"supercell.{region}: repeats must be >= 1")
        return self


class Study(_Strict):
    """A study file (``workflows/*.yaml``)."""

    name: str = Field(min_length=1, description="Study name; stored with every result.")
    description: str = Field("", description="What the study is for.")
    preset: str = Field("screen", description="Default calculator preset.")
    preset_overrides: dict = Field(default_factory=dict, description="Deep-merged into the preset for every job.")
    bulks: list[BulkName] = Field(min_length=1, description="Bulk materials to relax.")
    interfaces: list[InterfaceSpec] = Field(default_factory=list, description="Interface models to build.")
    lattice_match: LatticeMatchSettings = Field(default_factory=LatticeMatchSettings)
    interface_model: InterfaceModelSettings = Field(default_factory=InterfaceModelSettings)
    oxidation: OxidationSettings = Field(default_factory=OxidationSettings)
    mu_profile: MuProfileSettings = Field(default_factory=MuProfileSettings)
    barriers: BarrierSettings = Field(default_factory=BarrierSettings)
    analyses: list[AnalysisName] = Field(default_factory=lambda: list(ANALYSES), description="Analyses to run.")

    @model_validator(mode="after")
    def _bulks_cover_interfaces(self) -> Study:
        for i, spec in enumerate(self.interfaces):
            for facet in (spec.support, *spec.films):
                if FACET_BULK[facet] not in self.bulks:
                    raise ValueError(
                        f"interfaces[{i}] needs bulk {FACET_BULK[facet]!r} for {facet}; add it to bulks"
                    )
        labels = [s.label for s in self.interfaces if s.films[-1] == "Ru-0001"]
        for i, label in enumerate(self.oxidation.interfaces or []):
            if label not in labels:
                raise ValueError(
                    f"oxidation.interfaces[{i}] {label!r} is not an interface of this study with an outer "
                    f"Ru-0001 film (allowed: {', '.join(labels) or 'none'})"
                )
        return self


def _field_path(loc: tuple) -> str:
    parts: list[str] = []
    for p in loc:
        if isinstance(p, int):
            parts[-1] = f"{parts[-1]}[{p}]" if parts else f"[{p}]"
        elif not str(p).startswith(("function-", "literal[")):
            parts.append(str(p))
    return ".".join(parts) or "study"


def load_study(path: str | Path) -> Study:
    """Read and validate a study file.

    Raises
    ------
    InputError
        Missing file, malformed YAML, or a field outside its allowed values.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("study", f"file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise InputError("study", f"{path} is not valid YAML{where}") from None
    if not isinstance(data, dict):
        raise InputError("study", f"{path} must hold a mapping of study keys", ", ".join(Study.model_fields))
    try:
        return Study.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = _field_path(err["loc"])
        if err["type"] == "extra_forbidden":
            raise InputError(field, "unknown key") from None
        if err["type"] == "missing":
            raise InputError(field, "required key is missing") from None
        raise InputError(field, err["msg"].removeprefix("Value error, ")) from None


def new_run_id() -> str:
    """A fresh id stored with every job of one ``spillover run``."""
    return uuid.uuid4().hex[:12]


def preflight(study: Study, preset: str) -> None:
    """Check everything that can fail before the first job writes to the database.

    Resolves the preset with the study's overrides and finds a lattice match for every
    interface on the experimental bulks (the relaxed lattices differ by a few percent at most).

    Raises
    ------
    InputError
        Unknown preset or preset key, or an interface with no match within the limits.
    """
    from spillover.build.interfaces import find_matches
    from spillover.calculators import load_preset

    load_preset(preset, study.preset_overrides or None)
    if "lattice-match" in study.analyses:
        for spec in study.interfaces:
            supports = [spec.support, *spec.films[:-1]]
            for below, film in zip(supports, spec.films):
                if below != spec.support:  # a film on a film: matched inside make_interface
                    continue
                find_matches(
                    spec.support,
                    film,
                    max_area=study.lattice_match.max_area_A2,
                    max_strain_percent=study.lattice_match.max_strain_percent,
                )
    if "barriers" in study.analyses:
        band = {k: getattr(study.barriers, k) for k in ("n_images", "spring_constant", "fmax", "steps", "optimizer")}
        band = {k: v for k, v in band.items() if v is not None}
        load_preset(preset, {**study.preset_overrides, "neb": {**study.preset_overrides.get("neb", {}), **band}})
        if study.barriers.dft_preset:
            load_preset(study.barriers.dft_preset, study.barriers.dft_preset_overrides or None)


def build_flow(study: Study, preset: str | None = None, run_id: str | None = None, scratch: Path | None = None):
    """Translate a study into one jobflow Flow.

    Parameters
    ----------
    study
        A validated study.
    preset
        Preset for every job; ``None`` uses the study's.
    run_id
        Id stored in the metadata of every job of this run.
    scratch
        Scratch base of the run (NEB band checkpoints live below it); ``None``: ``$SPILLOVER_SCRATCH``.

    Returns
    -------
    jobflow.Flow
        The flow; run it with jobflow locally or submit it through FireWorks.
    """
    from jobflow import Flow

    from spillover.flows.bulks import bulk_relax_jobs
    from spillover.flows.lattice_match import interface_jobs

    preset = preset or study.preset
    bulk_jobs = bulk_relax_jobs(list(study.bulks), preset, study.preset_overrides)
    jobs = list(bulk_jobs.values())
    interfaces_by_label = {}
    if "lattice-match" in study.analyses:
        settings = {
            "lattice_match": study.lattice_match.model_dump(),
            "interface_model": study.interface_model.model_dump(),
        }
        specs = [(s.support, list(s.films)) for s in study.interfaces]
        new = interface_jobs(specs, bulk_jobs, preset, settings)
        interfaces_by_label = {s.label: j for s, j in zip(study.interfaces, new)}
        jobs += new
    if "oxidation" in study.analyses:
        from spillover.flows.oxidation import oxidation_jobs

        # adds the bulk relaxations the O2 correction needs (Ti, RuO2, ...) to bulk_jobs
        jobs += oxidation_jobs(study, bulk_jobs, preset, interfaces_by_label)
    if "mu-profile" in study.analyses:
        from spillover.flows.mu_profile import mu_profile_jobs

        # one O2 reference for the whole study: the oxidation part's relaxation when it runs
        o2 = next((j for j in jobs if j.name == "relax O2"), None)
        jobs += mu_profile_jobs(study, bulk_jobs, preset, interfaces_by_label, o2=o2)
    if "barriers" in study.analyses:
        from spillover.flows.barriers import barrier_jobs

        # adds the bulk relaxations its regions need to bulk_jobs
        jobs += barrier_jobs(study, bulk_jobs, preset, scratch)
    flow = Flow(jobs, name=f"{study.name} ({preset})")
    flow.update_metadata({"study": study.name, "preset": preset, "run_id": run_id or new_run_id()})
    return flow
