"""Config files (JobStore, LaunchPad): YAML whose string values may name ``${VAR}`` from the environment.

The file is parsed first and the variables are expanded in the parsed string values, so comments
never count, and a value (a password with ``: [`` in it, say) can never change the file's structure.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from spillover.errors import InputError

VARIABLE = re.compile(r"\$\{(\w+)\}")


def variables(value: Any) -> set[str]:
    """Every ``${VAR}`` named in the string values of a parsed config."""
    if isinstance(value, str):
        return set(VARIABLE.findall(value))
    if isinstance(value, dict):
        return set().union(*(variables(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(variables(v) for v in value)) if value else set()
    return set()


def expand(value: Any) -> Any:
    """The parsed config with every ``${VAR}`` replaced by its environment value.

    A string that is exactly one ``${VAR}`` whose value reads as a YAML number or boolean (a port,
    say) becomes that number; everything else stays a string.
    """
    if isinstance(value, str):
        whole = VARIABLE.fullmatch(value)
        if whole:
            text = os.environ[whole.group(1)]
            parsed = _scalar(text)
            return parsed if isinstance(parsed, (int, float, bool)) else text
        return VARIABLE.sub(lambda m: os.environ[m.group(1)], value)
    if isinstance(value, dict):
        return {k: expand(v) for k, v in value.items()}
    if isinstance(value, list):
        return [expand(v) for v in value]
    return value


def _scalar(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def read_config(path: str | Path, field: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read a YAML config and expand its ``${VAR}`` values.

    Parameters
    ----------
    path
        The config file.
    field
        The option that named it, for messages (e.g. ``--db``).

    Returns
    -------
    tuple
        ``(expanded, raw)``: the mapping with the variables filled in, and as written.

    Raises
    ------
    InputError
        Missing file, invalid YAML, not a mapping, or a variable that is not set.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(field, f"file {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise InputError(field, f"{path} is not valid YAML{where}") from None
    if not isinstance(raw, dict):
        raise InputError(field, f"{path} must hold a mapping")
    unset = sorted(v for v in variables(raw) if v not in os.environ)
    if unset:
        raise InputError(field, f"{path} uses unset environment variable(s) {', '.join(unset)}")
    return expand(raw), raw
