"""Where the bands of the barrier analysis checkpoint (the network itself: :mod:`spillover.jobs.hop_network`)."""

from __future__ import annotations

from pathlib import Path


def checkpoint_root(scratch: str | Path | None = None) -> str:
    """Absolute band-checkpoint directory: ``<scratch>/neb-checkpoints`` (resolved now).

    ``scratch`` defaults to ``$SPILLOVER_SCRATCH`` (or ``./spillover-scratch``). It is the scratch
    base, not a run's folder, so a later run of the same hop resumes from the checkpoint.
    """
    from spillover.jobs.neb import CHECKPOINT_SUBDIR
    from spillover.settings import get_settings

    return str((Path(scratch or get_settings().scratch) / CHECKPOINT_SUBDIR).resolve())
