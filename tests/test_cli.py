"""The command line as a user meets it: real subprocesses, real database, real CHGNet."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import yaml
from ase.io import read

from conftest import TINY_STUDY, db_snapshot, run_cli, spillover
from spillover.store import connect


def _modules_after(*argv: str) -> set[str]:
    code = (
        "import sys\nfrom spillover.cli import main\nsys.argv = ['spillover', *sys.argv[1:]]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in ('gpaw', 'torch', 'chgnet', 'pymatgen', 'jobflow'))), file=sys.stderr)"
    )
    result = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return set(result.stderr.split())


@pytest.mark.parametrize("argv", [["--help"], ["build", "--help"], ["run", "--help"], ["table", "--help"]])
def test_help_imports_no_heavy_library(argv):
    assert _modules_after(*argv) == set()


def test_build_bulk_json_is_one_object(tmp_path):
    result = spillover("build", "bulk", "rutile", "--json", "-o", str(tmp_path / "rutile.cif"))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["natoms"] == 6 and report["spacegroup"].startswith("P4_2/mnm")
    assert len(read(tmp_path / "rutile.cif")) == 6


def test_build_slab_writes_layers(tmp_path):
    out = tmp_path / "slab.extxyz"
    result = spillover("build", "slab", "rutile-110", "--layers", "4", "--fixed-layers", "2", "--json", "-o", str(out))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["layers"] == 4 and report["atoms_per_layer"] == [6, 6, 6, 6] and report["fixed_atoms"] == 12
    atoms = read(out)
    assert sorted(set(atoms.arrays["layer"].tolist())) == [1, 2, 3, 4]


def test_build_interface_json_keys(tmp_path):
    result = spillover("build", "interface", "rutile-110", "RuO2-110", "--json", "-o", str(tmp_path / "i.cif"))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert {"support", "films", "substrate_matrix", "area_A2", "matches", "natoms"} <= set(report)
    (match,) = report["matches"]
    assert report["support"] == "rutile-110" and match["film"] == "RuO2-110"
    assert match["strained_onto"] == "rutile-110 supercell"
    assert len(match["strain_percent"]) == 2 and report["natoms"] == len(read(tmp_path / "i.cif"))


def _assert_clean_error(result: subprocess.CompletedProcess, field: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and field in lines[0]
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["build", "bulk", "unobtainium"], "material"),
        (["build", "slab", "rutile-000"], "facet"),
        (["build", "slab", "Ru-1111"], "facet"),
        (["build", "slab", "foo-110"], "facet"),
        (["build", "slab", "rutile-110", "--layers", "0"], "layers"),
        (["build", "slab", "rutile-110", "--vacuum", "-1"], "vacuum"),
        (["build", "slab", "rutile-110", "--layers", "2", "--fixed-layers", "2"], "fixed_layers"),
        (["build", "interface", "anatase-101", "Ru-0001", "RuO2-110"], "films"),
        (["build", "interface", "rutile-110", "RuO2-110", "--max-strain", "0.01"], "max_strain_percent"),
        (["build", "bulk", "Ru", "-o", "/no/such/dir/x.cif"], "--output"),
        (["presets", "dft-magic"], "preset"),
    ],
)
def test_build_bad_input(argv, field):
    code, out, err = run_cli(*argv)  # in-process: the subprocess path is covered by tests/test_inputs.py
    _assert_clean_error(subprocess.CompletedProcess(argv, code, out, err), field)


def _bad_study(tmp_path, **changes):
    data = yaml.safe_load(TINY_STUDY.read_text())
    data.update(changes)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


@pytest.mark.parametrize(
    ("make_args", "field"),
    [
        (lambda t: [str(t / "missing.yaml")], "study"),
        (lambda t: [_bad_study(t, systems=[{"support": "rutile-110", "films": ["kryptonite"]}])], "systems[0].films[0]"),
        (lambda t: [_bad_study(t, lattice_scan={"films": ["foo-110"], "supports": ["rutile-110"]})], "lattice_scan.films[0]"),
        (lambda t: [_bad_study(t, preset="dft-magic")], "preset"),
        (lambda t: [_bad_study(t, preset_overrides={"relax": {"fmax": 0}})], "preset.relax.fmax"),
        (lambda t: [_bad_study(t, preset_overrides={"gpaw": {"ecut": 1}}), "--preset", "gpaw-test"], "preset.gpaw.ecut"),
        (lambda t: [_bad_study(t, lattice_match={"max_area_A2": 40, "max_strain_percent": 0.01})], "max_strain_percent"),
        (lambda t: [str(TINY_STUDY), "--preset", "nope"], "preset"),
        (lambda t: [str(TINY_STUDY), "--only", "everything"], "--only"),
    ],
)
def test_run_bad_input_writes_nothing(tmp_path, monkeypatch, make_args, field):
    db = tmp_path / "db"
    monkeypatch.chdir(tmp_path)
    argv = ["run", *make_args(tmp_path), "--db", str(db)]
    code, out, err = run_cli(*argv)
    _assert_clean_error(subprocess.CompletedProcess(argv, code, out, err), field)
    assert not db.exists() and not (tmp_path / "spillover-scratch").exists()


def test_run_bad_input_leaves_existing_database_unchanged(tiny_run, tmp_path):
    before = db_snapshot(tiny_run["db"])
    for args in (["run", str(tmp_path / "missing.yaml")], ["run", _bad_study(tmp_path, preset="nope")]):
        _assert_clean_error(spillover(*args, "--db", str(tiny_run["db"])), "")
    assert db_snapshot(tiny_run["db"]) == before


def test_read_commands_never_create_a_database(tmp_path):
    for argv in (["results"], ["table", "lattice-match"]):
        _assert_clean_error(spillover(*argv, "--db", str(tmp_path / "none")), "db")
    assert not (tmp_path / "none").exists()


def test_table_format_checked(tiny_run):
    _assert_clean_error(spillover("table", "lattice-match", "--db", str(tiny_run["db"]), "--format", "xml"), "--format")


def test_run_prints_table_from_stored_results(tiny_run):
    assert "| system" in tiny_run["stdout"] and "rutile-110/RuO2-110 | RuO2-110" in tiny_run["stdout"]
    assert "Lattice-match scan" in tiny_run["stdout"]
    (row,) = tiny_run["rows"]
    store = connect(tiny_run["db"], create=False)
    doc = store.query_one({"uuid": row["job_id"]})["output"]
    assert doc["doc_type"] == "system-cell" and doc["system"] == "rutile-110/RuO2-110"
    for key in ("area_A2", "natoms", "preset"):
        assert row[key] == doc[key]
    (match,) = doc["matches"]
    assert row["strain_percent"] == match["strain_percent"] and row["von_mises_percent"] == match["von_mises_percent"]

    # the match is computed from the *relaxed* bulks: recompute the mismatch from the stored relaxations
    rutile = store.query_one({"uuid": row["bulk_job_ids"]["rutile"]})["output"]
    ruo2 = store.query_one({"uuid": row["bulk_job_ids"]["RuO2"]})["output"]
    assert rutile["preset"] == ruo2["preset"] == "screen" and rutile["relax_cell"]
    a_r, c_r = rutile["structure"]["lattice"]["a"], rutile["structure"]["lattice"]["c"]
    a_o, c_o = ruo2["structure"]["lattice"]["a"], ruo2["structure"]["lattice"]["c"]
    expected = sorted([100 * (c_o - c_r) / c_r, 100 * (a_o - a_r) / a_r])
    assert sorted(row["strain_percent"]) == pytest.approx(expected, abs=0.02)
    assert row["area_A2"] == pytest.approx(c_r * a_r * np.sqrt(2), rel=1e-3)
    assert 1.0 < max(abs(s) for s in row["strain_percent"]) < 7.0


def test_results_lists_every_stored_job(tiny_run):
    result = spillover("results", "--db", str(tiny_run["db"]), "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert sorted(r["name"] for r in rows) == ["cell rutile-110/RuO2-110", "lattice scan", "relax bulk RuO2",
                                               "relax bulk rutile"]
    energies = [r["energy_eV"] for r in rows if r["name"].startswith("relax")]
    assert all(e is not None and e < 0 for e in energies)


def test_presets_command_shows_resolved_parameters():
    result = spillover("presets", "gpaw-production")
    assert result.returncode == 0
    resolved = json.loads(result.stdout)
    assert resolved["gpaw"]["xc"] == "PBE" and resolved["gpaw"]["mode"]["ecut"] == 550
