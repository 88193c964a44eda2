"""Reading YAML files a user hands us (studies, presets, configs) with bounds checked before anything else.

A file is read as bytes (at most :data:`MAX_BYTES`), decoded as UTF-8, and parsed with PyYAML's safe
loader extended to refuse duplicate keys (an appended ``preset: gpaw-production`` would otherwise
switch a run silently), nesting deeper than :data:`MAX_DEPTH`, more than :data:`MAX_NODES` values,
more than :data:`MAX_ALIASES` aliases, and documents whose aliases expand to more than
:data:`MAX_NODES` values (an alias bomb would hang the validation that walks the expanded tree).

Only plain data comes back: mappings, lists, strings, numbers, booleans and null. Dates stay
strings, and explicit ``!!binary``, ``!!set``, ``!!omap``, ``!!pairs`` and ``!!timestamp`` tags are
refused. Numbers written ``1e-5`` are floats (YAML 1.2; PyYAML's YAML 1.1 rules would make them
strings), integers longer than :data:`MAX_DIGITS` digits are refused, and merge keys (``<<: *base``)
work, their keys overridable. Every problem is one :class:`InputError` naming the file and, where
there is one, the line.
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path
from typing import Any

import yaml
from yaml.events import AliasEvent

from spillover.errors import InputError

MAX_BYTES = 256 * 1024
MAX_DEPTH = 40
MAX_ALIASES = 50
MAX_NODES = 10_000
MAX_DIGITS = 50

_MERGE_TAG = "tag:yaml.org,2002:merge"
_REFUSED_TAGS = ("binary", "set", "omap", "pairs", "timestamp")
# YAML 1.2 floats that PyYAML (YAML 1.1) reads as strings: 1e-5, 2E10, 1.5e5 (1.1 wants a dot and a sign).
_EXP_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+$")


class _Refused(Exception):
    """A bound broken while parsing; carries the message and the line."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class BoundedSafeLoader(yaml.SafeLoader):
    """SafeLoader with duplicate keys, deep nesting, large documents and aliases refused or bounded."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0
        self._nodes = 0

    def compose_node(self, parent, index):  # noqa: ANN001 - PyYAML's signature
        if self.check_event(AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _Refused(f"more than {MAX_ALIASES} aliases", self.peek_event().start_mark.line + 1)
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise _Refused(f"more than {MAX_NODES} values", self.peek_event().start_mark.line + 1)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _Refused(f"nesting deeper than {MAX_DEPTH} levels", self.peek_event().start_mark.line + 1)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_mapping_node(self, anchor):  # noqa: ANN001 - PyYAML's signature
        node = super().compose_mapping_node(anchor)
        # the keys as written: a merge (<<) elsewhere may flatten this node before it is constructed
        node.written_keys = [key for key, _ in node.value if key.tag != _MERGE_TAG]
        return node

    def flatten_mapping(self, node):  # noqa: ANN001 - PyYAML's signature
        super().flatten_mapping(node)
        # merges copy the pairs of the merged mappings: nested merges of one mapping twice double
        # them at every level with two aliases each
        if len(node.value) > MAX_NODES:
            raise _Refused(f"merge keys (<<) expand to more than {MAX_NODES} values", _line(node))

    def construct_mapping(self, node, deep=False):  # noqa: ANN001 - PyYAML's signature
        # Duplicates among the keys written in this mapping; keys that a merge (<<) brings in may be
        # overridden, as YAML intends.
        seen: dict[Any, int] = {}
        if isinstance(node, yaml.MappingNode):
            for key_node in getattr(node, "written_keys", [k for k, _ in node.value if k.tag != _MERGE_TAG]):
                key = self.construct_object(key_node, deep=True)
                try:
                    hash(key)
                except TypeError:
                    raise _Refused("a mapping key must be a plain value", _line(key_node)) from None
                if key in seen:
                    raise _Refused(f"duplicate key {_short(key)} (first at line {seen[key]})", _line(key_node))
                seen[key] = _line(key_node)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node):  # noqa: ANN001 - PyYAML's signature
        text = str(node.value)
        if sum(c.isalnum() for c in text) > MAX_DIGITS:
            raise _Refused(f"an integer with more than {MAX_DIGITS} digits", _line(node))
        return super().construct_yaml_int(node)

    def construct_yaml_float(self, node):  # noqa: ANN001 - PyYAML's signature
        text = str(node.value)
        if len(text) > 4 * MAX_DIGITS:
            raise _Refused(f"a number longer than {4 * MAX_DIGITS} characters", _line(node))
        return super().construct_yaml_float(node)

    def construct_refused(self, node):  # noqa: ANN001 - PyYAML's signature
        raise _Refused(f"tag {node.tag.rsplit(':', 1)[-1]!r} is not allowed (plain data only)", _line(node))


for _tag in _REFUSED_TAGS:
    BoundedSafeLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", BoundedSafeLoader.construct_refused)
BoundedSafeLoader.add_constructor("tag:yaml.org,2002:int", BoundedSafeLoader.construct_yaml_int)
BoundedSafeLoader.add_constructor("tag:yaml.org,2002:float", BoundedSafeLoader.construct_yaml_float)
# Own copy of the implicit resolvers: no timestamps (dates stay strings), YAML 1.2 exponent floats.
BoundedSafeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
BoundedSafeLoader.add_implicit_resolver("tag:yaml.org,2002:float", _EXP_FLOAT, list("-+.0123456789"))


def _count_nodes(value: Any, limit: int) -> int:
    """Nodes of the expanded tree (shared references counted each time), stopping past ``limit``."""
    count, stack = 0, [value]
    while stack:
        item = stack.pop()
        count += 1
        if count > limit:
            return count
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return count


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """Where and what, on one line, of a PyYAML error."""
    if isinstance(exc, yaml.reader.ReaderError):
        return f" at character {exc.position}: unacceptable character #x{exc.character:04x}" \
            if isinstance(exc.character, int) else f" at character {exc.position}"
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}" if mark else ""
    problem = getattr(exc, "problem", None)
    return f"{where}: {' '.join(str(problem).split())}" if problem else where


def parse_yaml(text: str, source: str, field: str) -> Any:
    """Parse YAML text with the bounds of this module.

    Parameters
    ----------
    text
        The document.
    source
        What it is, for messages (a path).
    field
        The input it came from, for the error (``study``, ``preset``, ``--launchpad``, ...).

    Returns
    -------
    Any
        The document's data: dicts, lists, str, int, float, bool and None only.

    Raises
    ------
    InputError
        Invalid YAML or a broken bound, with the line where known.
    """
    try:
        data = yaml.load(text, Loader=BoundedSafeLoader)  # noqa: S506 - a SafeLoader subclass
    except _Refused as exc:
        where = f" at line {exc.line}" if exc.line else ""
        raise InputError(field, f"{source}: {exc}{where}") from None
    except yaml.YAMLError as exc:
        raise InputError(field, f"{source} is not valid YAML{_yaml_problem(exc)}") from None
    except RecursionError:
        raise InputError(field, f"{source}: nesting too deep") from None
    except (ValueError, TypeError, OverflowError) as exc:  # a constructor's own check, e.g. an impossible value
        problem = " ".join(str(exc).split())[:200]
        raise InputError(field, f"{source} is not valid YAML: {problem}") from None
    if _count_nodes(data, MAX_NODES) > MAX_NODES:
        raise InputError(field, f"{source}: its aliases expand to more than {MAX_NODES} values")
    return data


def read_yaml(path: str | Path, field: str) -> Any:
    """Read and parse a YAML file: size, encoding and structure bounded (see the module docstring).

    Raises
    ------
    InputError
        A missing or unreadable file, one larger than :data:`MAX_BYTES`, one that is not UTF-8,
        invalid YAML, or a broken bound.
    """
    path = Path(path)
    try:
        if not path.is_file():
            raise InputError(field, f"file {path} does not exist")
        with path.open("rb") as stream:  # at most one byte past the limit, even for a file that grows
            raw = stream.read(MAX_BYTES + 1)
    except OSError as exc:
        raise InputError(field, f"cannot read {path}: {exc.strerror or exc.__class__.__name__}") from None
    if len(raw) > MAX_BYTES:
        raise InputError(field, f"{path} is larger than the {MAX_BYTES} bytes allowed")
    for boms, name in (((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE), "UTF-32"),
                       ((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE), "UTF-16")):
        if raw.startswith(boms):
            raise InputError(field, f"{path} is {name} text, not UTF-8", "UTF-8 YAML")
    if b"\x00" in raw:
        raise InputError(field, f"{path} is not UTF-8 text (it holds NUL bytes: binary data, or UTF-16/32 "
                         "without a byte-order mark)", "UTF-8 YAML")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(field, f"{path} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at line {line}; "
                         "Latin-1 or another 8-bit encoding?)", "UTF-8 YAML") from None
    return parse_yaml(text, str(path), field)
