"""The study file: what to compute, validated by pydantic. Its sections come from :mod:`spillover.analyses`."""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, ValidationError, create_model, model_validator
from pydantic.fields import FieldInfo

from spillover.analyses import ANALYSES, ANALYSIS_NAMES
from spillover.errors import InputError, unknown_key
from spillover.sections.base import MAPPING_TEXT, PRESET_NAME_PATTERN, BoundedMapping, Distinct, Section
from spillover.sections.systems import CellSettings, LatticeMatchSettings, OxygenSettings, SystemSpec
from spillover.yamlio import read_yaml

AnalysisName = Literal[ANALYSIS_NAMES]  # type: ignore[valid-type]


class StudyBase(Section):
    """The sections every study has; :data:`Study` adds one section per analysis."""

    name: str = Field(min_length=1, max_length=200, description="Study name; stored with every result.")
    description: str = Field("", max_length=10_000, description="What the study is for.")
    preset: str = Field("screen", pattern=PRESET_NAME_PATTERN, description="Default calculator preset.")
    preset_overrides: BoundedMapping = Field(
        default_factory=dict, json_schema_extra={"allowed": MAPPING_TEXT},
        description="Deep-merged into the preset for every job.",
    )
    systems: list[SystemSpec] = Field(
        default_factory=list, max_length=20,
        description="Systems (support and films); each gets one relaxed cell shared by every analysis.",
    )
    lattice_match: LatticeMatchSettings = Field(default_factory=LatticeMatchSettings)
    cell: CellSettings = Field(default_factory=CellSettings)
    oxygen: OxygenSettings = Field(default_factory=OxygenSettings)
    analyses: Annotated[list[AnalysisName], Distinct] = Field(  # type: ignore[valid-type]
        default_factory=lambda: list(ANALYSIS_NAMES), max_length=len(ANALYSIS_NAMES), description="Analyses to run."
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
        elif not _is_tag(p):
            text = str(p)
            parts.append(text if len(text) <= 64 else text[:61] + "...")  # a key of any length is still one short line
    return ".".join(parts) or "study"


def _is_tag(part: object) -> bool:
    """Whether a part of a pydantic error location names a validator or union member, not a key."""
    text = str(part)
    return text.startswith(("function-", "literal[", "tuple[", "list[", "dict[")) or text in ("int", "str", "float",
                                                                                             "none")


def _unwrap(tp: Any) -> tuple[Any, list[Any]]:
    """``(type, metadata)`` of a possibly ``Annotated`` type."""
    metadata: list[Any] = []
    while typing.get_origin(tp) is Annotated:
        tp, *extra = typing.get_args(tp)
        metadata.extend(extra)
    return tp, metadata


def _allowed_of(metadata: list[Any]) -> str | None:
    for item in metadata:
        extra = getattr(item, "json_schema_extra", None)
        if isinstance(extra, dict) and "allowed" in extra:
            return str(extra["allowed"])
    return None


def _resolve(tp: Any, loc: list) -> tuple[Any, str | None]:
    """The type that an error location ends at, and the allowed range named on the way (if any).

    Walks models by field, lists and tuples by index, dicts by key; union members that the
    location names (pydantic adds them) are skipped.
    """
    tp, metadata = _unwrap(tp)
    allowed = _allowed_of(metadata)
    if not loc:
        if typing.get_origin(tp) in (typing.Union, types.UnionType):  # e.g. StepLimit | None
            allowed = allowed or next((found for arg in typing.get_args(tp) if arg is not type(None)
                                       for found in [_resolve(arg, [])[1]] if found), None)
        return tp, allowed
    part, rest = loc[0], loc[1:]
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        info: FieldInfo | None = tp.model_fields.get(part) if isinstance(part, str) else None
        # the field's own FieldInfo carries its range (json_schema_extra) as Annotated metadata would
        return _resolve(Annotated[info.annotation, info], rest) if info is not None else (None, None)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            if arg is type(None):
                continue
            for attempt in (loc, rest if _is_tag(part) else None):
                if attempt is None:
                    continue
                found, found_allowed = _resolve(arg, attempt)
                if found is not None:
                    return found, found_allowed or allowed
        return None, None
    if origin in (list, tuple) and isinstance(part, int):
        if origin is tuple and args and args[-1] is not Ellipsis:
            return _resolve(args[part], rest) if part < len(args) else (None, None)
        return _resolve(args[0], rest) if args else (None, None)
    if origin is dict and args:
        if rest and rest[0] == "[key]":
            return _resolve(args[0], rest[1:])
        return _resolve(args[1], rest)
    if _is_tag(part):
        return _resolve(tp, rest)
    return None, None


def _hint(loc: tuple) -> tuple[str, str | None]:
    """For an unknown key: the problem (with the closest allowed key) and the keys allowed there."""
    model, _ = _resolve(Study, list(loc[:-1]))
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return "unknown key", None
    keys = list(model.model_fields)
    return unknown_key(str(loc[-1]), keys), ", ".join(keys)


def validate_study(data: Any, source: str = "study") -> Study:
    """Validate a mapping of study keys.

    Raises
    ------
    InputError
        Naming the first field outside its allowed values, and the values allowed where they can be named.
    """
    if not isinstance(data, dict):
        raise InputError("study", f"{source} must hold a mapping of study keys", ", ".join(Study.model_fields))
    try:
        return Study.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False, include_input=False)[0]
        loc = tuple(err["loc"])
        field = _field_path(loc)
        if err["type"] == "extra_forbidden":
            raise InputError(field, *_hint(loc)) from None
        if err["type"] == "missing":
            raise InputError(field, "required key is missing") from None
        _, allowed = _resolve(Study, list(loc))
        ctx = err.get("ctx") or {}
        if isinstance(ctx.get("field"), str):  # a check that names its own field (a preset key)
            field, allowed = ctx["field"], ctx.get("allowed")
        problem = " ".join(err["msg"].removeprefix("Value error, ").split())
        if "(allowed:" in problem:
            allowed = None
        raise InputError(field, problem, allowed) from None


def load_study(path: str | Path) -> Study:
    """Read and validate a study file (UTF-8 YAML, read with the bounds of :mod:`spillover.yamlio`).

    Raises
    ------
    InputError
        Missing, oversized or non-UTF-8 file, malformed YAML, a broken bound (nesting, aliases,
        duplicate keys), or a field outside its allowed values.
    """
    path = Path(path)
    return validate_study(read_yaml(path, "study"), str(path))
