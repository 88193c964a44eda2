"""The registry of analyses: one entry drives the study schema, the plan, the run summary and the CLI.

A new analysis adds its own modules (settings in ``sections/``, builders in ``build/``, jobs in ``jobs/``,
a Maker in ``flows/``, tables in ``analysis/``, commands in ``commands/``) and one entry here. Entries
name their Maker, summary and commands by import path, so that reading the registry (the CLI's
``--help``, validating a study) imports no calculator, jobflow or pymatgen.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from spillover.sections.barriers import BarrierSettings
from spillover.sections.lattice_match import LatticeScanSettings
from spillover.sections.mu_profile import MuProfileSettings
from spillover.sections.oxidation import OxidationSettings


@dataclass(frozen=True)
class Analysis:
    """One analysis of a study.

    Attributes
    ----------
    name
        Its name in study files, ``--only`` and job metadata, e.g. ``mu-profile``.
    section
        The study-file key of its settings, e.g. ``mu_profile``.
    settings
        The pydantic model of that section.
    maker
        ``module:Class`` of its flow Maker; ``Class.from_study(study, preset, scratch)`` builds it.
    summary
        ``module:function`` printing its tables after a run: ``function(store, run_id, preset) -> str``.
    commands
        Module whose ``register(app, table_app, plot_app)`` adds its CLI commands.
    """

    name: str
    section: str
    settings: type[BaseModel]
    maker: str
    summary: str
    commands: str

    def load(self, attribute: str) -> Any:
        """Import the object ``attribute`` ('maker' or 'summary') names."""
        module, _, name = getattr(self, attribute).partition(":")
        return getattr(importlib.import_module(module), name)


ANALYSES: dict[str, Analysis] = {
    a.name: a
    for a in (
        Analysis("lattice-match", "lattice_scan", LatticeScanSettings, "spillover.flows.lattice_match:LatticeMatchMaker",
                 "spillover.analysis.lattice_match:run_summary", "spillover.commands.lattice_match"),
        Analysis("oxidation", "oxidation", OxidationSettings, "spillover.flows.oxidation:OxidationMaker",
                 "spillover.analysis.oxidation:run_summary", "spillover.commands.oxidation"),
        Analysis("mu-profile", "mu_profile", MuProfileSettings, "spillover.flows.mu_profile:MuProfileMaker",
                 "spillover.analysis.mu_profile:run_summary", "spillover.commands.mu_profile"),
        Analysis("barriers", "barriers", BarrierSettings, "spillover.flows.barriers:BarrierMaker",
                 "spillover.analysis.barriers:run_summary", "spillover.commands.barriers"),
    )
}
ANALYSIS_NAMES: tuple[str, ...] = tuple(ANALYSES)
