"""Fuzzing the study file: every generated bad study fails like ``spillover run STUDY --db DB``, in one line.

Each example mutates a shipped study (workflows/ru_tio2_spillover.yaml or tests/data/*.yaml) so that it
is certainly invalid, writes it, and runs :func:`spillover.cli.main` in-process with
``sys.argv = ['spillover', 'run', STUDY, '--db', DB, '--scratch', SCRATCH]``. Every example must
exit 2 with exactly one line on stderr, ``spillover: error: ...``, no traceback, nothing on stdout,
no database or scratch directory, within 10 s. Mutations: numbers out of their range (huge,
negative, NaN, infinite, of the wrong type), wrong types and values of the other keys, unknown keys,
deep nesting, oversized or non-finite preset overrides, alias and merge-key bombs, duplicate keys, other text
encodings, NUL and random bytes, oversized files, unclosed YAML.
"""

from __future__ import annotations

import contextlib
import io
import math
import sys
import tempfile
import typing
from pathlib import Path
from typing import Any

import annotated_types as at
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from conftest import time_limit

from spillover.cli import main
from spillover.study import Study
from spillover.yamlio import MAX_BYTES

ROOT = Path(__file__).resolve().parents[1]
BASES = {p.name: yaml.safe_load(p.read_text())
         for p in [ROOT / "workflows" / "ru_tio2_spillover.yaml", *sorted((ROOT / "tests" / "data").glob("*.yaml"))]}
BASE_NAMES = sorted(BASES)
# 10 s per example at most; no example database in the work tree.
FUZZ = settings(deadline=10_000, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module", autouse=True)
def _never_compute():
    """A fuzzed study that passed every check would start a calculation: make that a failure instead."""
    import spillover.runner

    def refuse(*args: Any, **kwargs: Any) -> int:
        raise AssertionError("a fuzzed study passed every check and reached run_study")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(spillover.runner, "run_study", refuse)
        yield


def run_study_file(content: bytes) -> None:
    """Write ``content`` as a study and run it as ``spillover run`` does; assert the one-line refusal."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        study, db, scratch = work / "study.yaml", work / "db", work / "scratch"
        study.write_bytes(content)
        out, err = io.StringIO(), io.StringIO()
        old = sys.argv
        sys.argv = ["spillover", "run", str(study), "--db", str(db), "--scratch", str(scratch)]
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), time_limit(10):
                try:
                    main()
                    code = 0
                except SystemExit as exc:
                    code = exc.code
        finally:
            sys.argv = old
        lines = err.getvalue().strip().splitlines()
        assert code == 2, (code, err.getvalue()[-2000:], content[:300])
        assert len(lines) == 1 and lines[0].startswith("spillover: error: "), (err.getvalue()[-2000:], content[:300])
        assert "Traceback" not in err.getvalue() and out.getvalue() == ""
        assert not db.exists() and not scratch.exists()


# --- the numeric fields of every section, with their ranges, read from the models ----------------


def _numeric_fields() -> list[tuple[str, str, type, float | None, bool, float | None]]:
    """(section, key, int or float, lower bound, lower bound open, upper bound) of every bounded scalar."""
    out = []
    for section, info in Study.model_fields.items():
        model = info.annotation
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            continue
        for key, field in model.model_fields.items():
            kinds = {field.annotation, *typing.get_args(field.annotation)} & {int, float}
            lo = next((m for m in field.metadata if isinstance(m, (at.Gt, at.Ge))), None)
            hi = next((m for m in field.metadata if isinstance(m, at.Le)), None)
            if kinds and lo is not None and hi is not None:
                low = lo.gt if isinstance(lo, at.Gt) else lo.ge
                out.append((section, key, int if int in kinds else float, float(low), isinstance(lo, at.Gt),
                            float(hi.le)))
    return out


NUMERIC = _numeric_fields()


def _bad_number(kind: type, lo: float, lo_open: bool, hi: float) -> st.SearchStrategy:
    """Values certainly outside the field: beyond either bound, non-finite, or of another type."""
    above = st.floats(min_value=hi, exclude_min=True, allow_infinity=True, allow_nan=False)
    below = st.floats(max_value=lo, exclude_max=not lo_open, allow_infinity=True, allow_nan=False)
    big_ints = st.integers(min_value=int(hi) + 1, max_value=10**40) | st.integers(
        min_value=-(10**40), max_value=math.ceil(lo) - (0 if lo_open else 1))
    wrong = st.booleans() | st.text(max_size=20) | st.lists(st.integers(0, 5), max_size=3) | \
        st.dictionaries(st.text(max_size=5), st.integers(), max_size=2) | st.just(float("nan"))
    if kind is int:  # a strict integer field refuses every float
        return above | below | big_ints | wrong | st.floats(allow_nan=True, allow_infinity=True)
    return above | below | big_ints | wrong


@st.composite
def numeric_mutation(draw: st.DrawFn) -> tuple[str, dict]:
    section, key, kind, lo, lo_open, hi = draw(st.sampled_from(NUMERIC))
    data = dict(BASES[draw(st.sampled_from(BASE_NAMES))])
    sub = dict(data.get(section) or {})
    sub[key] = draw(_bad_number(kind, lo, lo_open, hi))
    data[section] = sub
    return f"{section}.{key}", data


# --- containers, names and the free-form mappings ------------------------------------------------

_REPEAT_BAD = st.integers(min_value=9, max_value=10**30) | st.integers(max_value=0) | st.floats() | st.booleans() | \
    st.text(max_size=4)
_LIST_ENTRY_BAD = {  # a key holding a list of bounded numbers: one bad entry
    ("oxidation", "temperatures_K"): st.floats(min_value=5000, exclude_min=True) | st.floats(max_value=0) | st.text(),
    ("oxidation", "pressures_bar"): st.floats(min_value=1e4, exclude_min=True) | st.floats(max_value=0) | st.booleans(),
}


@st.composite
def container_mutation(draw: st.DrawFn) -> tuple[str, dict]:
    data = dict(BASES[draw(st.sampled_from(BASE_NAMES))])
    choice = draw(st.sampled_from([
        "temperatures", "pressures", "deep_layers", "bulk_supercells", "barrier_systems",
        "film_layers", "too_many", "tuple_length",
    ]))
    if choice in ("temperatures", "pressures"):
        key = ("oxidation", "temperatures_K" if choice == "temperatures" else "pressures_bar")
        good = [300.0] if choice == "temperatures" else [1.0]
        values = draw(st.lists(st.just(good[0]), max_size=5))
        values.insert(draw(st.integers(0, len(values))), draw(_LIST_ENTRY_BAD[key]))
        data["oxidation"] = {**(data.get("oxidation") or {}), key[1]: values}
    elif choice == "deep_layers":
        values = [3, 4]  # support layers 1..20
        values[draw(st.integers(0, 1))] = draw(st.integers(min_value=21) | st.integers(max_value=0) | st.floats()
                                               | st.booleans() | st.text(max_size=4))
        data["mu_profile"] = {**(data.get("mu_profile") or {}), "verdict": {"deep_layers": values}}
    elif choice == "bulk_supercells":
        bulk = draw(st.sampled_from(["rutile", "anatase"]))
        cell = [2, 2, 2]
        cell[draw(st.integers(0, 2))] = draw(_REPEAT_BAD)
        data["mu_profile"] = {**(data.get("mu_profile") or {}), "bulk_supercells": {bulk: [cell]}}
    elif choice == "barrier_systems":
        bad = draw(st.integers() | st.floats() | st.booleans() | st.text(max_size=8).filter(lambda t: "/" not in t))
        data["barriers"] = {**(data.get("barriers") or {}), "systems": [bad]}
    elif choice == "film_layers":
        bad = draw(st.integers(min_value=21) | st.integers(max_value=0) | st.floats() | st.booleans() | st.text())
        film = draw(st.sampled_from(["Ru-0001", "RuO2-110"]))
        data["cell"] = {**(data.get("cell") or {}), "film_layers": {film: bad}}
    elif choice == "too_many":
        section, key, entry = draw(st.sampled_from([
            ("oxidation", "temperatures_K", 300.0), ("oxidation", "pressures_bar", 1.0),
            ("mu_profile", "bulk_supercells", None), ("lattice_scan", "films", None), (None, "systems", None),
        ]))
        if key == "bulk_supercells":
            sizes = [[2, 2, 2]] * draw(st.integers(3, 50))
            data["mu_profile"] = {**(data.get("mu_profile") or {}), key: {"rutile": sizes}}
        elif key == "films":
            data["lattice_scan"] = {"films": ["Ru-0001"] * draw(st.integers(2, 40)), "supports": ["rutile-110"]}
        elif key == "systems":
            data["systems"] = [{"support": "rutile-110", "films": ["Ru-0001"]}] * draw(st.integers(21, 60))
        else:
            data[section] = {**(data.get(section) or {}), key: [entry] * draw(st.integers(101, 1000))}
    else:  # tuples of the wrong length
        values = draw(st.lists(st.integers(1, 3), max_size=8).filter(lambda v: len(v) != 3))
        data["mu_profile"] = {**(data.get("mu_profile") or {}), "bulk_supercells": {"rutile": [values]}}
    return choice, data


_NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12)


def _nested(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for k in range(depth):
        value = {f"k{k}": value} if k % 2 else [value]
    return value


@st.composite
def structure_mutation(draw: st.DrawFn) -> tuple[str, dict | list | str | int | None]:
    data = dict(BASES[draw(st.sampled_from(BASE_NAMES))])
    choice = draw(st.sampled_from([
        "unknown_top", "unknown_section", "missing_name", "not_a_mapping", "bad_name", "bad_preset", "bad_analyses",
        "bad_systems", "bad_facets", "bad_bool", "deep_value", "overrides_deep", "overrides_large",
        "overrides_value", "overrides_range", "bad_regions", "bad_n_max", "bad_description",
    ]))
    if choice == "unknown_top":
        key = draw(_NAMES.filter(lambda k: k not in Study.model_fields))
        data[key] = draw(st.integers() | st.text(max_size=5) | st.none())
    elif choice == "unknown_section":
        section = draw(st.sampled_from(["lattice_match", "cell", "oxygen", "oxidation", "mu_profile", "barriers",
                                        "lattice_scan"]))
        fields = Study.model_fields[section].annotation.model_fields
        key = draw(_NAMES.filter(lambda k: k not in fields))
        data[section] = {**(data.get(section) or {}), key: draw(st.integers() | st.text(max_size=5))}
    elif choice == "missing_name":
        data.pop("name", None)
    elif choice == "not_a_mapping":
        return choice, draw(st.lists(st.integers(), max_size=3) | st.text(max_size=20) | st.integers() | st.none())
    elif choice == "bad_name":
        data["name"] = draw(st.just("") | st.text(min_size=201, max_size=300) | st.integers() | st.lists(st.text(),
                                                                                                          max_size=2))
    elif choice == "bad_preset":
        data["preset"] = draw(st.text(min_size=1, max_size=70).filter(
            lambda s: not (s[0].isascii() and s[0].isalnum() and len(s) <= 64
                           and all(c.isascii() and (c.isalnum() or c in "_.-") for c in s))))
    elif choice == "bad_analyses":
        data["analyses"] = draw(st.sampled_from([["lattice-match", "lattice-match"], ["everything"], "lattice-match",
                                                 [1], {"a": 1}]))
    elif choice == "bad_systems":
        data["systems"] = draw(st.sampled_from([
            "rutile-110", [{"support": "rutile-111", "films": ["Ru-0001"]}], [{"support": "rutile-110", "films": []}],
            [{"support": "rutile-110", "films": ["Ru-0001", "RuO2-110"]}], [{"support": "rutile-110"}],
            [{"support": "rutile-110", "films": ["Ru-0001"], "colour": "red"}], [["rutile-110", "Ru-0001"]],
        ]))
    elif choice == "bad_facets":
        bad = draw(st.text(max_size=30).filter(lambda s: len(s) > 16 or "-" not in s) | st.sampled_from(
            ["rutile-975", "Ru-0004x", "-110", "rutile-", "rutile-1a0"]) | st.integers())
        data["lattice_scan"] = {"films": [bad], "supports": ["rutile-110"]}
    elif choice == "bad_bool":
        section, key = draw(st.sampled_from([("oxygen", "correction"), ("oxygen", "vibrations"),
                                             ("barriers", "lazy")]))
        data[section] = {**(data.get(section) or {}), key: draw(st.integers() | st.text(max_size=5) | st.floats())}
    elif choice == "deep_value":
        section, key, *_ = draw(st.sampled_from(NUMERIC))
        data[section] = {**(data.get(section) or {}), key: _nested(draw(st.integers(1, 60)))}
    elif choice.startswith("overrides"):
        where = draw(st.sampled_from(["preset_overrides", "barriers.dft_preset_overrides"]))
        if choice == "overrides_deep":
            value = _nested(draw(st.integers(5, 60)))
            value = value if isinstance(value, dict) else {"k": value}
        elif choice == "overrides_large":
            value = {f"k{i}": i for i in range(draw(st.integers(201, 2000)))}
        elif choice == "overrides_value":
            value = {"gpaw": {draw(_NAMES): draw(st.sampled_from([float("nan"), float("inf"), -float("inf"), 10**20,
                                                                  "x" * 1001]))}}
        else:
            section, key = draw(st.sampled_from([("neb", "n_images"), ("neb", "steps"), ("neb", "fmax"),
                                                 ("relax", "steps"), ("relax", "fmax")]))
            value = {section: {key: draw(st.integers(min_value=10**7, max_value=10**30) | st.floats(max_value=0))}}
        if where == "preset_overrides":
            data["preset_overrides"] = value
        else:
            data["barriers"] = {**(data.get("barriers") or {}), "dft_preset_overrides": value}
    elif choice == "bad_regions":
        section = draw(st.sampled_from(["barriers", "mu_profile"]))
        data[section] = {**(data.get(section) or {}), "regions": draw(st.sampled_from([[], ["mars"], "rutile-bulk",
                                                                                       ["ru-bulk", "ru-bulk"]]))}
    elif choice == "bad_n_max":
        data["oxidation"] = {**(data.get("oxidation") or {}), "n_max": draw(
            st.integers(min_value=101) | st.integers(max_value=0) | st.booleans() | st.floats()
            | st.text(max_size=12).filter(lambda s: s != "full-layer"))}
    else:
        long_text = st.text(min_size=1, max_size=20).map(lambda t: t * (10_001 // len(t) + 1))
        data["description"] = draw(long_text | st.integers() | st.lists(st.text()))
    return choice, data


def _dump(data: Any) -> bytes:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False).encode("utf-8")


# 400 + 200 = 600 generated bad study files in all
@settings(FUZZ, max_examples=400)
@given(st.one_of(numeric_mutation(), container_mutation(), structure_mutation()))
def test_fuzzed_study_values_fail_in_one_line(case):
    _, data = case
    run_study_file(_dump(data))


# --- the text and the bytes of the file -------------------------------------------------------------


def _bomb(levels: int, width: int) -> str:
    parts = ["a0: &a0 [" + ", ".join(["x"] * width) + "]"]
    parts += [f"a{k}: &a{k} [" + ", ".join([f"*a{k - 1}"] * width) + "]" for k in range(1, levels)]
    return "{" + ", ".join(parts) + "}"


@st.composite
def text_mutation(draw: st.DrawFn) -> bytes:
    name = draw(st.sampled_from(BASE_NAMES))
    data = BASES[name]
    text = yaml.safe_dump(data, sort_keys=False)
    choice = draw(st.sampled_from([
        "duplicate", "alias_bomb", "merge_bomb", "deep_text", "utf16", "utf32", "latin1", "nul", "random_bytes",
        "oversize", "unclosed", "bad_tag", "huge_int", "control",
    ]))
    if choice == "duplicate":
        key = draw(st.sampled_from([k for k in data]))
        value = draw(st.sampled_from(["gpaw-production", "1", "{}", "[]", "null", "screen"]))
        return (text + f"\n{key}: {value}\n").encode()
    if choice == "alias_bomb":
        levels, width = draw(st.integers(2, 12)), draw(st.integers(2, 12))
        while width ** levels <= 250:  # a small expansion would be a valid mapping of preset keys
            levels += 1
        where = draw(st.sampled_from(["preset_overrides", "barriers"]))
        if where == "preset_overrides":
            patched = {**data, "preset_overrides": "__BOMB__"}
        else:
            patched = {**data, "barriers": {**(data.get("barriers") or {}), "dft_preset_overrides": "__BOMB__"}}
        return yaml.safe_dump(patched, sort_keys=False).replace("__BOMB__", _bomb(levels, width)).encode()
    if choice == "merge_bomb":  # merge keys doubling a mapping per level: 2 ** levels pairs
        levels = draw(st.integers(15, 25))
        lines = ["zz0: &zz0 {a: 1, b: 2}"]
        lines += [f"zz{k}: &zz{k} {{<<: [*zz{k - 1}, *zz{k - 1}]}}" for k in range(1, levels)]
        return (text + "\n" + "\n".join(lines) + "\n").encode()
    if choice == "deep_text":
        depth = draw(st.integers(41, 600))
        opener, closer = draw(st.sampled_from([("[", "]"), ("{a: ", "}")]))
        return (text + f"\nzz_deep: {opener * depth}1{closer * depth}\n").encode()
    if choice == "utf16":
        return text.encode(draw(st.sampled_from(["utf-16", "utf-16-le", "utf-16-be"])))
    if choice == "utf32":
        return text.encode(draw(st.sampled_from(["utf-32", "utf-32-le", "utf-32-be"])))
    if choice == "latin1":
        char = chr(draw(st.integers(0xA0, 0xFF)))
        at_ = draw(st.integers(0, len(text)))
        return (text[:at_] + char + "x" + text[at_:]).encode("latin-1", errors="replace")
    if choice == "nul":
        raw = text.encode()
        at_ = draw(st.integers(0, len(raw)))
        return raw[:at_] + b"\x00" + raw[at_:]
    if choice == "random_bytes":
        raw = draw(st.binary(max_size=4000))
        bad = draw(st.sampled_from([b"\x00", b"\xff", b"\xc0", b"\xfe", b"\x07"]))
        at_ = draw(st.integers(0, len(raw)))
        prefix = draw(st.sampled_from([b"", text.encode()]))
        return prefix + raw[:at_] + bad + raw[at_:]
    if choice == "oversize":
        size = draw(st.integers(MAX_BYTES + 1, 2 * 1024 * 1024))
        raw = text.encode() + b"\n"
        return raw + b"#" * max(0, size - len(raw))
    if choice == "unclosed":
        return (text + "\nzz_unclosed: [1, 2\n").encode()
    if choice == "bad_tag":
        tag = draw(st.sampled_from(["!!binary aGk=", "!!set {a}", "!!omap [a: 1]", "!!timestamp 2020-01-01",
                                    "!!python/name:os.system", "!custom 1"]))
        return (text + f"\nzz_tagged: {tag}\n").encode()
    if choice == "huge_int":
        return (text + f"\nzz_int: {'9' * draw(st.integers(51, 20_000))}\n").encode()
    return (text + f"\nzz_control: \"a{chr(draw(st.integers(1, 8)))}b\"\n").encode()


@settings(FUZZ, max_examples=200)
@given(text_mutation())
def test_fuzzed_study_files_fail_in_one_line(content):
    run_study_file(content)

