"""Settings of the screening funnel: every candidate ranked cheaply, the best relaxed to convergence."""

from __future__ import annotations

from pydantic import Field

from spillover.sections.base import COUNT, FMAX, Bound, Section

#: Energy window above the best candidate of a stage (eV).
WINDOW = Bound(0, 100, "eV", lo_open=True)


class FunnelSettings(Section):
    """How many candidates each stage of a funnel keeps.

    Stages: every candidate gets a single point; the ``loose_n`` lowest within ``window_eV`` of the
    best relax loosely to ``loose_fmax``; the ``final_m`` lowest of those within ``window_eV`` relax to
    the preset's fmax. The survivor is the lowest converged final relaxation.
    """

    loose_n: int = COUNT.field(6, description="Candidates (lowest single points) relaxed loosely.")
    final_m: int = COUNT.field(2, description="Loose relaxations (lowest energies) relaxed to convergence.")
    loose_fmax: float = FMAX.field(0.25, description="Force threshold of the loose relaxations (eV/Å).")
    window_eV: float = WINDOW.field(
        3.0, description="Candidates more than this above the best of a stage do not go on (eV)."
    )
