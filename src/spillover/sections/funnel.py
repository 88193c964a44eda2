"""Settings of the screening funnel: every candidate ranked cheaply, the best relaxed to convergence."""

from __future__ import annotations

from pydantic import Field

from spillover.sections.base import COUNT, FMAX, MAPPING_TEXT, PRESET_NAME_PATTERN, Bound, BoundedMapping, Section

#: Energy window above the best candidate of a stage (eV).
WINDOW = Bound(0, 100, "eV", lo_open=True)


class FunnelSettings(Section):
    """How many candidates each stage of a funnel keeps.

    Stages: every candidate gets a single point; the ``loose_n`` lowest within ``window_eV`` of the
    best relax loosely to ``loose_fmax``; the ``final_m`` lowest of those within ``window_eV`` relax to
    the preset's fmax. The survivor is the lowest converged final relaxation. With ``dft_preset``
    the ``dft_k`` lowest converged survivors get a single point at that preset on their screen geometry,
    then a relaxation from it (the DFT stage, compared with the screen in ``spillover table fidelity``).
    """

    loose_n: int = COUNT.field(6, description="Candidates (lowest single points) relaxed loosely.")
    final_m: int = COUNT.field(2, description="Loose relaxations (lowest energies) relaxed to convergence.")
    loose_fmax: float = FMAX.field(0.25, description="Force threshold of the loose relaxations (eV/Å).")
    window_eV: float = WINDOW.field(
        3.0, description="Candidates more than this above the best of a stage do not go on (eV)."
    )
    dft_preset: str | None = Field(
        None, pattern=PRESET_NAME_PATTERN,
        description="DFT stage: the dft_k best survivors again at this preset (e.g. gpaw-test), single point "
        "then relaxation from the screen geometry; null: no DFT stage.",
    )
    dft_k: int = COUNT.field(3, description="Survivors (lowest converged final energies) taken to the DFT stage.")
    dft_preset_overrides: BoundedMapping = Field(
        default_factory=dict, json_schema_extra={"allowed": MAPPING_TEXT}, description="Overrides of dft_preset.")

    def hashed(self) -> dict:
        """The settings a funnel's content hash covers: the DFT keys only when there is a DFT stage.

        So a funnel without a DFT stage hashes as it did before the stage existed, and its stored
        result is reused.
        """
        dump = self.model_dump()
        if self.dft_preset is None:
            for key in DFT_KEYS:
                dump.pop(key)
        return dump


#: The settings of the DFT stage.
DFT_KEYS = ("dft_preset", "dft_k", "dft_preset_overrides")
