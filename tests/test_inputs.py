"""Bad input of every kind fails with one line naming the field and its range, before anything runs.

A representative handful goes through real ``spillover`` subprocesses (each costs seconds to start);
the rest calls :func:`spillover.cli.main` in-process with ``sys.argv`` set, or the builders directly.
No case reaches a calculator: every check here must refuse its input first.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from conftest import run_cli, time_limit
from spillover.errors import InputError
from spillover.study import load_study
from spillover.yamlio import MAX_BYTES, parse_yaml, read_yaml

ROOT = Path(__file__).resolve().parents[1]
MAIN = ROOT / "workflows" / "ru_tio2_spillover.yaml"


@pytest.fixture(scope="module", autouse=True)
def _imported():
    """Import the builders once, so that the time limits below measure checks, not imports."""
    import spillover.build.interfaces  # noqa: F401
    import spillover.jobs.neb  # noqa: F401


def assert_one_line_error(code: int, out: str, err: str, field: str, fragment: str = "") -> str:
    """Exit 2, nothing on stdout, exactly one line on stderr naming ``field`` (and ``fragment``)."""
    lines = err.strip().splitlines()
    assert code == 2, (code, out, err)
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"spillover: error: {field}:"), lines[0]
    assert fragment in lines[0], lines[0]
    assert out == "", out
    return lines[0]


def _main_study() -> dict:
    return yaml.safe_load(MAIN.read_text())


def _write(path: Path, data: Any) -> Path:
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data if isinstance(data, str) else yaml.safe_dump(data), encoding="utf-8")
    return path


def _run_study(tmp_path: Path, study: Path) -> tuple[int, str, str]:
    db, scratch = tmp_path / "db", tmp_path / "scratch"
    result = run_cli("run", str(study), "--db", str(db), "--scratch", str(scratch))
    assert not db.exists() and not scratch.exists(), "a refused study wrote to the database or scratch"
    return result


def _set(path: str, value: Any) -> Callable[[dict], None]:
    """A change that sets the dotted ``path`` of a study (sections created as needed)."""

    def change(data: dict) -> None:
        *parents, key = path.split(".")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
        node[key] = value

    return change


def _alias_bomb(levels: int = 9, width: int = 10) -> str:
    """A flow mapping whose anchors expand to width**levels values."""
    parts = ["l0: &l0 [" + ", ".join(["lol"] * width) + "]"]
    for k in range(1, levels):
        parts.append(f"l{k}: &l{k} [" + ", ".join([f"*l{k - 1}"] * width) + "]")
    return "{" + ", ".join(parts) + "}"


# --- subprocesses: the reported tracebacks and hangs, as a user meets them -----------------------


def _subprocess(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "spillover.cli", *argv], capture_output=True, text=True, cwd=cwd,
                          timeout=120, env={**os.environ, "SPILLOVER_SCRATCH": str(cwd / "scratch")})


def _bomb_study(tmp_path: Path) -> list[str]:
    text = MAIN.read_text().replace("  dft_preset: null",
                                    "  dft_preset: null\n  dft_preset_overrides: " + _alias_bomb())
    return [str(_write(tmp_path / "bomb.yaml", text))]


def _utf16_study(tmp_path: Path) -> list[str]:
    return [str(_write(tmp_path / "utf16.yaml", MAIN.read_text().encode("utf-16")))]


def _duplicate_preset(tmp_path: Path) -> list[str]:
    return [str(_write(tmp_path / "dup.yaml", MAIN.read_text() + "\npreset: gpaw-production\n"))]


@pytest.mark.parametrize(("make_argv", "field", "fragment"), [
    (lambda t: ["run", *_utf16_study(t)], "study", "UTF-16"),
    (lambda t: ["run", *_bomb_study(t)], "study", "aliases"),
    (lambda t: ["run", *_duplicate_preset(t)], "study", "duplicate key 'preset'"),
    (lambda t: ["build", "slab", "rutile-110", "--vacuum", "1e308", "-o", str(t / "slab.extxyz")], "--vacuum",
     "0 < x <= 50 Å"),
    (lambda t: ["build", "interface", "rutile-110", "RuO2-110", "--max-area", "3000"], "--max-area", "1000 Å²"),
    (lambda t: ["neb", str(t / "a.xyz"), str(t / "b.xyz"), "--images", "100000000"], "--images", "1..64"),
    (lambda t: ["build", "slab", "rutile-110", "--layers", "abc"], "--layers", "valid integer"),
], ids=["utf16", "alias-bomb", "duplicate-preset", "vacuum-1e308", "max-area-3000", "images-1e8", "not-a-number"])
def test_cli_subprocess_refuses_in_one_line(tmp_path, make_argv, field, fragment):
    argv = make_argv(tmp_path)
    if argv[0] in ("run", "neb"):
        argv += ["--db", str(tmp_path / "db")]
    started = time.perf_counter()
    result = _subprocess(argv, tmp_path)
    assert time.perf_counter() - started < 60
    assert_one_line_error(result.returncode, result.stdout, result.stderr, field, fragment)
    assert not (tmp_path / "db").exists() and not (tmp_path / "scratch").exists()
    assert not (tmp_path / "slab.extxyz").exists()


# --- every bound of a study file ------------------------------------------------------------------

STUDY_BOUNDS = [
    ("lattice_match.max_area_A2", 1001, "lattice_match.max_area_A2", "0 < x <= 1000 Å²"),
    ("lattice_match.max_area_A2", 1e38, "lattice_match.max_area_A2", "0 < x <= 1000 Å²"),
    ("lattice_match.max_area_A2", 0, "lattice_match.max_area_A2", "0 < x <= 1000 Å²"),
    ("lattice_match.max_area_A2", float("nan"), "lattice_match.max_area_A2", "finite"),
    ("lattice_match.max_area_A2", float("inf"), "lattice_match.max_area_A2", "finite"),
    ("lattice_match.max_area_A2", "120", "lattice_match.max_area_A2", "valid number"),
    ("lattice_match.max_strain_percent", 25, "lattice_match.max_strain_percent", "0 < x <= 20 %"),
    ("lattice_match", {"max_area_A2": 1000, "max_strain_percent": 6}, "lattice_match", "lattice search"),
    ("cell.support_layers", 21, "cell.support_layers", "2..20"),
    ("cell.fixed_layers", 20, "cell.fixed_layers", "0..19"),
    ("cell.film_layers", {"Ru-0001": 21}, "cell.film_layers.Ru-0001", "1..20"),
    ("cell.film_layers", {"Ru-0001": True}, "cell.film_layers.Ru-0001", "1..20"),
    ("cell.vacuum", 1e308, "cell.vacuum", "0 < x <= 50 Å"),
    ("cell.gap", 11, "cell.gap", "0 < x <= 10 Å"),
    ("oxygen.box_A", 41, "oxygen.box_A", "8 <= x <= 40 Å"),
    ("oxygen.correction", "yes", "oxygen.correction", "boolean"),
    ("oxygen.fit_on", [], "oxygen.fit_on", "at least 1"),
    ("oxygen.fit_on", ["TiO2"], "oxygen.fit_on[0]", "'RuO2'"),
    ("oxidation.funnel.dft_k", 0, "oxidation.funnel.dft_k", "1..1000"),
    ("mu_profile.funnel.dft_preset", "../x", "mu_profile.funnel.dft_preset", "pattern"),
    ("oxidation.funnel.dft_preset", "no-such-preset", "oxidation.funnel.dft_preset", "unknown preset"),
    ("oxidation.n_max", 101, "oxidation.n_max", "1..100"),
    ("oxidation.funnel.loose_n", 1001, "oxidation.funnel.loose_n", "1..1000"),
    ("oxidation.temperatures_K", [300, 1e5], "oxidation.temperatures_K[1]", "0 < x <= 5000 K"),
    ("oxidation.pressures_bar", [1e5], "oxidation.pressures_bar[0]", "0 < x <= 10000 bar"),
    ("oxidation.funnel.loose_fmax", 0, "oxidation.funnel.loose_fmax", "0 < x <= 10 eV/Å"),
    ("mu_profile.slab_layers", 21, "mu_profile.slab_layers", "2..20"),
    ("mu_profile.support_layers_probed", 0, "mu_profile.support_layers_probed", "1..20"),
    ("mu_profile.vacuum", 0, "mu_profile.vacuum", "0 < x <= 50 Å"),
    ("mu_profile.bulk_supercells", {"rutile": [[2, 2, 9]]}, "mu_profile.bulk_supercells.rutile[0][2]", "1..8"),
    ("mu_profile.bulk_supercells", {"rutile": [[2, 2, 2]] * 3}, "mu_profile.bulk_supercells.rutile", "at most 2"),
    ("mu_profile.transfer_sites", 0, "mu_profile.transfer_sites", "1..1000"),
    ("mu_profile.funnel", {"loose_n": 1001}, "mu_profile.funnel.loose_n", "1..1000"),
    ("mu_profile.verdict", {"deep_layers": [0]}, "mu_profile.verdict.deep_layers[0]", "1..20"),
    ("mu_profile.verdict", {"tolerance_eV": 2}, "mu_profile.verdict.tolerance_eV", "0 <= x <= 1 eV"),
    ("mu_profile.verdict", {"temperature_K": 0}, "mu_profile.verdict.temperature_K", "0 < x <= 5000 K"),
    ("mu_profile.systems", ["rutile-110/Ru-0001"] * 2, "mu_profile.systems", "listed twice"),
    ("barriers.cutoff_A", 6.5, "barriers.cutoff_A", "0 < x <= 6 Å"),
    ("barriers.n_images", 65, "barriers.n_images", "1..64"),
    ("barriers.fmax", 11, "barriers.fmax", "0 < x <= 10 eV/Å"),
    ("barriers.steps", 100_001, "barriers.steps", "0..100000"),
    ("barriers.spring_constant", 101, "barriers.spring_constant", "0 < x <= 100 eV/Å²"),
    ("barriers.systems", ["rutile-110/Ru-0001", "rutile-110/Ru-0001"], "barriers.systems", "listed twice"),
    ("barriers.n_images", 5, "barriers.n_images", "an even number"),
    ("barriers.lazy", "yes", "barriers.lazy", "bool"),
    ("barriers.dft_preset", "../../etc/evil", "barriers.dft_preset", "pattern"),
    ("barriers.dft_preset_overrides", {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}, "barriers.dft_preset_overrides",
     "deeper than 5 levels"),
    ("barriers.dft_preset_overrides", {f"k{i}": i for i in range(201)}, "barriers.dft_preset_overrides", "200"),
    ("barriers.dft_preset_overrides", {"gpaw": {"mode": {"ecut": float("nan")}}}, "barriers.dft_preset_overrides",
     "finite"),
    ("barriers.dft_preset_overrides", {"neb": {"n_images": 10**8}}, "preset.neb.n_images", "1..64"),
    ("preset_overrides", [1, 2], "preset_overrides", "mapping"),
    ("preset_overrides", {"x" * 65: 1}, "preset_overrides", "1-64 characters"),
    ("preset_overrides", {"neb": {"n_images": 10**8}}, "preset.neb.n_images", "1..64"),
    ("preset_overrides", {"relax": {"steps": 10**7}}, "preset.relax.steps", "0..100000"),
    ("lattice_scan.films", ["rutile-975"], "lattice_scan.films[0]", "Miller indices -3..3"),
    ("lattice_scan.films", ["Ru-0001", "Ru-0001"], "lattice_scan.films", "listed twice"),
    ("analyses", ["barriers", "barriers"], "analyses", "listed twice"),
    ("lattice_match.max_area", 100, "lattice_match.max_area", "did you mean 'max_area_A2'"),
    ("cell.vaccum", 12, "cell.vaccum", "did you mean 'vacuum'"),
]


@pytest.mark.parametrize(("path", "value", "field", "fragment"), STUDY_BOUNDS,
                         ids=[f"{p}={str(v)[:20]}" for p, v, _, _ in STUDY_BOUNDS])
def test_study_bound_is_named(tmp_path, path, value, field, fragment):
    data = _main_study()
    _set(path, value)(data)
    line = assert_one_line_error(*_run_study(tmp_path, _write(tmp_path / "study.yaml", data)), field, fragment)
    if isinstance(value, (int, float)) and "valid" not in fragment:
        assert "(allowed:" in line


def test_every_numeric_section_field_has_a_stated_range():
    """Each number of a study section names its allowed range (a new field without one fails here)."""
    import annotated_types as at
    import typing
    from pydantic import BaseModel

    from spillover.study import Study

    missing = []
    for section, info in Study.model_fields.items():
        model = info.annotation
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            continue
        for name, field in model.model_fields.items():
            args = {a for a in typing.get_args(field.annotation)} | {field.annotation}
            if not args & {int, float}:
                continue
            bounds = [m for m in field.metadata if isinstance(m, (at.Gt, at.Ge))] and \
                [m for m in field.metadata if isinstance(m, (at.Lt, at.Le))]
            validators = getattr(model, "__pydantic_decorators__").field_validators.values()
            custom = any(name in v.info.fields for v in validators)
            if not bounds and not custom:
                missing.append(f"{section}.{name}")
    assert missing == []


# --- encodings, sizes and the YAML structure ------------------------------------------------------


def _merge_bomb(levels: int = 25) -> str:
    """Merge keys that double a mapping at every level with two aliases each."""
    lines = ["name: merge-bomb", "x0: &x0 {a: 1, b: 2}"]
    lines += [f"x{k}: &x{k} {{<<: [*x{k - 1}, *x{k - 1}]}}" for k in range(1, levels)]
    return "\n".join(lines) + "\n"


def _latin1(text: str) -> bytes:
    return text.replace("like for like", "like for like, café").encode("latin-1")


@pytest.mark.parametrize(("content", "fragment"), [
    (lambda: MAIN.read_text().encode("utf-16"), "UTF-16"),
    (lambda: MAIN.read_text().encode("utf-16-le"), "NUL"),
    (lambda: MAIN.read_text().encode("utf-32"), "UTF-32"),
    (lambda: _latin1(MAIN.read_text()), "not UTF-8"),
    (lambda: random.Random(7).randbytes(4096), "UTF-8"),
    (lambda: MAIN.read_text().replace("name:", "name:\x00", 1).encode(), "NUL"),
    (lambda: (MAIN.read_text() + "#" * 2_000_000).encode(), "larger than"),
    (lambda: "name: deep\ndescription: " + "[" * 500 + "]" * 500 + "\n", "nesting deeper than 40"),
    (lambda: "name: deep\n" + "".join("  " * i + f"k{i}:\n" for i in range(500)), "nesting deeper than 40"),
    (lambda: MAIN.read_text().replace("  dft_preset: null", "  dft_preset: null\n  dft_preset_overrides: "
                                      + _alias_bomb()), "aliases"),
    (lambda: _merge_bomb(), "merge keys"),
    (lambda: MAIN.read_text() + "\npreset: gpaw-production\n", "duplicate key 'preset'"),
    (lambda: MAIN.read_text().replace("  n_images: 4 ", "  n_images: 4\n  n_images: 300 "), "duplicate key 'n_images'"),
    (lambda: "name: x\nbig: " + "9" * 5000 + "\n", "more than 50 digits"),
    (lambda: "name: !!binary aGVsbG8=\n", "not allowed"),
    (lambda: "name: !!python/object/apply:os.system [ls]\n", "not valid YAML"),
    (lambda: "name: a\n---\nname: b\n", "not valid YAML"),
    (lambda: "name: x\nlist: [" + ", ".join(["0"] * 20_000) + "]\n", "more than 10000 values"),
    (lambda: "name: \x07\n", "unacceptable character"),
    (lambda: "", "must hold a mapping"),
], ids=["utf16", "utf16-no-bom", "utf32", "latin1", "binary", "nul", "2MB", "deep-flow", "deep-block", "alias-bomb",
        "merge-bomb", "duplicate-preset", "duplicate-in-section", "huge-int", "binary-tag", "python-tag",
        "two-documents", "many-values", "control-char", "empty"])
def test_unreadable_study_file_is_one_line(tmp_path, content, fragment):
    path = _write(tmp_path / "study.yaml", content())
    started = time.perf_counter()
    assert_one_line_error(*_run_study(tmp_path, path), "study", fragment)
    assert time.perf_counter() - started < 10


def test_yaml_reader_keeps_plain_yaml_working(tmp_path):
    """Merge keys, YAML 1.2 exponents and dates read as a user means them."""
    data = parse_yaml("base: &b {x: 1, y: 2}\nm: {<<: *b, y: 3}\np: [1e-5, 2E3, 1.5e2]\nd: 2024-01-01\n", "t", "t")
    assert data == {"base": {"x": 1, "y": 2}, "m": {"x": 1, "y": 3}, "p": [1e-5, 2000.0, 150.0], "d": "2024-01-01"}
    text = MAIN.read_text().replace("pressures_bar: [1.0e-10, 1.0e-5, 1.0]", "pressures_bar: [1e-10, 1e-5, 1]")
    assert load_study(_write(tmp_path / "s.yaml", text)).oxidation.pressures_bar == [1e-10, 1e-5, 1.0]
    assert load_study(_write(tmp_path / "bom.yaml", b"\xef\xbb\xbf" + MAIN.read_bytes())).name == "ru_tio2_spillover"
    with pytest.raises(InputError, match="larger than"):
        read_yaml(_write(tmp_path / "big.yaml", "#" * (MAX_BYTES + 1)), "study")


# --- every bound of a CLI option --------------------------------------------------------------------

CLI_BOUNDS = [
    (["build", "slab", "rutile-110", "--vacuum", "1e308"], "--vacuum", "0 < x <= 50 Å"),
    (["build", "slab", "rutile-110", "--vacuum", "nan"], "--vacuum", "finite"),
    (["build", "slab", "rutile-110", "--vacuum", "inf"], "--vacuum", "finite"),
    (["build", "slab", "rutile-110", "--vacuum", "0"], "--vacuum", "0 < x <= 50 Å"),
    (["build", "slab", "rutile-110", "--layers", "21"], "--layers", "1..20"),
    (["build", "slab", "rutile-110", "--repeat", "11,1"], "--repeat", "1..10"),
    (["build", "slab", "rutile-110", "--repeat", "2,2,2"], "--repeat", "a,b"),
    (["build", "slab", "rutile-110", "--repeat", "1x0"], "--repeat", "1..10"),
    (["build", "slab", "rutile-110", "--layers", "3", "--fixed-layers", "3"], "fixed_layers", "0..2"),
    (["build", "slab", "anatase-975"], "facet", "-3..3"),
    (["build", "interface", "rutile-110", "RuO2-110", "--max-area", "3000"], "--max-area", "0 < x <= 1000 Å²"),
    (["build", "interface", "rutile-110", "RuO2-110", "--max-area", "nan"], "--max-area", "finite"),
    (["build", "interface", "rutile-110", "RuO2-110", "--max-area", "1000"], "--max-area", "2400 Å² %"),
    (["build", "interface", "rutile-110", "RuO2-110", "--max-strain", "25"], "--max-strain", "0 < x <= 20 %"),
    (["build", "interface", "rutile-110", "RuO2-110", "--support-layers", "21"], "--support-layers", "1..20"),
    (["build", "interface", "rutile-110", "RuO2-110", "--vacuum", "51"], "--vacuum", "0 < x <= 50 Å"),
    (["build", "interface", "rutile-110", "RuO2-110", "--gap", "11"], "--gap", "0 < x <= 10 Å"),
    (["build", "interface", "rutile-110", "RuO2-110", "--fixed-layers", "3"], "fixed_layers", "0..2"),
    (["build", "scan", "--max-area", "3000"], "--max-area", "0 < x <= 1000 Å²"),
    (["build", "scan", "--max-strain", "21"], "--max-strain", "0 < x <= 20 %"),
    (["build", "scan", "--max-area", "400", "--max-strain", "20"], "--max-area", "lattice search"),
    (["neb", "a.xyz", "b.xyz", "--images", "100000000"], "--images", "1..64"),
    (["neb", "a.xyz", "b.xyz", "--images", "0"], "--images", "1..64"),
    (["neb", "a.xyz", "b.xyz", "--cutoff", "7"], "--cutoff", "0 < x <= 6 Å"),
    (["neb", "a.xyz", "b.xyz", "--fmax", "0"], "--fmax", "0 < x <= 10 eV/Å"),
    (["neb", "a.xyz", "b.xyz", "--fmax", "11"], "--fmax", "0 < x <= 10 eV/Å"),
    (["neb", "a.xyz", "b.xyz", "--steps", "-1"], "--steps", "0..100000"),
    (["neb", "a.xyz", "b.xyz", "--steps", "100001"], "--steps", "0..100000"),
    (["neb", "a.xyz", "b.xyz", "--preset", "../../etc/evil"], "--preset", "not a preset name"),
    (["results", "--limit", "-1"], "--limit", "0..100000"),
    (["results", "--limit", "100001"], "--limit", "0..100000"),
    (["table", "oxidation", "--T", "0"], "--temperature", "0 < x <= 5000 K"),
    (["table", "oxidation", "--T", "5001"], "--temperature", "0 < x <= 5000 K"),
    (["table", "oxidation", "--T", "nan"], "--temperature", "finite"),
    (["table", "oxidation", "--p", "0"], "--pressure", "0 < x <= 10000 bar"),
    (["table", "oxidation", "--p", "1e5"], "--pressure", "0 < x <= 10000 bar"),
    (["table", "mu-profile", "--preset", "../x"], "--preset", "not a preset name"),
    (["plot", "oxidation", "-o", "gamma.txt"], "--output", ".png"),
    (["plot", "oxidation", "-o", "gamma.png", "--support", "mars"], "--support", "rutile-110"),
    (["run", str(MAIN), "--preset", "../../etc/evil"], "--preset", "not a preset name"),
    (["run", str(MAIN), "--mpi", "0"], "--mpi", "1..1024"),
    (["run", str(MAIN), "--mpi", "2"], "--mpi", "1, or a GPAW preset"),
    (["presets", "../../etc/evil"], "NAME", "not a preset name"),
    (["build", "slab", "rutile-110", "--bogus"], "--bogus", "No such option"),
    (["build", "slab", "rutile-110", "--layer", "3"], "--layer", "--layers"),
    (["nonsense"], "COMMAND", "build"),
    (["build", "slab"], "name", "missing"),
    (["build", "slab", "rutile-110", "--vacuum"], "--vacuum", "requires an argument"),
    (["table", "oxidation", "--T", "hot"], "--temperature", "valid number"),
]


@pytest.mark.parametrize(("argv", "field", "fragment"), CLI_BOUNDS, ids=[" ".join(a)[:60] for a, _, _ in CLI_BOUNDS])
def test_cli_option_bound_is_named(tmp_path, monkeypatch, argv, field, fragment):
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "db"
    extra = ["--db", str(db)] if argv[0] in ("neb", "results", "run", "table", "plot") else []
    started = time.perf_counter()
    assert_one_line_error(*run_cli(*argv, *extra), field, fragment)
    assert time.perf_counter() - started < 10
    assert not db.exists() and list(tmp_path.iterdir()) == []


def test_run_mpi_sends_gpaw_to_ranks_and_fits_workers_to_the_cores(tmp_path, monkeypatch):
    """``run --mpi 2`` at a GPAW preset: the run sees the queue jobs' MPI command and cores // 2 workers;
    after it the environment is as before."""
    import spillover.runner
    from spillover.calculators import MPI_COMMAND_ENV, MPI_LOCAL_RANKS_ENV
    from spillover.workers import WORKERS_ENV

    seen = {}

    def fake_run_study(study, preset, db=None, scratch=None):
        seen.update(preset=preset, mpi=os.environ.get(MPI_COMMAND_ENV), workers=os.environ.get(WORKERS_ENV))
        return 0

    monkeypatch.delenv(MPI_COMMAND_ENV, raising=False)
    monkeypatch.delenv(MPI_LOCAL_RANKS_ENV, raising=False)
    monkeypatch.delenv(WORKERS_ENV, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    monkeypatch.setattr(spillover.runner, "run_study", fake_run_study)
    code, out, err = run_cli("run", str(MAIN), "--preset", "gpaw-test", "--mpi", "2", "--db", str(tmp_path / "db"))
    assert code == 0, err
    assert seen["preset"] == "gpaw-test" and seen["mpi"].startswith("mpiexec -n 2") and seen["workers"] == "4"
    assert MPI_COMMAND_ENV not in os.environ and WORKERS_ENV not in os.environ
    code, out, err = run_cli("run", str(MAIN), "--preset", "gpaw-test", "--mpi", "2", "--workers", "3",
                             "--db", str(tmp_path / "db"))
    assert code == 0 and seen["workers"] == "3", err  # an explicit --workers wins
    assert MPI_LOCAL_RANKS_ENV not in os.environ and not (tmp_path / "db").exists()  # nothing ran, nothing written


def test_run_refuses_a_scratch_that_is_a_file(tmp_path):
    scratch = _write(tmp_path / "scratch", "not a directory")
    code, out, err = run_cli("run", str(MAIN), "--db", str(tmp_path / "db"), "--scratch", str(scratch))
    assert_one_line_error(code, out, err, "--scratch", "not a directory")


def test_build_output_that_cannot_be_written_is_one_line(tmp_path):
    assert_one_line_error(*run_cli("build", "bulk", "Ru", "-o", str(tmp_path)), "--output", "directory")


def test_paths_the_system_refuses_are_one_line(tmp_path):
    long = str(tmp_path / ("a" * 300))
    code, out, err = run_cli("run", str(MAIN), "--db", str(tmp_path / "db"), "--scratch", long)
    assert_one_line_error(code, out, err, "--scratch", "File name too long")
    assert_one_line_error(*run_cli("table", "barriers", "--db", long), long, "File name too long")


# --- the builders refuse out-of-range values themselves -------------------------------------------


def _builder_cases() -> list:
    from spillover.build.barriers import bulk_host, check_endpoints
    from spillover.build.bulk import load_bulk
    from spillover.build.interfaces import find_matches, make_interface
    from spillover.build.scan import lattice_scan
    from spillover.build.slabs import make_slab

    def neb(**kwargs):
        from spillover.jobs.neb import NebMaker

        return NebMaker(**kwargs).resolved_preset()

    ru = load_bulk("Ru")
    return [
        (lambda: make_slab("rutile-110", vacuum=1e308), "vacuum"),
        (lambda: make_slab("rutile-110", vacuum=float("nan")), "vacuum"),
        (lambda: make_slab("rutile-110", layers=21), "layers"),
        (lambda: make_slab("rutile-110", layers=2.0), "layers"),
        (lambda: make_slab("rutile-110", repeat=(11, 1)), "repeat"),
        (lambda: make_slab("rutile-110", layers=3, fixed_layers=True), "fixed_layers"),
        (lambda: make_slab("Ti-401"), "facet"),
        (lambda: make_interface("rutile-110", ["RuO2-110"], max_area=3000), "max_area"),
        (lambda: make_interface("rutile-110", ["RuO2-110"], max_area=1000), "max_area"),
        (lambda: make_interface("rutile-110", ["RuO2-110"], max_strain_percent=21), "max_strain_percent"),
        (lambda: make_interface("rutile-110", ["RuO2-110"], gap=11), "gap"),
        (lambda: make_interface("rutile-110", ["RuO2-110"], vacuum=float("inf")), "vacuum"),
        (lambda: make_interface("rutile-110", ["RuO2-110"], support_layers=21), "support_layers"),
        (lambda: make_interface("rutile-110", ["RuO2-110"], film_layers=[21]), "film_layers"),
        (lambda: find_matches("rutile-110", "RuO2-110", max_area=1e38), "max_area"),
        (lambda: lattice_scan(max_strain_percent=25), "max_strain_percent"),
        (lambda: bulk_host("rutile", cutoff=7.0), "cutoff"),
        (lambda: bulk_host("rutile", supercell=(1, 1, 99)), "supercell"),
        (lambda: check_endpoints(ru, ru, max_hop_A=7.0), "max_hop_A"),
        (lambda: neb(n_images=100_000_000), "n_images"),
        (lambda: neb(steps=10**6), "steps"),
        (lambda: neb(fmax=float("nan")), "fmax"),
        (lambda: neb(spring_constant=1e9), "spring_constant"),
        (lambda: neb(max_hop_A=7.0), "max_hop_A"),
        (lambda: neb(preset_overrides={"neb": {"n_images": 100_000_000}}), "preset.neb.n_images"),
        (lambda: neb(preset_overrides={"neb": {"steps": 10**7}}), "preset.neb.steps"),
    ]


def test_builders_refuse_out_of_range_values_before_building():
    for call, field in _builder_cases():
        started = time.perf_counter()
        with pytest.raises(InputError) as err, time_limit(30):
            call()
        assert err.value.field == field, (field, str(err.value))
        assert err.value.allowed, str(err.value)
        assert time.perf_counter() - started < 5, (field, "a refused input must fail before any work")


def test_shipped_studies_are_within_every_bound():
    """The bounds refuse nothing a shipped study or test study uses."""
    paths = [*sorted((ROOT / "workflows").glob("*.yaml")), *sorted((ROOT / "tests" / "data").glob("*.yaml"))]
    assert len(paths) >= 5
    for path in paths:
        assert load_study(path).name
