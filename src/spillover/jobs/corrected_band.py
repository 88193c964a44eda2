"""The corrected ladder: a DFT band relaxed on the screen model plus a correction fitted to DFT at each step.

A DFT band started from the converged screen band (the ``restart`` ladder) still needs as many DFT
optimizer steps as one started from IDPP when the screen saddle lies off the DFT one: on the 47-atom
rutile hop of ``make bench-neb`` the CHGNet saddle is 0.29 eV too high and the surrounding atoms relax
differently, and the restarted band took 80 DFT calls against 90 from IDPP. The ``corrected`` ladder
spends DFT calls only where they decide: each macro step computes DFT energies and forces at every
image (the only DFT calls), stops if the DFT NEB forces meet fmax, and otherwise relaxes the band on
the screen model plus, per image, the first-order difference measured there,

    E(x) = E_screen(x) + [E_DFT(x0) - E_screen(x0)] - [F_DFT(x0) - F_screen(x0)] . (x - x0),

which reproduces the DFT energy and forces at x0 exactly; the relaxed band is the next macro step's
geometry. It is a quasi-Newton step whose model Hessian is the screen model's. From the second macro
step on, a quadratic term 1/2 s.B.s (s = x - x0) is added whose matrix B, the Hessian of the difference,
is learned from the DFT-minus-screen forces of successive macro steps (Powell's symmetric Broyden
update): a first-order correction alone oscillated between 1 and 2.7 eV/Å for 50 steps on a CHGNet band
relaxed on the analytic pairs, and converged in 45 steps with the update. Atom moves per macro step
are capped (``NebSettings.corrected_trust_A``) because the correction holds near x0 only.
Convergence is decided by DFT alone, with the same criterion as any band (ASE's NEB forces, climbing
image included, below fmax), so a converged corrected band is a converged DFT band.

Opt-in (``neb.ladder: corrected``): on the DFT hop of ``make bench-neb`` (2026-12-07) the corrected band
stalled after 9 steps (20 DFT calls, fmax 0.3-0.4 eV/Å) while leaving the symmetric subspace that the
plain and restarted bands keep, and FIRE after it had not converged in 76 more calls (README).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

#: Inner (screen-model) bands converge to this fraction of the band's fmax before the next DFT step.
INNER_FMAX_FRACTION = 0.5
#: Largest atom move per inner FIRE step (Å), below ASE's 0.2 so that the trust cap is not overshot far.
INNER_MAXSTEP_A = 0.05


class CorrectedCalculator(Calculator):
    """A surrogate calculator plus a correction fitted at one geometry: exact energy and forces there,
    first order in the displacement, plus the learned quadratic term (``secant``).

    Parameters
    ----------
    inner
        The surrogate (screen-model) calculator; it may be shared by several images.
    secant
        Learn the Hessian of the difference from successive fits (else the correction stays first order).
    """

    implemented_properties = ["energy", "forces"]

    def __init__(self, inner: Calculator, secant: bool = True) -> None:
        super().__init__()
        self.inner = inner
        self.secant = secant
        self.hessian: np.ndarray | None = None
        self.calls = 0
        self.x0: np.ndarray | None = None
        self.delta_energy = 0.0
        self.delta_forces: np.ndarray | None = None

    def surrogate(self, atoms: Atoms) -> tuple[float, np.ndarray]:
        """Energy and (unconstrained) forces of the surrogate alone, counted."""
        probe = atoms.copy()
        probe.set_constraint()
        probe.calc = self.inner
        self.calls += 1
        return float(probe.get_potential_energy()), np.array(probe.get_forces())

    def fit(self, atoms: Atoms, energy: float, forces: np.ndarray) -> None:
        """Fit the correction so that this calculator gives ``energy`` and ``forces`` at ``atoms``.

        From the second fit on, the difference's Hessian is updated so that the correction also
        reproduces the change of the force difference between the last two fitted geometries (the
        secant condition; Powell's symmetric Broyden update, which allows an indefinite difference).
        """
        e0, f0 = self.surrogate(atoms)
        delta_forces = np.asarray(forces, dtype=float) - f0
        if self.x0 is not None and self.delta_forces is not None and self.hessian is not None:
            step = (atoms.positions - self.x0).ravel()
            change = -(delta_forces - self.delta_forces).ravel()  # gradient change of E_target - E_surrogate
            norm2 = float(step @ step)
            if norm2 > 1e-12:
                residual = change - self.hessian @ step
                self.hessian += (np.outer(residual, step) + np.outer(step, residual)) / norm2 \
                    - float(residual @ step) * np.outer(step, step) / norm2**2
        elif self.hessian is None:
            self.hessian = np.zeros((3 * len(atoms), 3 * len(atoms))) if self.secant else None
        self.x0 = atoms.positions.copy()
        self.delta_energy = energy - e0
        self.delta_forces = delta_forces
        self.reset()

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes) -> None:  # noqa: D102
        super().calculate(atoms, properties, system_changes)
        if self.x0 is None or self.delta_forces is None:
            raise RuntimeError("CorrectedCalculator.fit must be called before it is used")
        energy, forces = self.surrogate(self.atoms)
        shift = self.atoms.positions - self.x0
        energy += self.delta_energy - float((self.delta_forces * shift).sum())
        forces = forces + self.delta_forces
        if self.hessian is not None:
            curvature = (self.hessian @ shift.ravel()).reshape(shift.shape)
            energy += 0.5 * float((shift * curvature).sum())
            forces = forces - curvature
        self.results = {"energy": energy, "forces": forces}


@dataclass
class CorrectedResult:
    """How a corrected band ended."""

    converged: bool
    steps: int
    surrogate_force_calls: int
    stalled: bool


def band_fmax(forces: np.ndarray) -> float:
    """The largest per-atom NEB force (eV/Å) of a band's force array, as ASE's optimizers measure it."""
    return float(np.sqrt((np.asarray(forces).reshape(-1, 3) ** 2).sum(axis=1)).max())


def run_corrected_band(
    neb,
    surrogate: Calculator,
    fmax: float,
    steps: int,
    trust_A: float,
    stall_steps: int,
    on_step: Callable[[], None],
) -> CorrectedResult:
    """Relax a DFT band (``neb``, an :class:`ase.mep.NEB` whose images carry the DFT calculators) by corrected steps.

    Parameters
    ----------
    neb
        The band at the target level; its end images carry single-point energies.
    surrogate
        The screen-model calculator the corrected steps run on.
    fmax
        Threshold of the DFT NEB forces (eV/Å).
    steps
        Most macro steps (DFT evaluations of the band).
    trust_A
        Largest move of any atom from its place at the macro step's start (Å).
    stall_steps
        Stop when this many macro steps in a row did not lower the DFT band's fmax below its best.
    on_step
        Called after every DFT evaluation of the band (the checkpoint).

    Returns
    -------
    CorrectedResult
        Whether the DFT forces met fmax, the macro steps taken, the surrogate calls, whether it stalled.
    """
    from ase.mep import NEB
    from ase.optimize import FIRE

    images = neb.images
    shadow = [images[0]]
    for image in images[1:-1]:
        twin = image.copy()
        twin.set_constraint(image.constraints)
        twin.calc = CorrectedCalculator(surrogate)
        shadow.append(twin)
    shadow.append(images[-1])
    model = NEB(shadow, k=neb.k, climb=neb.climb, method=neb.method)
    best, since_best = np.inf, 0
    for step in range(steps + 1):
        now = band_fmax(neb.get_forces())  # the DFT calls of this macro step
        on_step()
        if now < fmax:
            return CorrectedResult(True, step, _calls(shadow), False)
        if now < best:
            best, since_best = now, 0
        else:
            since_best += 1
            if since_best >= stall_steps:
                return CorrectedResult(False, step, _calls(shadow), True)
        if step == steps:
            break
        for image, twin in zip(images[1:-1], shadow[1:-1]):
            twin.set_positions(image.positions, apply_constraint=False)
            twin.calc.fit(twin, image.get_potential_energy(), image.get_forces(apply_constraint=False))
        start = np.array([twin.positions for twin in shadow[1:-1]])
        inner = FIRE(model, logfile=None, maxstep=INNER_MAXSTEP_A)
        for _ in inner.irun(fmax=INNER_FMAX_FRACTION * fmax, steps=10_000):
            moved = np.linalg.norm(np.array([twin.positions for twin in shadow[1:-1]]) - start, axis=2)
            if moved.max() > trust_A:
                break
        for image, twin in zip(images[1:-1], shadow[1:-1]):
            image.set_positions(twin.positions, apply_constraint=False)
    return CorrectedResult(False, steps, _calls(shadow), False)


def _calls(shadow: list[Atoms]) -> int:
    return sum(image.calc.calls for image in shadow[1:-1])
