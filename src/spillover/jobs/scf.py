"""GPAW SCF recovery: a geometry whose SCF cycle does not converge is computed again with safer settings.

GPAW raises :class:`gpaw.KohnShamConvergenceError` when its SCF cycle reaches ``maxiter``; GPAW 26
(the ``gpaw.new`` code that ``gpaw.GPAW`` builds) raises that class bare, or its subclass
``gpaw.new.scf.TooFewBandsError`` when the wave-function error is still infinite. Either way the
calculation is retried with the next change of the preset's ``scf.ladder`` added to the parameters
of the attempt before it (one change per attempt, each bounded):

``mixer``
    conservative density mixing, ``gpaw.Mixer(beta, nmaxold=5, weight=50)`` (``gpaw.MixerDif``
    when spin-polarised), beta from ``scf.mixer_betas`` (0.05, then 0.02);
``nbands``
    20 % more bands than the failed attempt had;
``smearing``
    the occupations width x2, capped (only where the preset sets a width);
``maxiter``
    twice the SCF iterations, capped.

A change that would change nothing (a cap reached, a smaller beta already set) is passed over. At
most ``scf.max_attempts`` attempts are made per geometry; the parameters that converged stay for
the rest of the job, so every later number comes from them. Each attempt is recorded (change,
parameters, outcome); when none converges the job fails with :class:`ScfConvergenceFailed`, whose
message lists what was tried.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ase.calculators.calculator import Calculator, all_changes

from spillover.calculators import ScfSettings, close_calculator

# GPAW's advice for systems that do not converge (gpaw documentation, "Mixer"): few old densities
# and a strong metric weight, with a small beta.
MIXER_NMAXOLD = 5
MIXER_WEIGHT = 50.0


class ScfConvergenceFailed(RuntimeError):
    """Every SCF attempt of a geometry failed; ``attempts`` holds them all (as stored in a CalcDoc)."""

    def __init__(self, message: str, attempts: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.attempts = attempts


def scf_failure_types() -> tuple[type[BaseException], ...]:
    """The exceptions of an SCF cycle that did not converge (none when GPAW is not installed)."""
    try:
        from gpaw import KohnShamConvergenceError
    except ImportError:
        return ()
    return (KohnShamConvergenceError,)


def _default_maxiter() -> int:
    from gpaw.dft import Parameters

    return int(Parameters(mode="pw").maxiter)


def _bands_of(calc: Any) -> int | None:
    try:
        return int(calc.get_number_of_bands())
    except Exception:  # noqa: BLE001 - a calculator that cannot say gives no band change
        return None


def _attempt_txt(txt: Any, attempt: int) -> Any:
    """``gpaw.txt`` -> ``gpaw.scf2.txt``: each attempt keeps its own GPAW log."""
    if not isinstance(txt, str) or txt in ("", "-"):
        return txt
    path = Path(txt)
    stem = path.name[: -len(path.suffix)] if path.suffix else path.name
    stem = stem.split(".scf")[0]
    return str(path.with_name(f"{stem}.scf{attempt}{path.suffix}"))


class ScfLadder:
    """The changes of ``settings.ladder`` in order, each applied to the parameters it is given.

    Parameters
    ----------
    settings
        The preset's ``scf`` settings.
    position
        Ladder entries already used (a resumed job continues where it was).
    """

    def __init__(self, settings: ScfSettings, position: int = 0) -> None:
        self.settings = settings
        self.position = position

    def next_change(self, params: dict[str, Any], calc: Any = None) -> tuple[str, dict[str, Any]] | None:
        """The next change that changes something, and the parameters with it; None when none is left.

        Parameters
        ----------
        params
            GPAW keyword arguments of the failed attempt.
        calc
            The failed calculator (asked for its number of bands).
        """
        while self.position < len(self.settings.ladder):
            kind = self.settings.ladder[self.position]
            n_mixer = self.settings.ladder[: self.position].count("mixer")
            self.position += 1
            change = getattr(self, f"_{kind}")(copy.deepcopy(params), calc, n_mixer)
            if change is not None:
                return change
        return None

    def _mixer(self, params: dict, calc: Any, n_mixer: int) -> tuple[str, dict] | None:
        from gpaw import Mixer, MixerDif

        if n_mixer >= len(self.settings.mixer_betas):
            return None
        beta = self.settings.mixer_betas[n_mixer]
        current = params.get("mixer")
        if isinstance(current, dict) and current.get("beta") is not None and current["beta"] <= beta:
            return None
        name, make = ("MixerDif", MixerDif) if params.get("spinpol") else ("Mixer", Mixer)
        params["mixer"] = make(beta=beta, nmaxold=MIXER_NMAXOLD, weight=MIXER_WEIGHT)
        return f"mixer {name}(beta={beta:g}, nmaxold={MIXER_NMAXOLD}, weight={MIXER_WEIGHT:g})", params

    def _nbands(self, params: dict, calc: Any, n_mixer: int) -> tuple[str, dict] | None:
        current = params.get("nbands")
        if not isinstance(current, int) or isinstance(current, bool) or current <= 0:
            current = _bands_of(calc)  # GPAW's own default, or a percentage or negative count resolved
        if not current:
            return None
        params["nbands"] = math.ceil(current * self.settings.nbands_factor)
        return f"nbands {current} -> {params['nbands']}", params

    def _smearing(self, params: dict, calc: Any, n_mixer: int) -> tuple[str, dict] | None:
        occupations = params.get("occupations")
        if not isinstance(occupations, dict) or not occupations.get("width"):
            return None  # no width set: GPAW's default depends on the system, so there is no safe x2
        width = float(occupations["width"])
        new = min(width * self.settings.width_factor, self.settings.max_width_eV)
        if new <= width:
            return None
        params["occupations"] = {**occupations, "width": new}
        return f"occupations width {width:g} -> {new:g} eV", params

    def _maxiter(self, params: dict, calc: Any, n_mixer: int) -> tuple[str, dict] | None:
        current = int(params.get("maxiter") or _default_maxiter())
        new = min(math.ceil(current * self.settings.maxiter_factor), self.settings.max_maxiter)
        if new <= current:
            return None
        params["maxiter"] = new
        return f"maxiter {current} -> {new}", params


class GuardedCalculator(Calculator):
    """The calculator a relaxation sees: counts the calculations and retries failed GPAW SCF cycles.

    Every new geometry computes ``properties`` at once (so a force call is one calculation of the
    wrapped calculator) and adds one to :attr:`calls`. With ``settings`` and ``rebuild`` (GPAW), an
    SCF failure is retried as the module docstring says; :attr:`parameters_in_use` are then the
    parameters of the last successful attempt and :attr:`attempts` the record of every attempt.

    Parameters
    ----------
    inner
        The calculator (ASE's or GPAW 26's, which is not an ASE ``Calculator`` subclass).
    parameters
        The keyword arguments ``inner`` was built with.
    properties
        Computed at every new geometry, e.g. ``["energy", "forces"]``, plus ``"stress"`` for cells.
    settings
        SCF retry settings; ``None``: failures propagate.
    rebuild
        Builds a new calculator from keyword arguments (:func:`spillover.calculators.gpaw_calculator`).
    attempts, position
        SCF record and ladder position of earlier runs of the same job (a resumed checkpoint).
    """

    def __init__(
        self,
        inner: Any,
        parameters: dict[str, Any],
        properties: list[str],
        settings: ScfSettings | None = None,
        rebuild: Callable[[dict[str, Any]], Any] | None = None,
        attempts: list[dict[str, Any]] | None = None,
        position: int = 0,
    ) -> None:
        super().__init__()
        self.inner = inner
        self.parameters_in_use = copy.deepcopy(parameters)
        self.implemented_properties = list(inner.implemented_properties)
        wanted = dict.fromkeys(("energy", "free_energy", *properties))
        self.properties = [p for p in wanted if p in self.implemented_properties]
        self.settings = settings
        self.rebuild = rebuild
        self.ladder = ScfLadder(settings, position) if settings is not None and rebuild is not None else None
        self.failure_types = scf_failure_types() if self.ladder is not None else ()
        self.attempts: list[dict[str, Any]] = copy.deepcopy(attempts or [])
        self.calls = 0
        #: Optimizer step of the current geometry, set by the checkpoint recorder; stored with SCF attempts.
        self.step = 0

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes) -> None:  # noqa: D102
        super().calculate(atoms, properties, system_changes)
        wanted = list(dict.fromkeys((*self.properties, *properties))) if system_changes else list(properties)
        self.results.update(self._compute(wanted))
        if system_changes:
            self.calls += 1

    def _compute(self, wanted: list[str]) -> dict[str, Any]:
        failures, change = 0, None
        while True:
            try:
                results = {p: self.inner.get_property(p, self.atoms) for p in wanted}
            except self.failure_types as err:
                failures += 1
                self.attempts.append(self._attempt(change, False, type(err).__name__))
                change = self._next(failures, err)
                continue
            if failures:
                self.attempts.append(self._attempt(change, True))
            return results

    def _attempt(self, change: str | None, converged: bool, error: str | None = None) -> dict[str, Any]:
        return {"change": change, "parameters": copy.deepcopy(self.parameters_in_use), "converged": converged,
                "error": error, "step": int(self.step)}

    def _next(self, failures: int, err: BaseException) -> str:
        """Rebuild the calculator with the next change; raise when attempts or changes are used up."""
        assert self.ladder is not None and self.settings is not None and self.rebuild is not None
        if failures >= self.settings.max_attempts:
            reason = f"scf.max_attempts ({self.settings.max_attempts}) reached"
            found = None
        else:
            found = self.ladder.next_change(self.parameters_in_use, self.inner)
            reason = f"no change of scf.ladder {self.settings.ladder} is left"
        if found is None:
            tried = self.attempts[len(self.attempts) - failures:]
            listing = "; ".join(f"({k}) {a['change'] or 'parameters in use'}: {a['error']}"
                                for k, a in enumerate(tried, start=1))
            raise ScfConvergenceFailed(
                f"GPAW SCF did not converge at optimizer step {self.step} in {failures} attempt(s): {listing}; "
                f"{reason}", copy.deepcopy(self.attempts)
            ) from err
        description, params = found
        params["txt"] = _attempt_txt(params.get("txt"), len(self.attempts) + 1)
        close_calculator(self.inner)
        self.inner = self.rebuild(params)
        self.parameters_in_use = params
        return description

    def scf_state(self) -> dict[str, Any]:
        """What a checkpoint keeps so that a resumed job uses the same parameters and ladder position."""
        return {"parameters": copy.deepcopy(self.parameters_in_use), "attempts": copy.deepcopy(self.attempts),
                "position": self.ladder.position if self.ladder is not None else 0}
