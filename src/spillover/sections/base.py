"""Bounded field types shared by every section: physical ranges stated once.

Every number a user can hand the package (a study-file key, a CLI option, a builder argument) has
a :class:`Bound`: the study sections use :meth:`Bound.field` (a pydantic constraint), the CLI and the
builders :meth:`Bound.check` (an :class:`~spillover.errors.InputError` naming the range). Both refuse
booleans, NaN and infinities. :class:`BoundedMapping` bounds the free-form mappings of a study
(``preset_overrides``, ``dft_preset_overrides``): depth, size, key and string length, finite numbers.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from spillover.errors import InputError


class Section(BaseModel):
    """A study section: unknown keys are refused."""

    model_config = ConfigDict(extra="forbid")


def _fmt(x: float) -> str:
    return f"{int(x)}" if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


@dataclass(frozen=True)
class Bound:
    """A closed (or left-open) physical range of one kind of number.

    Parameters
    ----------
    lo, hi
        Smallest and largest allowed values.
    unit
        Unit named in messages ('Å', 'K', ...); empty for counts.
    lo_open
        ``lo < x`` instead of ``lo <= x`` (thresholds and lengths that must be positive).
    integer
        Whole numbers only (counts: layers, repeats, images, steps).
    """

    lo: float
    hi: float
    unit: str = ""
    lo_open: bool = False
    integer: bool = False

    @property
    def text(self) -> str:
        """The range as messages and help texts name it, e.g. ``0 < x <= 100 Å`` or ``1..20``."""
        unit = f" {self.unit}" if self.unit else ""
        if self.integer and not self.lo_open:
            return f"{_fmt(self.lo)}..{_fmt(self.hi)}{unit}"
        return f"{_fmt(self.lo)} {'<' if self.lo_open else '<='} x <= {_fmt(self.hi)}{unit}"

    def contains(self, value: Any) -> bool:
        """Whether ``value`` is a number of the right kind inside the range."""
        if isinstance(value, bool):
            return False
        if self.integer:
            if not _is_int(value):
                return False
        elif not _is_real(value) or not math.isfinite(float(value)):
            return False
        above = value > self.lo if self.lo_open else value >= self.lo
        return bool(above and value <= self.hi)

    def check(self, value: Any, field: str) -> Any:
        """Return ``value`` if inside the range, else raise :class:`InputError` naming ``field`` and the range."""
        if self.contains(value):
            return value
        kind = "a whole number" if self.integer else "a finite number"
        if isinstance(value, bool) or not (_is_int(value) if self.integer else _is_real(value)):
            raise InputError(field, f"must be {kind}, got {value!r}", self.text)
        if not self.integer and not math.isfinite(float(value)):
            raise InputError(field, f"must be {kind}, got {value!r}", self.text)
        raise InputError(field, f"{value!r} is out of range", self.text)

    def field(self, default: Any = ..., **kwargs: Any) -> Any:
        """A pydantic ``Field`` with this range.

        Strict: booleans and strings are refused (a float field takes whole numbers), and so are
        NaN and infinities.
        """
        limits = {"gt" if self.lo_open else "ge": self.lo, "le": self.hi}
        kwargs.setdefault("json_schema_extra", {"allowed": self.text})
        if self.integer:
            return Field(default, strict=True, **{k: int(v) for k, v in limits.items()}, **kwargs)
        return Field(default, strict=True, allow_inf_nan=False, **limits, **kwargs)

    def type(self) -> Any:
        """An ``Annotated`` type with this range, for list, tuple and dict entries."""
        return Annotated[int if self.integer else float, self.field()]


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


# --- the ranges --------------------------------------------------------------------------------
# Lengths (Å), areas (Å²), strains (%) and counts that no model of this project needs to exceed
# (the largest system cell is 178 Å² at 6 %, 540 atoms); each also keeps the work that one check
# or one build does bounded (images and steps multiply the force calls of a band, repeats and
# layers the atoms of a model).

#: Largest in-plane area of a coincidence cell (Å²).
AREA = Bound(0, 1000, "Å²", lo_open=True)
#: Largest |strain| along a supercell vector (%).
STRAIN = Bound(0, 20, "%", lo_open=True)
#: Largest max_area x max_strain (Å² %): pymatgen's ZSL search grows about as area^3 x strain^2.5 (on a
#: loaded 2-core machine one film pair takes 3 s at 180 Å² and 6 %, 30 s at 400 Å² and 6 %, 34 s at 180 Å²
#: and 20 %, 83 s at 400 Å² and 9 %, more than 10 minutes at 1000 Å² and 6 %).
SEARCH_MAX = 2400.0
SEARCH_TEXT = f"max area x max strain <= {SEARCH_MAX:g} Å² %, e.g. 400 Å² at 6 % or 120 Å² at 20 %"
#: Layers of a slab, a support or a film.
LAYERS = Bound(1, 20, integer=True)
#: In-plane repeats of a slab's surface cell (each direction).
REPEAT = Bound(1, 10, integer=True)
#: Repeats of a bulk, Ru or host supercell (each direction).
SUPERCELL = Bound(1, 8, integer=True)
#: Vacuum on each side of a slab or interface model (Å), as ASE's ``vacuum``: images are twice this apart.
VACUUM = Bound(0, 50, "Å", lo_open=True)
#: Distance between the parts of an interface (Å).
GAP = Bound(0, 10, "Å", lo_open=True)
#: Longest vacancy hop / endpoint displacement (Å).
CUTOFF = Bound(0, 6, "Å", lo_open=True)
#: Intermediate images of a band.
IMAGES = Bound(1, 64, integer=True)
#: Optimizer steps of a band (0: single points).
BAND_STEPS = Bound(0, 100_000, integer=True)
#: Optimizer steps of a relaxation.
STEPS = Bound(1, 100_000, integer=True)
#: Force threshold (eV/Å).
FMAX = Bound(0, 10, "eV/Å", lo_open=True)
#: NEB spring constant (eV/Å²).
SPRING = Bound(0, 100, "eV/Å²", lo_open=True)
#: How far below both its ends a band's lowest image must lie to be split there (eV).
SPLIT = Bound(0, 1, "eV")
#: Temperature of a thermodynamic grid (K).
TEMPERATURE = Bound(0, 5000, "K", lo_open=True)
#: O2 partial pressure (bar).
PRESSURE = Bound(0, 1e4, "bar", lo_open=True)
#: Hops per region (or per layer pair), sites per layer, configurations per n.
COUNT = Bound(1, 1000, integer=True)
#: Rows a listing prints (0: all).
LIMIT = Bound(0, 100_000, integer=True)
#: MPI ranks of one local GPAW calculation.
RANKS = Bound(1, 1024, integer=True)


def check_search(max_area: float, max_strain_percent: float, field: str) -> None:
    """Raise InputError naming ``field`` when a lattice search of these limits would take minutes.

    Both limits must already be within :data:`AREA` and :data:`STRAIN`.
    """
    if max_area * max_strain_percent > SEARCH_MAX:
        raise InputError(field, f"a lattice search of {max_area:g} Å² at {max_strain_percent:g} % strain is too "
                         f"large ({max_area * max_strain_percent:g} Å² %)", SEARCH_TEXT)


#: Temperature of a thermodynamic grid (K).
Temperature = TEMPERATURE.type()
#: O2 partial pressure (bar).
Pressure = PRESSURE.type()
#: Relaxation step limit; the preset's when null.
StepLimit = STEPS.type()
#: One supercell repeat.
Repeat = SUPERCELL.type()


#: Preset names are file stems: letters, digits, '.', '_' and '-' only.
PRESET_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


# --- free-form mappings ------------------------------------------------------------------------

#: Nesting of a free-form mapping (``{gpaw: {mode: {ecut: 500}}}`` is 3 deep).
MAPPING_DEPTH = 5
#: Keys and list entries of a free-form mapping, all levels together.
MAPPING_SIZE = 200
#: Longest key or string in a free-form mapping.
MAPPING_STRING = 1000


def _check_mapping(value: Any) -> dict:
    """A free-form mapping within the bounds above, else ValueError naming the first problem."""
    if not isinstance(value, dict):
        raise ValueError(f"must be a mapping of preset keys, got {type(value).__name__}")
    count = 0

    def walk(item: Any, path: str, depth: int) -> None:
        nonlocal count
        where = path or "the mapping"
        if isinstance(item, (dict, list)):
            if depth > MAPPING_DEPTH:
                raise ValueError(f"{where} nests deeper than {MAPPING_DEPTH} levels")
            count += len(item)
            if count > MAPPING_SIZE:
                raise ValueError(f"more than {MAPPING_SIZE} keys and entries")
            for key, sub in (item.items() if isinstance(item, dict) else enumerate(item)):
                if isinstance(item, dict) and (not isinstance(key, str) or not 1 <= len(key) <= 64):
                    raise ValueError(f"key {key!r} in {where} is not a name of 1-64 characters")
                walk(sub, f"{path}.{key}".lstrip(".") if isinstance(item, dict) else f"{path}[{key}]", depth + 1)
        elif isinstance(item, str):
            if len(item) > MAPPING_STRING:
                raise ValueError(f"{where} is a string longer than {MAPPING_STRING} characters")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise ValueError(f"{where} is {item!r}, not a finite number")
        elif isinstance(item, int) and not isinstance(item, bool):
            if abs(item) > 10**15:
                raise ValueError(f"{where} = {item} is out of range (|x| <= 1e15)")
        elif item is not None and not isinstance(item, bool):
            raise ValueError(f"{where} is a {type(item).__name__}, not a number, string, list or mapping")

    walk(value, "", 1)
    for (section, key), bound in PRESET_RANGES.items():
        sub = value.get(section)
        if isinstance(sub, dict) and key in sub and not bound.contains(sub[key]):
            # named as load_preset names preset keys; validate_study reads field and allowed from ctx
            raise PydanticCustomError("preset_range", "{value} is out of range",
                                      {"field": f"preset.{section}.{key}", "allowed": bound.text,
                                       "value": repr(sub[key])})
    return value


#: Preset keys whose range a study's overrides are checked against before anything runs (the presets'
#: own models only ask for positive numbers).
PRESET_RANGES: dict[tuple[str, str], Bound] = {
    ("neb", "n_images"): IMAGES, ("neb", "steps"): BAND_STEPS, ("neb", "fmax"): FMAX,
    ("neb", "spring_constant"): SPRING, ("relax", "steps"): BAND_STEPS, ("relax", "fmax"): FMAX,
}
def check_overrides(value: Any, field: str) -> dict:
    """``value`` if it is a mapping of preset overrides within the bounds above, else InputError naming ``field``."""
    try:
        return _check_mapping(value)
    except PydanticCustomError as exc:
        raise InputError(exc.context["field"], exc.message(), exc.context["allowed"]) from None
    except ValueError as exc:
        raise InputError(field, str(exc), MAPPING_TEXT) from None


#: A mapping of preset keys (deep-merged into a preset): bounded depth and size, finite numbers.
BoundedMapping = Annotated[dict, BeforeValidator(_check_mapping)]
MAPPING_TEXT = (f"a mapping of preset keys, at most {MAPPING_DEPTH} levels deep and {MAPPING_SIZE} entries, "
                "finite numbers")


def _no_duplicates(values: list) -> list:
    seen = []
    for value in values:
        if value in seen:
            raise ValueError(f"{value!r} is listed twice")
        seen.append(value)
    return values


#: Validator of a list whose entries must be distinct (regions, supports, analyses).
Distinct = AfterValidator(_no_duplicates)
