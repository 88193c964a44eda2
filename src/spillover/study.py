"""The study file: what to compute, validated by pydantic. Its sections come from :mod:`spillover.analyses`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, create_model, model_validator

from spillover.analyses import ANALYSES, ANALYSIS_NAMES
from spillover.errors import InputError
from spillover.sections.base import Section
from spillover.sections.systems import CellSettings, LatticeMatchSettings, OxygenSettings, SystemSpec

AnalysisName = Literal[ANALYSIS_NAMES]  # type: ignore[valid-type]
#: Preset names are file stems: letters, digits, '.', '_' and '-' only.
PRESET_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class StudyBase(Section):
    """The sections every study has; :data:`Study` adds one section per analysis."""

    name: str = Field(min_length=1, max_length=200, description="Study name; stored with every result.")
    description: str = Field("", max_length=10_000, description="What the study is for.")
    preset: str = Field("screen", pattern=PRESET_NAME_PATTERN, description="Default calculator preset.")
    preset_overrides: dict = Field(default_factory=dict, description="Deep-merged into the preset for every job.")
    systems: list[SystemSpec] = Field(
        default_factory=list, max_length=20,
        description="Systems (support and films); each gets one relaxed cell shared by every analysis.",
    )
    lattice_match: LatticeMatchSettings = Field(default_factory=LatticeMatchSettings)
    cell: CellSettings = Field(default_factory=CellSettings)
    oxygen: OxygenSettings = Field(default_factory=OxygenSettings)
    analyses: list[AnalysisName] = Field(  # type: ignore[valid-type]
        default_factory=lambda: list(ANALYSIS_NAMES), description="Analyses to run."
    )

    @model_validator(mode="after")
    def _systems(self) -> StudyBase:
        labels = [s.label for s in self.systems]
        for i, label in enumerate(labels):
            if label in labels[:i]:
                raise ValueError(f"systems[{i}] {label!r} is listed twice")
        oxidation = getattr(self, "oxidation", None)
        with_ru = [label for label in labels if label.endswith("/Ru-0001")]
        for i, label in enumerate((oxidation.systems or []) if oxidation is not None else []):
            if label not in with_ru:
                raise ValueError(
                    f"oxidation.systems[{i}] {label!r} is not a system of this study with an outer Ru-0001 film "
                    f"(allowed: {', '.join(with_ru) or 'none'})"
                )
        return self

    def system(self, label: str) -> SystemSpec:
        """The system called ``label``."""
        for spec in self.systems:
            if spec.label == label:
                return spec
        raise InputError("systems", f"no system {label!r} in study {self.name!r}", ", ".join(s.label for s in self.systems))


Study = create_model(
    "Study",
    __base__=StudyBase,
    __doc__="A study file (``workflows/*.yaml``): the common sections and one section per analysis.",
    **{a.section: (a.settings, Field(default_factory=a.settings)) for a in ANALYSES.values()},
)


def _field_path(loc: tuple) -> str:
    parts: list[str] = []
    for p in loc:
        if isinstance(p, int):
            parts[-1] = f"{parts[-1]}[{p}]" if parts else f"[{p}]"
        elif not str(p).startswith(("function-", "literal[")):
            parts.append(str(p))
    return ".".join(parts) or "study"


def validate_study(data: Any, source: str = "study") -> Study:
    """Validate a mapping of study keys.

    Raises
    ------
    InputError
        Naming the first field outside its allowed values.
    """
    if not isinstance(data, dict):
        raise InputError("study", f"{source} must hold a mapping of study keys", ", ".join(Study.model_fields))
    try:
        return Study.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = _field_path(err["loc"])
        if err["type"] == "extra_forbidden":
            raise InputError(field, "unknown key") from None
        if err["type"] == "missing":
            raise InputError(field, "required key is missing") from None
        raise InputError(field, err["msg"].removeprefix("Value error, ")) from None


def load_study(path: str | Path) -> Study:
    """Read and validate a study file.

    Raises
    ------
    InputError
        Missing file, malformed YAML, or a field outside its allowed values.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("study", f"file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise InputError("study", f"{path} is not valid YAML{where}") from None
    return validate_study(data, str(path))
