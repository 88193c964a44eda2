"""ASE-db-style selections of stored results: ``key=value``, ``key!=value``, ``key<value``, ... .

Pure functions on the rows of :func:`spillover.analysis.listing.document_rows`: parse the
conditions once (every error names its key), then match, sort and cut rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from spillover.errors import InputError

#: Selection key -> (row key, kind). Kinds: text, number, bool, id (a job uuid prefix).
KEYS: dict[str, tuple[str, str]] = {
    "job_id": ("job_id", "id"),
    "name": ("name", "text"),
    "doc_type": ("doc_type", "text"),
    "label": ("label", "text"),
    "system": ("system", "text"),
    "kind": ("kind", "text"),
    "task": ("task", "text"),
    "formula": ("formula", "text"),
    "preset": ("preset", "text"),
    "calculator": ("calculator", "text"),
    "analysis": ("analysis", "text"),
    "study": ("study", "text"),
    "run_id": ("run_id", "text"),
    "completed": ("completed_at", "text"),
    "natoms": ("natoms", "number"),
    "energy": ("energy_eV", "number"),
    "fmax": ("max_force_eV_per_A", "number"),
    "converged": ("converged", "bool"),
}
#: The row keys are accepted as well (``energy_eV`` for ``energy``, ...).
ALIASES: dict[str, str] = {row_key: key for key, (row_key, _) in KEYS.items() if row_key != key}
OPERATORS = ("!=", "<=", ">=", "==", "=", "<", ">")
ORDERING = ("<", "<=", ">", ">=")
_CONDITION = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(!=|<=|>=|==|=|<|>)(.*)$", re.DOTALL)
TEXT = "key=value, key!=value, key<value, key<=value, key>value or key>=value"
TRUE, FALSE = ("true", "yes", "1"), ("false", "no", "0")


def allowed_keys() -> str:
    """The selection keys, for messages and help."""
    return ", ".join(KEYS)


@dataclass(frozen=True)
class Condition:
    """One parsed condition: a selection key, an operator and the value, typed for that key."""

    key: str
    op: str
    value: Any

    @property
    def row_key(self) -> str:
        """The key of the rows this condition reads."""
        return KEYS[self.key][0]

    def matches(self, row: dict[str, Any]) -> bool:
        """Whether ``row`` satisfies the condition; a row without the value matches ``!=`` only."""
        value = row.get(self.row_key)
        kind = KEYS[self.key][1]
        if value is None or value == "":
            return self.op == "!="
        if kind == "id":
            hit = str(value).startswith(self.value)
        elif kind == "text" and self.op in ("=", "!=") and "*" in self.value:
            hit = _wildcard(self.value).fullmatch(str(value)) is not None
        elif self.op in ORDERING:
            try:
                return {"<": value < self.value, "<=": value <= self.value,
                        ">": value > self.value, ">=": value >= self.value}[self.op]
            except TypeError:  # a stored value of another type than the key's (an old document)
                return False
        else:
            hit = value == self.value and isinstance(value, bool) == isinstance(self.value, bool)
        return hit if self.op == "=" else not hit


def _wildcard(pattern: str) -> re.Pattern:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)


def _typed(key: str, op: str, text: str) -> Any:
    """The value of a condition as its key's kind wants it; InputError naming the key otherwise."""
    kind = KEYS[key][1]
    value = text.strip()
    if kind == "number":
        try:
            number = float(value)
        except ValueError:
            raise InputError(key, f"{value!r} is not a number", f"a number, e.g. {key}>=10") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise InputError(key, f"{value!r} is not a finite number", "a finite number")
        return int(number) if number.is_integer() else number
    if op in ORDERING and kind in ("bool", "id"):
        raise InputError(key, f"'{op}' does not apply to {'true/false' if kind == 'bool' else 'job ids'}",
                         f"{key}=VALUE or {key}!=VALUE")
    if kind == "bool":
        if value.lower() in TRUE:
            return True
        if value.lower() in FALSE:
            return False
        raise InputError(key, f"{value!r} is not true or false", "true or false")
    if kind == "id":
        value = value.lower()
        if not re.fullmatch(r"[0-9a-f-]+", value):
            raise InputError(key, f"{value!r} is not (the start of) a job id", "hexadecimal digits and '-'")
    if not value:
        raise InputError(key, "no value given", f"{key}=VALUE")
    return value


def parse_condition(text: str) -> Condition:
    """One condition, e.g. ``natoms>10`` or ``preset=analytic``.

    Raises
    ------
    InputError
        Not ``key<op>value``, an unknown key (the allowed ones listed), or a value of the wrong kind.
    """
    match = _CONDITION.match(text)
    if match is None:
        raise InputError("SELECTION", f"{text[:80]!r} is not a condition", TEXT)
    key, op, value = match.groups()
    key = ALIASES.get(key, key)
    if key not in KEYS:
        raise InputError(key, "unknown selection key", allowed_keys())
    op = "=" if op == "==" else op
    return Condition(key, op, _typed(key, op, value))


def parse_selection(items: list[str] | tuple[str, ...]) -> list[Condition]:
    """Every condition of ``items``; each item may hold several separated by commas (``a=1,b>2``).

    A comma only separates conditions when a condition follows it, so a value may hold commas.
    """
    conditions: list[Condition] = []
    for item in items:
        pieces: list[str] = []
        for piece in item.split(","):
            if pieces and not _CONDITION.match(piece):
                pieces[-1] += "," + piece
            else:
                pieces.append(piece)
        conditions.extend(parse_condition(p) for p in pieces)
    return conditions


def select(rows: list[dict[str, Any]], conditions: list[Condition]) -> list[dict[str, Any]]:
    """The rows that satisfy every condition, in their order."""
    return [r for r in rows if all(c.matches(r) for c in conditions)]


def sort_key(text: str, field: str = "--sort") -> tuple[str, bool]:
    """``KEY`` or ``-KEY`` as (row key, descending).

    Raises
    ------
    InputError
        An unknown key.
    """
    descending = text.startswith("-")
    key = ALIASES.get(text.lstrip("-+"), text.lstrip("-+"))
    if key not in KEYS:
        raise InputError(field, f"unknown key {key!r}", f"{allowed_keys()}; -KEY sorts descending")
    return KEYS[key][0], descending


def sort_rows(rows: list[dict[str, Any]], row_key: str, descending: bool = False) -> list[dict[str, Any]]:
    """``rows`` sorted by ``row_key`` (stable); rows without the value come last either way."""
    present = [r for r in rows if r.get(row_key) not in (None, "")]
    missing = [r for r in rows if r.get(row_key) in (None, "")]
    return sorted(present, key=lambda r: r[row_key], reverse=descending) + missing


def column_keys(text: str | None, default: tuple[str, ...]) -> list[str]:
    """Row keys of ``--columns a,b,c`` (selection keys or row keys), or of ``default``.

    Raises
    ------
    InputError
        An unknown column.
    """
    names = [c.strip() for c in text.split(",") if c.strip()] if text else list(default)
    if not names:
        raise InputError("--columns", "no column named", allowed_keys())
    keys = []
    for name in names:
        key = ALIASES.get(name, name)
        if key not in KEYS:
            raise InputError("--columns", f"unknown column {name!r}", allowed_keys())
        keys.append(KEYS[key][0])
    return keys
