"""Study -> Flow: the shared jobs made once (bulks, O2, one cell per system), then one Maker per analysis.

Every analysis Maker (``spillover.flows.*``, named in :mod:`spillover.analyses`) follows one protocol,
:class:`AnalysisMaker`: ``from_study`` builds it from the study, ``requires`` says which shared jobs it
needs, ``preflight`` checks what can fail before anything is written, and ``make(shared)`` returns its
Flow, given the shared jobs' outputs in a read-only :class:`Shared`. No analysis makes its own bulks,
cells or O2, looks a job up by its name or changes another analysis's jobs.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Mapping, Protocol

from spillover.analyses import ANALYSES
from spillover.errors import InputError

if TYPE_CHECKING:
    from jobflow import Flow, Job

    from spillover.study import Study

#: Bulk materials in the order their relaxations are made.
BULK_ORDER = ("rutile", "anatase", "RuO2", "Ru", "Ti")


@dataclass(frozen=True)
class Requirements:
    """Which shared jobs an analysis needs.

    Attributes
    ----------
    bulks
        Bulk materials whose relaxations it uses directly.
    cells
        Systems whose cells it needs built.
    relaxed_cells
        Systems whose cells it needs relaxed (a subset of ``cells`` is implied).
    o2
        Whether it needs the O2 reference (with the study's vibration and correction settings).
    """

    bulks: frozenset[str] = frozenset()
    cells: tuple[str, ...] = ()
    relaxed_cells: tuple[str, ...] = ()
    o2: bool = False

    def __or__(self, other: Requirements) -> Requirements:
        def merged(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
            return tuple(dict.fromkeys([*a, *b]))

        return Requirements(self.bulks | other.bulks, merged(self.cells, other.cells),
                            merged(self.relaxed_cells, other.relaxed_cells), self.o2 or other.o2)


@dataclass(frozen=True)
class Shared:
    """Outputs of the shared jobs, handed to every analysis Maker (read-only mappings).

    Each value is a jobflow ``OutputReference``; its ``uuid`` is the job that makes it.

    Attributes
    ----------
    preset, preset_overrides
        The run's preset and the study's overrides.
    bulks
        Material -> relaxed bulk (:class:`~spillover.schemas.CalcDoc`).
    cells
        System label -> built cell (:class:`~spillover.schemas.CellDoc`).
    relaxed_cells
        System label -> relaxed cell (:class:`~spillover.schemas.CalcDoc`).
    o2, o2_vibration, o2_correction
        The O2 relaxation, its vibration and the fitted correction, where made.
    """

    preset: str
    preset_overrides: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    bulks: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    cells: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    relaxed_cells: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    o2: Any = None
    o2_vibration: Any = None
    o2_correction: Any = None


class AnalysisMaker(Protocol):
    """What :func:`make_plan` expects of the Maker of every analysis."""

    name: str

    @classmethod
    def from_study(cls, study: Study, preset: str, scratch: Path | None = None) -> AnalysisMaker: ...

    def requires(self) -> Requirements: ...

    def preflight(self) -> None: ...

    def make(self, shared: Shared) -> Flow: ...


def new_run_id() -> str:
    """A fresh id stored with every job of one ``spillover run``."""
    return uuid.uuid4().hex[:12]


def analysis_makers(study: Study, preset: str, scratch: Path | None = None) -> dict[str, AnalysisMaker]:
    """The Maker of each analysis the study asks for, in registry order."""
    return {name: a.load("maker").from_study(study, preset, scratch)
            for name, a in ANALYSES.items() if name in study.analyses}


def requirements(study: Study, makers: Mapping[str, AnalysisMaker]) -> Requirements:
    """Everything the analyses need, with the bulks their cells and the O2 correction need added."""
    from spillover.jobs.o2 import CORRECTION_BULKS

    need = Requirements()
    for maker in makers.values():
        need = need | maker.requires()
    cells = tuple(dict.fromkeys([*need.cells, *need.relaxed_cells]))
    bulks = set(need.bulks)
    for label in cells:
        bulks |= study.system(label).bulks
    if need.o2 and study.oxygen.correction:
        bulks |= set(CORRECTION_BULKS)
    return Requirements(frozenset(bulks), cells, need.relaxed_cells, need.o2)


def preflight(study: Study, preset: str, scratch: Path | None = None) -> None:
    """Check everything that can fail before the first job writes to the database.

    Resolves the preset with the study's overrides, builds every needed system cell on the
    experimental lattices (a lattice match must exist within the limits) and runs each analysis
    Maker's own checks.

    Raises
    ------
    InputError
        Unknown preset or preset key, a system with no match, or an analysis setting that cannot work.
    """
    from spillover.calculators import load_preset
    from spillover.jobs.cells import cell_atoms

    load_preset(preset, study.preset_overrides or None)
    for section in ("oxidation", "mu_profile"):
        funnel = getattr(study, section).funnel
        if funnel.dft_preset:
            try:
                load_preset(funnel.dft_preset, funnel.dft_preset_overrides or None)
            except InputError as exc:  # an unknown preset, or an override it refuses (exc.field names the key)
                field = f"{section}.funnel.dft_preset" if exc.field == "preset" else exc.field
                raise InputError(field, exc.problem, exc.allowed) from None
    makers = analysis_makers(study, preset, scratch)
    need = requirements(study, makers)
    for label in need.cells:
        spec = study.system(label)
        cell_atoms(spec.support, spec.films, study.cell.model_dump(), study.lattice_match.model_dump())
    for maker in makers.values():
        maker.preflight()


def _bulk_jobs(names: list[str], preset: str, overrides: dict) -> dict[str, Job]:
    """One relaxation per bulk, from the experimental lattice of structures/.

    The cell is relaxed only where the preset allows it (``relax.bulk_cell``): at an
    unconverged plane-wave cutoff the Pulay stress would collapse the cell (docs/science.md).
    """
    from pymatgen.io.ase import AseAtomsAdaptor

    from spillover.build.bulk import load_bulk
    from spillover.calculators import load_preset
    from spillover.jobs.relax import RelaxMaker

    relax_cell = load_preset(preset, overrides or None).relax.bulk_cell
    jobs = {}
    for name in names:
        maker = RelaxMaker(name=f"relax bulk {name}", preset=preset, preset_overrides=overrides, relax_cell=relax_cell)
        jobs[name] = maker.make(AseAtomsAdaptor.get_structure(load_bulk(name)), label=name, kind="bulk")
    return jobs


def _cell_jobs(study: Study, labels: tuple[str, ...], relaxed: tuple[str, ...], bulks: dict[str, Job], preset: str,
               overrides: dict) -> tuple[dict[str, Job], dict[str, Job]]:
    from spillover.calculators import load_preset
    from spillover.jobs.cells import build_cell
    from spillover.jobs.relax import RelaxMaker

    built, relaxes = {}, {}
    for label in labels:
        spec = study.system(label)
        names = sorted(spec.bulks)
        job = build_cell(spec.support, list(spec.films), {m: bulks[m].output.structure for m in names},
                         {m: bulks[m].uuid for m in names}, preset, study.cell.model_dump(),
                         study.lattice_match.model_dump())
        job.name = f"cell {label}"
        job.update_metadata({"system": label})
        built[label] = job
        if label in relaxed:
            settings = load_preset(preset, overrides or None).relax
            relax = RelaxMaker(name=f"relax cell {label}", preset=preset, preset_overrides=overrides,
                               seeds=settings.cell_seeds, seed_displacement_A=settings.cell_seed_displacement_A).make(
                job.output.structure, label=label, kind="system-cell", metadata={"system": label, "cell_job_id": job.uuid}
            )
            relax.update_metadata({"system": label})
            relaxes[label] = relax
    return built, relaxes


def _o2_jobs(study: Study, bulks: dict[str, Job], preset: str, overrides: dict) -> list[Job]:
    from spillover.jobs.o2 import CORRECTION_BULKS, molecule_overrides, o2_correction, o2_structure, o2_vibrations
    from spillover.jobs.relax import RelaxMaker

    mol = molecule_overrides(preset, overrides)
    o2 = RelaxMaker(name="relax O2", preset=preset, preset_overrides=mol).make(
        o2_structure(study.oxygen.box_A), label="O2", kind="molecule"
    )
    vib = corr = None
    if study.oxygen.vibrations:
        vib = o2_vibrations(o2.output, o2.uuid, preset, mol)
        vib.name = "O2 vibrations"
    if study.oxygen.correction:
        corr = o2_correction({b: bulks[b].output for b in CORRECTION_BULKS}, {b: bulks[b].uuid for b in CORRECTION_BULKS},
                             o2.output, o2.uuid, preset, study.oxygen.fit_on)
        corr.name = "O2 correction"
    return [o2, vib, corr]


def make_plan(study: Study, preset: str | None = None, run_id: str | None = None, scratch: Path | None = None) -> Flow:
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
        Shared jobs first, then one sub-flow per analysis; run it locally or submit it through FireWorks.
    """
    from jobflow import Flow

    preset = preset or study.preset
    overrides = dict(study.preset_overrides)
    makers = analysis_makers(study, preset, scratch)
    if not makers:
        raise InputError("analyses", "no analysis to run", ", ".join(ANALYSES))
    need = requirements(study, makers)
    bulks = _bulk_jobs([b for b in BULK_ORDER if b in need.bulks], preset, overrides)
    built, relaxed = _cell_jobs(study, need.cells, need.relaxed_cells, bulks, preset, overrides)
    o2 = vib = corr = None
    if need.o2:
        o2, vib, corr = _o2_jobs(study, bulks, preset, overrides)
    shared = Shared(
        preset=preset,
        preset_overrides=MappingProxyType(overrides),
        bulks=MappingProxyType({k: j.output for k, j in bulks.items()}),
        cells=MappingProxyType({k: j.output for k, j in built.items()}),
        relaxed_cells=MappingProxyType({k: j.output for k, j in relaxed.items()}),
        o2=o2.output if o2 else None,
        o2_vibration=vib.output if vib else None,
        o2_correction=corr.output if corr else None,
    )
    jobs: list[Job | Flow] = [*bulks.values(), *built.values(), *relaxed.values(), *(j for j in (o2, vib, corr) if j)]
    for name, maker in makers.items():
        sub = maker.make(shared)
        sub.update_metadata({"analysis": name})
        jobs.append(sub)
    flow = Flow(jobs, name=f"{study.name} ({preset})")
    flow.update_metadata({"study": study.name, "preset": preset, "run_id": run_id or new_run_id()})
    # every job, also those added at run time, sees the store: a stored result of the same content hash is reused
    flow.update_config({"expose_store": True}, dynamic=True)
    return flow
