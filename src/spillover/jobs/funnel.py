"""The screening funnel: every candidate ranked by a single point, the best relaxed loosely, then to convergence.

:func:`run_funnel` is the generic engine any analysis uses for "many candidate structures, keep the
best" (the stages and their defaults: :class:`~spillover.sections.funnel.FunnelSettings`). Each stage's
calculations are independent and run on the worker processes of :mod:`spillover.workers`. Single
points ask the model for the energy only (CHGNet ``predict_structure(task="e")``, about half the cost
of energy and forces); relaxations are :class:`~spillover.jobs.relax.RelaxMaker` runs (checkpointed,
resumable, SCF retries). The document (:class:`~spillover.schemas.funnel.FunnelDoc`) keeps every
candidate's stage energies and the final relaxations; a funnel whose content hash (the candidates'
hashes and the settings) is stored returns the stored document without computing.

With ``dft_preset`` a DFT stage follows ``final``: the ``dft_k`` lowest converged survivors get a single
point at the DFT preset on their screen geometry, then a relaxation at that preset from it. Its
relaxations are stored in the document (``dft_survivors``); ``spillover table fidelity`` compares the
two rankings. The analyses' tables keep the screen survivor: they never mix presets.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import time
from typing import Any

import numpy as np
from ase import Atoms

from spillover.jobs.reuse import stored_copy
from spillover.schemas.funnel import Candidate, FunnelDoc, StageCost
from spillover.sections.funnel import FunnelSettings
from spillover.workers import map_tasks, worker_count


def single_point_energy(task: dict[str, Any]) -> float:
    """Energy (eV) of ``task["atoms"]`` at ``task["preset"]`` (energy only where the model allows)."""
    from pymatgen.io.ase import AseAtomsAdaptor

    from spillover.calculators import _chgnet_model, calculator_parameters, close_calculator, load_preset, make_calculator

    preset = load_preset(task["preset"], task.get("preset_overrides") or None)
    atoms: Atoms = task["atoms"].copy()
    if preset.calculator == "chgnet":
        params = calculator_parameters(preset, atoms)
        with contextlib.redirect_stdout(io.StringIO()):
            model = _chgnet_model(params["model_name"], params["use_device"])
        pred = model.predict_structure(AseAtomsAdaptor.get_structure(atoms), task="e")
        return float(pred["e"]) * (len(atoms) if model.is_intensive else 1)
    calc, _ = make_calculator(preset, atoms, stress=False)
    try:
        atoms.calc = calc
        return float(atoms.get_potential_energy())
    finally:
        close_calculator(calc)


def relax_candidate(task: dict[str, Any]):
    """A :class:`~spillover.schemas.CalcDoc` of relaxing ``task["atoms"]`` (``fmax`` None: the preset's)."""
    from pymatgen.io.ase import AseAtomsAdaptor

    from spillover.jobs.relax import RelaxMaker

    maker = RelaxMaker(name=task["label"], preset=task["preset"], preset_overrides=task.get("preset_overrides") or {},
                       fmax=task.get("fmax"), checkpoint_dir=task.get("checkpoint_dir"))
    return maker.compute(AseAtomsAdaptor.get_structure(task["atoms"]), label=task["label"], kind=task["kind"],
                         metadata=task.get("metadata"))


def funnel_hash(candidates: list[Atoms], preset: str, preset_overrides: dict, settings: FunnelSettings) -> str:
    """SHA-256 of every candidate's relaxation hash and the funnel settings (what the funnel's result depends on)."""
    from spillover.jobs.relax import RelaxMaker

    maker = RelaxMaker(preset=preset, preset_overrides=preset_overrides, checkpoint=False)
    hashes = [maker.content_hash(a) for a in candidates]
    blob = json.dumps({"candidates": hashes, "settings": settings.hashed()}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()


def _keep(energies: dict[int, float], count: int, window: float) -> list[int]:
    """The ``count`` lowest indices within ``window`` of the lowest, lowest first (ties by index)."""
    order = sorted(energies, key=lambda i: (energies[i], i))
    if not order:
        return []
    best = energies[order[0]]
    return [i for i in order[:count] if energies[i] - best <= window]


def run_funnel(
    label: str, candidates: list[Atoms], infos: list[dict], preset: str, preset_overrides: dict,
    settings: FunnelSettings, kind: str, metadata: dict | None = None, workers: int | None = None,
    checkpoint_dir: str | None = None, store: Any = None,
) -> FunnelDoc:
    """Screen ``candidates`` and relax the best to convergence.

    Parameters
    ----------
    label
        What is screened (stored, and the prefix of each relaxation's label).
    candidates, infos
        The candidate structures (with their ``layer``/``part`` arrays and fixed atoms) and what
        each is (stored with it).
    preset, preset_overrides
        The calculator preset of every stage.
    settings
        Stage sizes, loose fmax and energy window.
    kind, metadata
        Stored with each relaxation (``metadata`` gets the candidate's ``info`` added).
    workers
        Worker processes; None: :func:`spillover.workers.worker_count`.
    checkpoint_dir
        Where relaxations checkpoint (None: the RelaxMaker default).
    store
        Store to look the funnel's hash up in; None: the running job's.

    Returns
    -------
    FunnelDoc
        Every candidate with its stage energies, the final relaxations, the survivor.
    """
    if len(candidates) != len(infos) or not candidates:
        raise ValueError(f"{label}: {len(candidates)} candidates with {len(infos)} descriptions")
    digest = funnel_hash(candidates, preset, preset_overrides, settings)
    stored = stored_copy(FunnelDoc, "funnel", digest, store=store)
    if stored is not None:
        return stored

    workers = worker_count() if workers is None else workers
    base = {"preset": preset, "preset_overrides": preset_overrides, "kind": kind, "checkpoint_dir": checkpoint_dir}
    stages: list[StageCost] = []

    started = time.perf_counter()
    sp = map_tasks(single_point_energy, [{**base, "atoms": a} for a in candidates], workers)
    stages.append(StageCost(name="single point", candidates=len(sp), force_calls=len(sp),
                            wall_time_s=time.perf_counter() - started))
    entries = [Candidate(index=i, info=infos[i], single_point_eV=e, stage="single point") for i, e in enumerate(sp)]

    def relax_stage(name: str, picks: list[int], start: dict[int, Atoms], fmax: float | None,
                    common: dict[str, Any] = base) -> dict[int, Any]:
        began = time.perf_counter()
        tasks = [{**common, "atoms": start[i], "fmax": fmax, "label": f"{label} #{i} {name}",
                  "metadata": {**(metadata or {}), "funnel": {"candidate": i, "stage": name, **infos[i]}}}
                 for i in picks]
        docs = map_tasks(relax_candidate, tasks, workers)
        stages.append(StageCost(name=name, candidates=len(docs), force_calls=sum(d.force_calls or 0 for d in docs),
                                wall_time_s=time.perf_counter() - began))
        return dict(zip(picks, docs))

    loose_picks = _keep(dict(enumerate(sp)), settings.loose_n, settings.window_eV)
    loose = relax_stage("loose", loose_picks, {i: candidates[i] for i in loose_picks}, settings.loose_fmax)
    for i, doc in loose.items():
        entries[i].loose_eV, entries[i].loose_converged, entries[i].stage = doc.energy_eV, doc.converged, "loose"

    final_picks = _keep({i: d.energy_eV for i, d in loose.items()}, settings.final_m, settings.window_eV)
    final = relax_stage("final", final_picks, {i: _atoms_of(loose[i], candidates[i]) for i in final_picks}, None)
    for i, doc in final.items():
        entries[i].final_eV, entries[i].final_converged, entries[i].stage = doc.energy_eV, doc.converged, "final"

    survivors = sorted(final.items(), key=lambda kv: (not kv[1].converged, kv[1].energy_eV, kv[0]))
    converged = [i for i, d in survivors if d.converged]
    dft: dict[int, Any] = {}
    if settings.dft_preset:
        at_dft = {**base, "preset": settings.dft_preset, "preset_overrides": settings.dft_preset_overrides}
        picks = converged[:settings.dft_k]
        start = {i: _atoms_of(final[i], candidates[i]) for i in picks}
        began = time.perf_counter()
        dft_sp = map_tasks(single_point_energy, [{**at_dft, "atoms": start[i]} for i in picks], workers)
        stages.append(StageCost(name="dft single point", candidates=len(picks), force_calls=len(picks),
                                wall_time_s=time.perf_counter() - began))
        dft = relax_stage("dft final", picks, start, None, at_dft)
        for i, e in zip(picks, dft_sp):
            doc = dft[i]
            entries[i].dft_single_point_eV, entries[i].dft_final_eV = e, doc.energy_eV
            entries[i].dft_final_converged, entries[i].stage = doc.converged, "dft"
    from spillover.calculators import load_preset

    resolved = load_preset(preset, preset_overrides or None)
    return FunnelDoc(
        preset=resolved.name, preset_resolved=resolved.model_dump(),
        label=label, settings=settings.model_dump(), candidates=entries, stages=stages,
        survivors=[d for _, d in survivors], survivor=converged[0] if converged else None,
        n_unconverged=sum(1 for _, d in survivors if not d.converged),
        dft_preset=load_preset(settings.dft_preset, settings.dft_preset_overrides or None).name if dft else None,
        dft_survivors=[d for _, d in sorted(dft.items(), key=lambda kv: (not kv[1].converged, kv[1].energy_eV, kv[0]))],
        force_calls=sum(s.force_calls for s in stages), workers=workers, content_hash=digest,
    )


def _atoms_of(doc: Any, template: Atoms) -> Atoms:
    """The relaxed structure of ``doc`` with the candidate's arrays and constraints."""
    from spillover.schemas import calc_atoms

    atoms = calc_atoms(doc)
    for key, value in template.arrays.items():
        if key not in atoms.arrays and len(value) == len(atoms):
            atoms.arrays[key] = np.array(value)
    return atoms


__all__ = ["funnel_hash", "relax_candidate", "run_funnel", "single_point_energy"]
