"""Climbing-image NEB of a vacancy hop: relaxed endpoints, IDPP or given start band, resumable.

The band is :class:`ase.mep.NEB` (improved tangent, climbing image) driven by an ASE optimizer;
the initial band is ASE's IDPP interpolation, or the converged band of another job (the
fidelity ladder: a ``screen`` band starts the DFT band of the same hop). After every optimizer
step the whole band (positions, energies, forces) and the job's counters are written atomically
to a checkpoint directory named by the content hash of the hop and the band settings, so a job
that is killed and started again continues from its last band. Calculator calls are counted by
wrapping each image's calculator (:class:`CountingCalculator`).

A quasi-Newton optimizer (BFGS, LBFGS) can run a band away: images tens of eV above the path, forces
of tens of eV/Å, and the step budget spent. When the highest image rises more than
``NebSettings.blowup_eV`` above the lowest highest image of the band so far, the band goes back to
that best band (saved as ``best.traj``) and ``NebSettings.fallback_optimizer`` (FIRE) takes over
with a step budget of its own (and steps of at most ``NebSettings.fallback_maxstep`` where set); the
document records the switch (``fallback``). With ``fallback_maxstep`` set, a FIRE band is watched too
(FIRE to FIRE): its climbing image ran away on a DFT band whose ends were single points, not minima
(``lowest_image_rel_eV`` tells such a band).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.singlepoint import SinglePointCalculator
from ase.constraints import FixAtoms
from ase.geometry import find_mic
from jobflow import Maker, job
from monty.json import jsanitize
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor

from spillover.build.barriers import check_endpoints
from spillover.calculators import (
    MPI_COMMAND_ENV,
    MPI_LOCAL_RANKS_ENV,
    NebSettings,
    Preset,
    calculator_parameters,
    close_calculator,
    load_preset,
    make_calculator,
)
from spillover.errors import InputError
from spillover.jobs.relax import RelaxMaker
from spillover.schemas import CalcDoc, as_structure, content_hash, fixed_indices
from spillover.schemas.neb import EndpointSummary, NebDoc
from spillover.sections.base import BAND_STEPS, CUTOFF, FMAX, IMAGES, SPRING
from spillover.settings import get_settings

CHECKPOINT_SUBDIR = "neb-checkpoints"
_NEB_OVERRIDES = ("n_images", "spring_constant", "fmax", "steps", "optimizer")
#: Ranges of the band settings: images and steps multiply the force calls of a band.
BAND_RANGES = {"n_images": IMAGES, "steps": BAND_STEPS, "fmax": FMAX, "spring_constant": SPRING}


class CountingCalculator(Calculator):
    """Wrap a calculator and count its calculations (one per new geometry).

    ASE's caching decides when :meth:`calculate` runs, so ``calls`` is the number of
    energy-and-forces evaluations the wrapped calculator made.
    """

    implemented_properties = ["energy", "forces"]

    def __init__(self, inner: Calculator) -> None:
        super().__init__()
        self.inner = inner
        self.calls = 0

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes) -> None:  # noqa: D102
        super().calculate(atoms, properties, system_changes)
        forces = self.inner.get_forces(self.atoms)
        energy = self.inner.get_potential_energy(self.atoms)
        self.calls += 1
        self.results = {"energy": float(energy), "forces": np.array(forces)}


def resample_band(band: list[np.ndarray], n_images: int, cell: np.ndarray, pbc: np.ndarray) -> list[np.ndarray]:
    """``n_images`` intermediate images equally spaced along a band (piecewise linear, minimum image).

    Parameters
    ----------
    band
        Positions of every image of the band, endpoints included.
    n_images
        Intermediate images wanted.
    """
    unwrapped = [np.asarray(band[0], dtype=float)]
    for positions in band[1:]:
        step, _ = find_mic(np.asarray(positions) - unwrapped[-1], cell, pbc)
        unwrapped.append(unwrapped[-1] + step)
    if len(band) - 2 == n_images:
        return [p.copy() for p in unwrapped[1:-1]]
    lengths = [np.linalg.norm(b - a) for a, b in zip(unwrapped[:-1], unwrapped[1:])]
    s = np.concatenate([[0.0], np.cumsum(lengths)])
    targets = np.linspace(0.0, s[-1], n_images + 2)[1:-1]
    out = []
    for t in targets:
        k = min(int(np.searchsorted(s, t, side="right")) - 1, len(s) - 2)
        w = 0.0 if s[k + 1] == s[k] else (t - s[k]) / (s[k + 1] - s[k])
        out.append((1 - w) * unwrapped[k] + w * unwrapped[k + 1])
    return out


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


@dataclass
class Checkpoint:
    """Checkpoint files of one band.

    ``path`` holds ``endpoints.json`` (the relaxed endpoints, shared by every band of the hop at
    this preset); ``band_path`` (one per band setting and kind of start) holds ``band.traj`` (the
    last band, all images with energies and forces), ``state.json`` (counters and energy history)
    and ``neb.log`` (the optimizer log). Files are replaced atomically.
    """

    path: Path
    band_path: Path

    def state(self) -> dict[str, Any] | None:
        """Counters and energy history of the runs so far, or None."""
        try:
            return json.loads((self.band_path / "state.json").read_text())
        except (OSError, ValueError):
            return None

    def save_state(self, state: dict[str, Any]) -> None:
        """Write the counters and history (atomically)."""
        _atomic_write(self.band_path / "state.json", lambda p: p.write_text(json.dumps(state)))

    def endpoints(self) -> list[CalcDoc] | None:
        """The two relaxed endpoint documents, or None."""
        try:
            return [CalcDoc.model_validate(d) for d in json.loads((self.path / "endpoints.json").read_text())]
        except (OSError, ValueError):
            return None

    def save_endpoints(self, docs: list[CalcDoc]) -> None:
        """Write the two endpoint documents (atomically)."""
        text = json.dumps(jsanitize([d.model_dump() for d in docs], strict=False))
        _atomic_write(self.path / "endpoints.json", lambda p: p.write_text(text))

    def band(self, numbers: np.ndarray, n_total: int, name: str = "band") -> list[Atoms] | None:
        """The last checkpointed band (``name`` 'best': the saved best band), if it fits (same atoms and images)."""
        from ase.io import read

        path = self.band_path / f"{name}.traj"
        if not path.is_file():
            return None
        try:
            images = read(path, index=":")
        except Exception:  # noqa: BLE001 - an unreadable checkpoint is no checkpoint
            return None
        if len(images) != n_total or any(not np.array_equal(im.numbers, numbers) for im in images):
            return None
        return images

    def save_band(self, images: list[Atoms], name: str = "band") -> None:
        """Write the band (atomically); ``name`` 'best' for the band a fallback optimizer would start from."""
        from ase.io import write

        _atomic_write(self.band_path / f"{name}.traj", lambda p: write(p, images, format="traj"))


class BandBlewUp(Exception):
    """Raised from the optimizer's observer when the band blows up (:func:`first_blowup`)."""

    def __init__(self, detected_at: int, best: int) -> None:
        super().__init__(f"band blew up at history index {detected_at} (best band: {best})")
        self.detected_at, self.best = detected_at, best


def first_blowup(history: list[list[float]], threshold_eV: float, start: int = 0) -> tuple[int, int] | None:
    """The first band of a history whose highest image lies more than ``threshold_eV`` above the lowest before it.

    Parameters
    ----------
    history
        Image energies (endpoints included) of every band, in order.
    threshold_eV
        Rise that counts as a blow-up (eV).
    start
        Index of the first band to look at.

    Returns
    -------
    (detected_at, best) or None
        Index of that band and of the band of lowest highest image before it; None: no blow-up.
    """
    best = None
    for k in range(start, len(history)):
        highest = max(history[k][1:-1])
        if best is None or highest < max(history[best][1:-1]):
            best = k
        elif highest - max(history[best][1:-1]) > threshold_eV:
            return k, best
    return None


def _fallback_record(settings: NebSettings, detected_at: int, restored_from: int | None, restart: str,
                     steps_before: int, history_start: int) -> dict[str, Any]:
    """The state's (and the document's) record of a switch to the fallback optimizer (OptimizerFallback)."""
    return {"from_optimizer": settings.optimizer, "optimizer": settings.fallback_optimizer,
            "maxstep_A": settings.fallback_maxstep, "blowup_eV": settings.blowup_eV, "detected_at": detected_at,
            "restored_from": restored_from, "restart": restart, "steps_before": steps_before,
            "history_start": history_start}


def _summary(doc: CalcDoc) -> EndpointSummary:
    return EndpointSummary(
        energy_eV=doc.energy_eV,
        max_force_eV_per_A=doc.max_force_eV_per_A,
        converged=doc.converged,
        n_ionic_steps=doc.n_ionic_steps,
        force_calls=len(doc.ionic_steps),
        content_hash=doc.content_hash,
    )


@dataclass
class NebMaker(Maker):
    """Climbing-image NEB between two vacancy configurations, with a preset's calculator.

    Parameters
    ----------
    name
        Job name.
    preset
        Calculator preset; its ``neb`` section gives the band settings.
    preset_overrides
        Nested overrides deep-merged into the preset (endpoints and band alike).
    n_images, spring_constant, fmax, steps, optimizer
        Override the preset's ``neb`` settings; ``None`` keeps them.
    relax_endpoints
        Relax both endpoints first (same preset, same fixed atoms); else single points.
    max_hop_A
        Refuse endpoints in which an atom moves farther than this (Å).
    checkpoint_dir
        Directory under which the band's checkpoint directory is made; ``None``:
        ``$SPILLOVER_SCRATCH/neb-checkpoints``. Give an absolute path: jobs run in their own folders.
    """

    name: str = "neb"
    preset: str = "screen"
    preset_overrides: dict = field(default_factory=dict)
    n_images: int | None = None
    spring_constant: float | None = None
    fmax: float | None = None
    steps: int | None = None
    optimizer: str | None = None
    relax_endpoints: bool = True
    max_hop_A: float | None = None
    checkpoint_dir: str | None = None

    def resolved_preset(self) -> Preset:
        """The preset with this job's overrides, the band overrides included.

        Raises
        ------
        InputError
            A band setting outside its range (:data:`BAND_RANGES`), given to this Maker or by the
            preset and its overrides, or ``max_hop_A`` outside 0 < x <= 6 Å.
        """
        for key, bound in BAND_RANGES.items():
            if getattr(self, key) is not None:
                bound.check(getattr(self, key), key)
        if self.max_hop_A is not None:
            CUTOFF.check(self.max_hop_A, "max_hop_A")
        band = {k: getattr(self, k) for k in _NEB_OVERRIDES if getattr(self, k) is not None}
        overrides = dict(self.preset_overrides or {})
        if band:
            overrides["neb"] = {**overrides.get("neb", {}), **band}
        preset = load_preset(self.preset, overrides or None)
        for key, bound in BAND_RANGES.items():  # the preset's own NebSettings only ask for positive numbers
            bound.check(getattr(preset.neb, key), f"preset.neb.{key}")
        return preset

    @job(output_schema=NebDoc)
    def make(
        self,
        initial: Structure | dict,
        final: Structure | dict,
        hop: dict | None = None,
        start_band: dict | None = None,
        start_band_source: str | None = None,
        metadata: dict | None = None,
    ) -> NebDoc:
        """Relax the endpoints, run the band, return its document.

        Parameters
        ----------
        initial, final
            Endpoint structures with the same atoms in the same order; ``selective_dynamics``
            marks fixed atoms.
        hop
            The hop (:meth:`spillover.build.barriers.Hop.to_dict`), stored with the result.
        start_band
            A :class:`~spillover.schemas.neb.NebDoc` (e.g. the ``screen`` band of this hop) whose
            images start this band instead of IDPP.
        start_band_source
            How to name that band, e.g. ``'band of job <uuid> at screen'``.
        metadata
            Extra provenance stored with the result.
        """
        if start_band is not None and hasattr(start_band, "model_dump"):
            start_band = start_band.model_dump()
        from spillover.jobs.reuse import stored_copy

        preset = self.resolved_preset()
        a0, _, _, _, params, task, band_key = self._inputs(preset, as_structure(initial), as_structure(final),
                                                           start_band)
        # the same band (endpoints, calculator, band settings, how it starts) converged at this fmax or tighter
        stored = stored_copy(NebDoc, "neb", content_hash(a0, params, {**task, "neb": band_key}),
                             {"converged": True, "fmax_target_eV_per_A": {"$lte": preset.neb.fmax}})
        if stored is not None:
            return stored.model_copy(update={"metadata": metadata or stored.metadata})
        return self.compute(
            as_structure(initial), as_structure(final), hop=hop, start_band=start_band,
            start_band_source=start_band_source, metadata=metadata,
        )

    def _inputs(self, preset: Preset, initial: Structure, final: Structure, start_band: dict | None) -> tuple:
        """Endpoints as Atoms (and as structures) with what the band's content hash covers.

        A start band brings its own relaxed endpoints. Returns ``(a0, a1, initial, final, params,
        task, band_key)``: the endpoints' hash is ``content_hash(a0, params, task)``, the band's adds
        ``band_key`` (band settings and how it starts) to ``task``.
        """
        a0, a1 = AseAtomsAdaptor.get_atoms(initial), AseAtomsAdaptor.get_atoms(final)
        check_endpoints(a0, a1, self.max_hop_A)
        if start_band is not None:
            if list(start_band["symbols"]) != a0.get_chemical_symbols():
                raise InputError("start_band", "its atoms differ from the endpoints'", "a band of the same hop")
            band_ends = (start_band["image_positions_A"][0], start_band["image_positions_A"][-1])
            for atoms, positions in zip((a0, a1), band_ends):
                atoms.set_positions(np.asarray(positions), apply_constraint=False)
            initial, final = AseAtomsAdaptor.get_structure(a0), AseAtomsAdaptor.get_structure(a1)
        params = calculator_parameters(preset, a0)
        task = {
            "final_positions": np.round(a1.positions, 5).tolist(),
            "relax_endpoints": self.relax_endpoints,
            "relax": preset.relax.model_dump(),
        }
        band_key = {k: getattr(preset.neb, k) for k in ("n_images", "spring_constant", "climb", "method")}
        band_key["start"] = "idpp" if start_band is None else "band"
        if preset.neb.seed_displacement_A > 0:  # only then: unseeded bands keep their stored hashes
            band_key["seed_displacement"] = {"A": preset.neb.seed_displacement_A, "seed": preset.neb.seed}
        if corrected_ladder(preset, start_band):
            band_key["ladder"] = {"mode": "corrected", "trust_A": preset.neb.corrected_trust_A,
                                  "stall_steps": preset.neb.corrected_stall_steps}
        return a0, a1, initial, final, params, task, band_key

    def checkpoint_root(self) -> Path:
        """Where checkpoint directories are made."""
        root = Path(self.checkpoint_dir) if self.checkpoint_dir else Path(get_settings().scratch) / CHECKPOINT_SUBDIR
        return root.resolve()

    def _endpoint_docs(self, initial: Structure, final: Structure, label: str) -> list[CalcDoc]:
        maker = RelaxMaker(
            preset=self.preset, preset_overrides=self.preset_overrides, relax_cell=False,
            steps=None if self.relax_endpoints else 0,
        )
        return [
            maker.compute(s, label=f"{label} ({which})", kind="defect")
            for s, which in ((initial, "initial"), (final, "final"))
        ]

    def compute(
        self,
        initial: Structure,
        final: Structure,
        hop: dict | None = None,
        start_band: dict | None = None,
        start_band_source: str | None = None,
        metadata: dict | None = None,
    ) -> NebDoc:
        """Do the work of :meth:`make` outside jobflow (tests, the ``spillover neb`` command)."""
        from ase.mep import NEB, NEBTools
        from ase.optimize import BFGS, FIRE, LBFGS, MDMin
        from ase.utils.forcecurve import fit_images

        started = time.perf_counter()
        hop = dict(hop or {})
        label = hop.get("label", "custom band")
        preset = self.resolved_preset()
        settings: NebSettings = preset.neb
        a0, a1, initial, final, params, task, band_key = self._inputs(preset, initial, final, start_band)
        digest = content_hash(a0, params, task)
        band_digest = content_hash(a0, params, {**task, "neb": band_key})
        path = self.checkpoint_root() / f"neb-{digest[:16]}"
        ckpt = Checkpoint(path, path / f"band-{band_key['start']}-{band_digest[:12]}")
        ckpt.band_path.mkdir(parents=True, exist_ok=True)
        state = ckpt.state() or {}

        docs = ckpt.endpoints()
        if docs is None:
            docs = self._endpoint_docs(initial, final, label)
            ckpt.save_endpoints(docs)
        fixed = sorted(set(fixed_indices(a0)) | set(fixed_indices(a1)))
        ends = []
        for atoms, doc in zip((a0, a1), docs):
            end = Atoms(atoms.numbers, positions=as_structure(doc.structure).cart_coords, cell=a0.cell, pbc=a0.pbc)
            end.set_constraint(FixAtoms(indices=fixed) if fixed else None)
            ends.append(end)
        n_total = settings.n_images + 2

        history: list[list[float]] = list(state.get("energy_history", []))
        fallback = state.get("fallback")
        watch = settings.fallback_optimizer is not None and (
            settings.fallback_optimizer != settings.optimizer or settings.fallback_maxstep is not None)
        # a blow-up that no fallback followed yet: the job was stopped in between, or the band ran before
        # fallbacks existed; its fallback starts from the saved best band, else from the band's first start
        pending = first_blowup(history, settings.blowup_eV) if state and fallback is None and watch else None
        if pending is not None:
            saved = state.get("best_index") == pending[1]
            band = ckpt.band(a0.numbers, n_total, "best") if saved else None
            restored_from = pending[1] if band is not None else None
        else:
            band = ckpt.band(a0.numbers, n_total) if state else None
        if band is not None:
            source = "checkpoint" if pending is None else f"checkpoint (best band, history index {restored_from})"
            start_positions = [im.positions for im in band[1:-1]]
        elif start_band is not None:
            source = start_band_source or f"band at {start_band.get('preset', '?')}"
            positions = [ends[0].positions, *[np.asarray(p) for p in start_band["image_positions_A"][1:-1]],
                         ends[1].positions]
            start_positions = resample_band(positions, settings.n_images, a0.cell, a0.pbc)
        else:
            source, start_positions = "idpp", None

        images = [ends[0]]
        for _ in range(settings.n_images):
            image = ends[0].copy()
            image.set_constraint(FixAtoms(indices=fixed) if fixed else None)
            images.append(image)
        images.append(ends[1])
        neb = NEB(images, k=settings.spring_constant, climb=settings.climb, method=settings.method)
        if start_positions is None:
            neb.interpolate("idpp", mic=True, apply_constraint=True)
        else:
            for image, positions in zip(images[1:-1], start_positions):
                image.set_positions(positions, apply_constraint=False)
        if band is None and settings.seed_displacement_A > 0:
            seed_displacement(images[1:-1], fixed, settings.seed_displacement_A, settings.seed)

        counters, image_params = [], params
        shared = None
        if images_share_calculator(preset):
            shared, image_params = self._image_calculator(preset, images[1], 1)
        for k, image in enumerate(images[1:-1], start=1):
            if shared is None:
                calc, image_params = self._image_calculator(preset, image, k)
            counters.append(CountingCalculator(shared or calc))
            image.calc = counters[-1]
        for end, doc in zip(ends, docs):  # a dipole-corrected GPAW slab is non-periodic along z: all alike
            end.pbc = images[1].pbc
            end.calc = SinglePointCalculator(end, energy=doc.energy_eV, forces=np.zeros((len(end), 3)))

        base_steps = int(state.get("steps", 0))
        base_calls = int(state.get("band_force_calls", 0))
        base_wall = float(state.get("wall_time_s", 0.0))
        run_starts = [*state.get("run_start_steps", []), len(history)]
        runs = int(state.get("runs", 0)) + 1
        initial_source = state.get("initial_start_band", source)
        if pending is not None:
            restart = (f"the best band before the blow-up (history index {restored_from})" if restored_from is not None
                       else f"the band's first start ({initial_source}): the best band was not saved")
            fallback = _fallback_record(settings, pending[0], restored_from, restart, base_steps, len(history))
        best_index = state.get("best_index")
        optimizers = {"FIRE": FIRE, "BFGS": BFGS, "LBFGS": LBFGS, "MDMin": MDMin}
        run = {"offset": base_steps, "opt": None}
        corrected = dict(state.get("corrected") or {}) if corrected_ladder(preset, start_band) else None
        if corrected is not None:
            corrected.setdefault("surrogate_preset", start_band.get("preset"))
            corrected.setdefault("steps", 0)
            corrected.setdefault("surrogate_force_calls", 0)
            corrected.setdefault("stalled", False)
            corrected.setdefault("done", False)

        def save_state() -> None:
            ckpt.save_state({
                "steps": run["offset"] + (run["opt"].nsteps if run["opt"] is not None else 0),
                "band_force_calls": base_calls + sum(c.calls for c in counters),
                "wall_time_s": base_wall + time.perf_counter() - started,
                "energy_history": history,
                "run_start_steps": run_starts,
                "runs": runs,
                "initial_start_band": initial_source,
                "hop": label,
                "fallback": fallback,
                "best_index": best_index,
                "corrected": corrected,
            })

        def checkpoint() -> None:
            """Called by the optimizer after every force evaluation of the band."""
            nonlocal best_index
            history.append([float(e) for e in neb.energies])
            ckpt.save_band(list(neb.iterimages()))
            hit = first_blowup(history, settings.blowup_eV) if fallback is None and watch else None
            if fallback is None and watch and hit is None and (
                    best_index is None or max(history[-1][1:-1]) < max(history[best_index][1:-1])):
                best_index = len(history) - 1
                ckpt.save_band(list(neb.iterimages()), "best")
            save_state()
            if hit is not None:
                raise BandBlewUp(*hit)

        try:
            converged = False
            if corrected is not None and not corrected["done"]:
                def record() -> None:  # no blow-up watch: corrected steps are capped by the trust radius
                    history.append([float(e) for e in neb.energies])
                    ckpt.save_band(list(neb.iterimages()))
                    save_state()

                converged = self._corrected_steps(neb, start_band, settings, corrected, run, record, save_state)
            while not converged:
                name = fallback["optimizer"] if fallback else settings.optimizer
                done = run["offset"] - (fallback["steps_before"] if fallback else 0)
                maxstep = {"maxstep": fallback["maxstep_A"]} if fallback and fallback.get("maxstep_A") else {}
                run["opt"] = optimizers[name](neb, logfile=str(ckpt.band_path / "neb.log"), **maxstep)
                try:
                    with run["opt"]:
                        run["opt"].attach(checkpoint, interval=1)
                        converged = bool(run["opt"].run(fmax=settings.fmax, steps=max(settings.steps - done, 0)))
                    break
                except BandBlewUp as hit:
                    run["offset"] += run["opt"].nsteps
                    run["opt"] = None
                    for image, atoms in zip(images[1:-1], ckpt.band(a0.numbers, n_total, "best")[1:-1]):
                        image.set_positions(atoms.positions, apply_constraint=False)
                    fallback = _fallback_record(settings, hit.detected_at, hit.best,
                                                f"the best band before the blow-up (history index {hit.best})",
                                                run["offset"], len(history))
                    save_state()
            forces = neb.get_forces().reshape(settings.n_images, len(a0), 3)  # cached: no new calculations
        finally:
            for counter in counters:  # GPAW in MPI ranks: end them with the band
                close_calculator(counter.inner)
        norms = np.linalg.norm(forces, axis=2)
        climbing = int(neb.imax)
        final_images = list(neb.iterimages())
        energies = [float(e) for e in neb.energies]
        tools = NEBTools(final_images)
        ea_forward, d_e = tools.get_barrier(fit=False)
        ea_spline, _ = tools.get_barrier(fit=True)
        fit = fit_images(final_images)
        band_calls = base_calls + sum(c.calls for c in counters)
        endpoint_calls = sum(len(d.ionic_steps) for d in docs)
        support = hop.get("support") or ""
        return NebDoc(
            label=label,
            region=hop.get("region") or "custom",
            support=support,
            hop=hop,
            formula=a0.get_chemical_formula(mode="hill"),
            natoms=len(a0),
            Ea_forward_eV=float(ea_forward),
            Ea_reverse_eV=float(max(energies) - energies[-1]),
            dE_eV=float(d_e),
            Ea_forward_spline_eV=float(ea_spline),
            energies_eV=energies,
            relative_energies_eV=[e - energies[0] for e in energies],
            path_A=[float(x) for x in fit.path],
            spline_path_A=[float(x) for x in fit.fit_path],
            spline_energies_eV=[float(x) for x in fit.fit_energies],
            image_positions_A=[im.positions.tolist() for im in final_images],
            symbols=a0.get_chemical_symbols(),
            cell_A=np.asarray(a0.cell).tolist(),
            pbc=[bool(p) for p in images[1].pbc],
            fixed_indices=fixed,
            climbing_image=climbing,
            climbing_image_max_force_eV_per_A=float(norms[climbing - 1].max()),
            max_force_eV_per_A=float(norms.max()),
            converged=converged,
            n_images=settings.n_images,
            spring_constant=settings.spring_constant,
            climb=settings.climb,
            method=settings.method,
            optimizer=settings.optimizer,
            ladder=None if corrected is None else "corrected",
            corrected_steps=None if corrected is None else corrected["steps"],
            surrogate_force_calls=None if corrected is None else corrected["surrogate_force_calls"],
            surrogate_preset=None if corrected is None else corrected["surrogate_preset"],
            corrected_stalled=None if corrected is None else corrected["stalled"],
            seed_displacement_A=settings.seed_displacement_A,
            fallback=fallback,
            lowest_image_rel_eV=float(min(energies[1:-1]) - min(energies[0], energies[-1])),
            fmax_target_eV_per_A=settings.fmax,
            steps_max=settings.steps,
            optimizer_steps=run["offset"] + (run["opt"].nsteps if run["opt"] is not None else 0),
            band_force_calls=band_calls,
            endpoint_force_calls=endpoint_calls,
            force_calls=band_calls + endpoint_calls,
            wall_time_s=base_wall + time.perf_counter() - started,
            runs=runs,
            start_band=source,
            initial_start_band=initial_source,
            band_energy_history_eV=history,
            run_start_steps=run_starts,
            endpoints=[_summary(d) for d in docs],
            relax_endpoints=self.relax_endpoints,
            checkpoint_dir=str(ckpt.band_path),
            preset=preset.name,
            preset_resolved=preset.model_dump(),
            calculator=preset.calculator,
            parameters=image_params,
            content_hash=band_digest,
            metadata=metadata or {},
        )

    def _corrected_steps(self, neb, start_band: dict, settings: NebSettings, corrected: dict, run: dict,
                         checkpoint, save_state) -> bool:
        """Corrected steps (:mod:`spillover.jobs.corrected_band`) on the start band's preset; True: converged.

        Each DFT evaluation of the band is one optimizer step of the document; a band that stalls goes on
        under ``settings.optimizer`` with the steps left.
        """
        from spillover.jobs.corrected_band import run_corrected_band

        surrogate_preset = Preset.model_validate(start_band["preset_resolved"])
        with contextlib.redirect_stdout(io.StringIO()):  # CHGNet prints its device
            surrogate, _ = make_calculator(surrogate_preset, neb.images[1], stress=False)
        left = max(settings.steps - run["offset"], 0)
        try:
            result = run_corrected_band(neb, surrogate, settings.fmax, max(left - 1, 0), settings.corrected_trust_A,
                                        settings.corrected_stall_steps, checkpoint)
        finally:
            close_calculator(surrogate)
        # the first DFT evaluation is the band's start, like an optimizer's step 0
        run["offset"] += max(result.steps, 0)
        corrected["steps"] += result.steps
        corrected["surrogate_force_calls"] += result.surrogate_force_calls
        corrected["stalled"] = result.stalled
        corrected["done"] = True
        save_state()
        return result.converged

    @staticmethod
    def _image_calculator(preset: Preset, atoms: Atoms, k: int) -> tuple[Calculator, dict]:
        """One calculator per image (GPAW keeps each image's wave functions between steps).

        GPAW images run without symmetry (a band breaks it) and write ``neb-image-<k>.txt``.
        """
        if preset.calculator == "gpaw":
            gpaw = {**preset.gpaw, "symmetry": "off"}
            if gpaw.get("txt"):
                gpaw["txt"] = f"neb-image-{k:02d}.txt"
            preset = preset.model_copy(update={"gpaw": gpaw})
        with contextlib.redirect_stdout(io.StringIO()):  # CHGNet prints its device
            return make_calculator(preset, atoms, stress=False)


def seed_displacement(images: list[Atoms], fixed: list[int], length_A: float, seed: int) -> None:
    """Move every free atom of ``images`` by ``length_A`` (Å) in a random direction, drawn with ``seed``.

    A band started on the symmetric subspace of a symmetric hop stays on it: the forces have the
    symmetry of the band. A small random move lets the band leave it towards a lower saddle.
    """
    rng = np.random.default_rng(seed)
    free = np.setdiff1d(np.arange(len(images[0])), np.asarray(fixed, dtype=int))
    for image in images:
        directions = rng.normal(size=(len(free), 3))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        positions = image.get_positions()
        positions[free] += length_A * directions
        image.set_positions(positions, apply_constraint=False)


def corrected_ladder(preset: Preset, start_band: dict | None) -> bool:
    """Whether a band runs the corrected ladder: started from a band of another preset, ``neb.ladder`` corrected."""
    return (start_band is not None and preset.neb.ladder == "corrected"
            and start_band.get("preset_resolved") is not None and start_band.get("preset") != preset.name)


def images_share_calculator(preset: Preset) -> bool:
    """Whether one calculator serves every image of a band: GPAW under a queue job's MPI command.

    ASE computes the images one after another. Under a queue job's command (``srun ...``) a second set
    of ranks would wait for the first to end, so one set serves them all, each image restarting its SCF
    from the other's state (17 SCF steps per call on the 47-atom rutile band of ``make bench-neb``).
    This machine's ranks (:data:`MPI_LOCAL_RANKS_ENV`, ``--mpi``) give each image ranks of its own,
    which keep its wave functions (11 steps per call there) and yield the cores while they wait.
    """
    return (preset.calculator == "gpaw" and bool(os.environ.get(MPI_COMMAND_ENV))
            and not os.environ.get(MPI_LOCAL_RANKS_ENV))
