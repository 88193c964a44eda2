"""Config files (JobStore, LaunchPad): YAML whose string values may name ``${VAR}`` from the environment.

The file is read with the bounded reader of :mod:`spillover.yamlio`, parsed first, and the variables are
expanded in the parsed string values, so comments never count, and a value (a password with ``: [`` in
it, say) can never change the file's structure.

Credentials come from the environment or from a file only its owner can read: a config that holds a
*literal* secret (a value under a key named like a password, secret, token or key, or a URI with
``user:password@``) is refused unless its mode is 0600 (no group or other bits). Every secret value
a config yields, literal or expanded, is remembered in this process so that :func:`redact` can take it
out of any message before it is printed.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from spillover.errors import InputError

VARIABLE = re.compile(r"\$\{(\w+)\}")
# Key names whose values are secrets: *password*, *passwd*, *secret*, *token*, *key*.
SECRET_NAME = re.compile(r"passw(or)?d|secret|token|key", re.IGNORECASE)
# ...except maggma's ``key`` (the document field a store indexes on) and names of files or directories
# (``tlsCertificateKeyFile``): those are where a secret is, not the secret.
NOT_SECRET_NAME = re.compile(r"^key$|(file|path|dir)$", re.IGNORECASE)
# ``scheme://user:password@host``; group 2 is the password as written.
URI_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^\s/@:]*):([^\s/]*)@")
# Everything between ``scheme://`` and the last ``@`` of a token: user, password, or both.
URI_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^\s'\"<>]*@")
REDACTED = "***"

_SECRETS: set[str] = set()


def is_secret_key(name: str) -> bool:
    """True for a key whose value is a secret (``password``, ``api_token``, ``secret_key``, ...)."""
    return bool(SECRET_NAME.search(name)) and not NOT_SECRET_NAME.search(name)


def register_secret(value: str) -> None:
    """Remember a secret value (and its URL-decoded form) for :func:`redact`."""
    for text in (value, unquote(value)):
        if text:
            _SECRETS.add(text)


def redact(text: str) -> str:
    """``text`` with every known secret value and the user:password part of every URI replaced by ``***``."""
    text = URI_USERINFO.sub(rf"\1{REDACTED}@", text)
    for secret in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


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
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _strings(value: Any, where: str = "", key: str = "") -> Iterator[tuple[str, str, str]]:
    """``(key path, nearest key name, string)`` for every string value of a parsed config."""
    if isinstance(value, str):
        yield where, key, value
    elif isinstance(value, dict):
        for name, item in value.items():
            yield from _strings(item, f"{where}.{name}" if where else str(name), str(name))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, f"{where}[{i}]", key)


def _literal(text: str) -> bool:
    """True when ``text`` holds characters that do not come from a ``${VAR}``."""
    return bool(VARIABLE.sub("", text).strip())


def literal_secrets(raw: Any, secret_key: Callable[[str], bool] = is_secret_key) -> list[str]:
    """Key paths of a parsed (unexpanded) config that hold a secret written into the file itself."""
    found = []
    for where, key, text in _strings(raw):
        literal_key = secret_key(key) and _literal(text)
        if literal_key or any(_literal(m.group(2)) for m in URI_PASSWORD.finditer(text)):
            found.append(where)
    return found


def _register_secrets(expanded: Any, secret_key: Callable[[str], bool]) -> None:
    for _, key, text in _strings(expanded):
        if secret_key(key):
            register_secret(text)
        for match in URI_PASSWORD.finditer(text):
            register_secret(match.group(2))


def check_private(path: Path, raw: Any, field: str, secret_key: Callable[[str], bool] = is_secret_key) -> None:
    """Refuse a config that holds a literal secret while its group or others have any access to it.

    Raises
    ------
    InputError
        Names the first key holding a literal secret (never its value) and the fix.
    """
    found = literal_secrets(raw, secret_key)
    if not found:
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InputError(
            field,
            f"{path} holds a literal secret ({found[0]}) but its mode is {mode:04o}: group or others can read it",
            f"chmod 600 {path}, or ${{VAR}} from the environment",
        )


def read_config(
    path: str | Path, field: str, *, secret_key: Callable[[str], bool] | None = is_secret_key
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read a YAML config, check who may read its secrets, and expand its ``${VAR}`` values.

    Parameters
    ----------
    path
        The config file.
    field
        The option that named it, for messages (e.g. ``--db``).
    secret_key
        Which key names hold secrets (default :func:`is_secret_key`; URIs with ``user:password@`` always
        count). ``None`` turns the check and the registration for :func:`redact` off, for files that
        hold no credentials at all.

    Returns
    -------
    tuple
        ``(expanded, raw)``: the mapping with the variables filled in, and as written.

    Raises
    ------
    InputError
        Missing, oversized or unreadable file, invalid YAML, not a mapping, a literal secret in a file
        that group or others can read, or a variable that is not set. No message quotes a value.
    """
    from spillover.yamlio import read_yaml

    path = Path(path)
    raw = read_yaml(path, field)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InputError(field, f"{path} must hold a mapping")
    if secret_key is not None:
        check_private(path, raw, field, secret_key)
    unset = sorted(v for v in variables(raw) if v not in os.environ)
    if unset:
        raise InputError(field, f"{path} uses unset environment variable(s) {', '.join(unset)}")
    expanded = expand(raw)
    if secret_key is not None:
        _register_secrets(expanded, secret_key)
    return expanded, raw
