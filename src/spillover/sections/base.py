"""Bounded field types shared by every section: physical ranges stated once."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class Section(BaseModel):
    """A study section: unknown keys are refused."""

    model_config = ConfigDict(extra="forbid")


#: Temperature of a thermodynamic grid (K).
Temperature = Annotated[float, Field(gt=0, le=5000, allow_inf_nan=False)]
#: O2 partial pressure (bar).
Pressure = Annotated[float, Field(gt=0, le=1e4, allow_inf_nan=False)]
#: Relaxation step limit; the preset's when null.
StepLimit = Annotated[int, Field(ge=1, le=100_000)]
