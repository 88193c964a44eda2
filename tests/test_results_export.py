"""Finding, opening and exporting stored results: ``results`` selections, ``show``, ``export``, ``spillover.api``.

One small oxidation study (tests/data/funnel_study.yaml) and one NEB run at the analytic preset fill the
database once for the module (about 30 s); every test reads it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ase.io import read

from conftest import ROOT, run_cli, spillover
from spillover.analysis.listing import find_job
from spillover.analysis.selection import parse_selection, select, sort_rows
from spillover.errors import InputError
from spillover.store import connect
from spillover.structure_io import ARRAYS_INFO_KEY

STUDY = ROOT / "tests" / "data" / "funnel_study.yaml"


def _ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def _one_line_error(code: int, out: str, err: str, field: str) -> str:
    lines = err.strip().splitlines()
    assert code == 2 and out == "" and len(lines) == 1, (code, out, err)
    assert lines[0].startswith(f"spillover: error: {field}:"), lines[0]
    return lines[0]


def _endpoints(work: Path) -> tuple[Path, Path]:
    """An O vacancy in the top layer of a small r-TiO2(110) slab, and its neighbour O moved into it."""
    from spillover.build.slabs import make_slab
    from spillover.structure_io import write_structure

    slab = make_slab("rutile-110", repeat=(1, 1), layers=2, vacuum=6.0, fixed_layers=1)
    top = [i for i in range(len(slab)) if slab[i].symbol == "O" and slab.arrays["layer"][i] == 1]
    d = slab.get_all_distances(mic=True)
    _, i, j = min((d[a, b], a, b) for a in top for b in top if a < b)
    initial = slab.copy()
    del initial[i]
    final = initial.copy()
    final.positions[j - (j > i)] = slab.positions[i]
    paths = work / "initial.extxyz", work / "final.extxyz"
    write_structure(initial, paths[0])
    write_structure(final, paths[1])
    return paths


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> dict:
    """The funnel study and one 2-image NEB at the analytic preset in one fresh database."""
    work = tmp_path_factory.mktemp("results_export")
    db, scratch = work / "db", work / "scratch"
    _ok(spillover("run", str(STUDY), "--preset", "analytic", "--db", str(db), "--scratch", str(scratch), cwd=work))
    initial, final = _endpoints(work)
    neb = json.loads(_ok(spillover("neb", str(initial), str(final), "--preset", "analytic", "--images", "2",
                                   "--db", str(db), "--scratch", str(scratch), "--json", cwd=work)))
    store = connect(db, create=False)
    calcs = list(store.query({"output.doc_type": "calculation"}, sort={"completed_at": 1}))
    return {"work": work, "db": str(db), "store": store, "calcs": calcs, "neb_id": neb["job_id"]}


def _cli(stored: dict, *argv: str) -> tuple[int, str, str]:
    return run_cli(*argv, "--db", stored["db"])


def _arrays(atoms) -> dict:
    """layer/part of a frame read by plain ase.io.read: extxyz keeps them as arrays, traj in its info."""
    packed = atoms.info.get(ARRAYS_INFO_KEY) or {}
    return {k: np.asarray(atoms.arrays[k] if k in atoms.arrays else packed[k]).tolist()
            for k in ("layer", "part") if k in atoms.arrays or k in packed}


def _fixed(atoms) -> list[int]:
    return sorted(int(i) for c in atoms.constraints for i in c.get_indices())


# --- show -----------------------------------------------------------------------------------------------

def test_show_prints_the_energy_and_where_it_came_from(stored):
    cell_relax = next(d for d in stored["calcs"] if d["output"]["kind"] == "system-cell")
    code, out, err = _cli(stored, "show", cell_relax["uuid"][:8])
    assert code == 0, err
    assert f"{cell_relax['output']['energy_eV']:.6f} eV" in out and cell_relax["uuid"] in out
    assert re.search(r"converged +yes", out) and "analytic" in out and "ase " in out
    assert cell_relax["output"]["metadata"]["cell_job_id"] in out  # computed from the cell
    assert "job folder" in out and "not recorded" in out

    code, out, err = _cli(stored, "show", cell_relax["uuid"][:10], "--json")
    report = json.loads(out)
    assert code == 0 and report["job_id"] == cell_relax["uuid"]
    assert report["output"]["energy_eV"] == cell_relax["output"]["energy_eV"]
    assert isinstance(report["output"]["structure"], str) and report["job_folder"] is None
    full = json.loads(_cli(stored, "show", cell_relax["uuid"], "--json", "--full")[1])
    assert full["output"]["structure"] == cell_relax["output"]["structure"]


def test_show_unknown_or_short_id_is_one_line(stored):
    _one_line_error(*_cli(stored, "show", "ffffffff"), "ID")
    assert "8+" in _one_line_error(*_cli(stored, "show", "abc"), "ID")


def test_an_ambiguous_prefix_names_its_matches():
    class Store:
        def query(self, criteria, properties=None):
            return [{"uuid": "0123456789-a"}, {"uuid": "0123456789-b"}]

    with pytest.raises(InputError, match="matches 2 stored jobs") as info:
        find_job(Store(), "01234567")
    assert info.value.field == "ID" and "longer prefix" in str(info.value)


# --- results --------------------------------------------------------------------------------------------

def test_a_selection_returns_exactly_the_matching_documents(stored):
    code, out, err = _cli(stored, "results", "preset=analytic", "natoms>10", "converged=true", "--json",
                          "--limit", "0")
    assert code == 0, err
    expected = {d["uuid"] for d in stored["store"].query(
        {"output.preset": "analytic", "output.natoms": {"$gt": 10}, "output.converged": True}, properties=["uuid"])}
    assert {r["job_id"] for r in json.loads(out)} == expected and len(expected) >= 2

    code, out, _ = _cli(stored, "results", "doc_type=calculation,kind!=bulk", "--json")
    expected = {d["uuid"] for d in stored["calcs"] if d["output"]["kind"] != "bulk"}
    assert {r["job_id"] for r in json.loads(out)} == expected

    neb = stored["neb_id"]
    rows = json.loads(_cli(stored, "results", f"job_id={neb[:8]}", "--json")[1])
    assert [r["job_id"] for r in rows] == [neb] and rows[0]["doc_type"] == "neb"


def test_columns_sort_and_limit(stored):
    code, out, err = _cli(stored, "results", "doc_type=calculation", "--columns", "name,energy", "--sort", "energy",
                          "--limit", "2", "--json")
    assert code == 0, err
    rows = json.loads(out)
    lowest = sorted(stored["calcs"], key=lambda d: d["output"]["energy_eV"])[:2]
    assert rows == [{"name": d["name"], "energy_eV": d["output"]["energy_eV"]} for d in lowest]

    code, out, _ = _cli(stored, "results", "--columns", "name,natoms,fmax", "--sort", "-natoms", "--limit", "1")
    assert code == 0 and "natoms" in out and "fmax (eV/Å)" in out and "energy (eV)" not in out
    assert "the first 1 shown" in out
    biggest = max(d["output"]["natoms"] for d in stored["calcs"])
    assert f" {biggest} " in out


def test_unknown_selection_key_is_one_line(stored):
    line = _one_line_error(*_cli(stored, "results", "colour=blue"), "colour")
    assert "unknown selection key" in line and "natoms" in line and "energy" in line
    _one_line_error(*_cli(stored, "results", "natoms>many"), "natoms")
    _one_line_error(*_cli(stored, "results", "--sort", "colour"), "--sort")
    _one_line_error(*_cli(stored, "results", "--columns", "name,colour"), "--columns")


def test_an_empty_selection_says_nothing_matches(stored):
    code, out, err = _cli(stored, "results", "preset=no-such-preset")
    assert code == 0, err
    assert "0 stored results match" in out
    code, out, _ = _cli(stored, "results", "energy<-1e9", "--json")
    assert code == 0 and json.loads(out) == []


def test_selection_parsing_and_matching():
    rows = [{"natoms": 6, "converged": True, "label": "rutile", "energy_eV": -15.6, "job_id": "abcdef12-x"},
            {"natoms": 56, "converged": False, "label": "rutile-110/Ru-0001", "energy_eV": None, "job_id": "1234"}]
    assert select(rows, parse_selection(["natoms>=10"])) == rows[1:]
    assert select(rows, parse_selection(["converged=false"])) == rows[1:]
    assert select(rows, parse_selection(["label=rutile*,natoms<10"])) == rows[:1]
    assert select(rows, parse_selection(["energy!=-15.6"])) == rows[1:]  # a missing value is not equal
    assert select(rows, parse_selection(["energy<0"])) == rows[:1]
    assert select(rows, parse_selection(["job_id=ABCDEF12"])) == rows[:1]
    assert sort_rows(rows, "energy_eV", descending=True) == rows  # missing last either way
    (condition,) = parse_selection(["name=oxidation rutile-110/Ru-0001 interface n=1"])
    assert condition.value == "oxidation rutile-110/Ru-0001 interface n=1"
    for bad, field in (("converged=maybe", "converged"), ("converged<1", "converged"), ("natoms=x", "natoms"),
                       ("H2O", "SELECTION"), ("colour=1", "colour"), ("job_id=xyz", "job_id")):
        with pytest.raises(InputError) as info:
            parse_selection([bad])
        assert info.value.field == field


# --- export ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".extxyz", ".traj"])
def test_exported_frames_keep_layers_parts_fixed_atoms_and_energies(stored, suffix):
    path = stored["work"] / f"calcs{suffix}"
    code, out, err = _cli(stored, "export", "doc_type=calculation", "-o", str(path))
    assert code == 0, err
    assert f"{len(stored['calcs'])} frames" in out
    frames = read(path, ":")
    assert [f.info["job_id"] for f in frames] == [d["uuid"] for d in stored["calcs"]]  # oldest first
    for atoms, doc in zip(frames, stored["calcs"]):
        out_doc = doc["output"]
        expected = {k: out_doc[k] for k in ("layer", "part") if out_doc.get(k) is not None}
        assert _arrays(atoms) == expected and _fixed(atoms) == out_doc["fixed_indices"]
        assert atoms.get_potential_energy() == pytest.approx(out_doc["energy_eV"], abs=1e-9)
        assert atoms.info["preset"] == "analytic" and atoms.info["label"] == out_doc["label"]
    assert any(_arrays(f) for f in frames) and any(_fixed(f) for f in frames)  # the study has an interface


def test_cif_export_says_what_it_loses(stored):
    code, out, err = _cli(stored, "export", "doc_type=calculation", "-o", str(stored["work"] / "calcs.cif"))
    assert code == 0
    assert "does not keep layer, part, fixed atoms, energies" in err


def test_exported_database_rows_have_energies_and_keys(stored):
    from ase.db import connect as ase_connect

    path = stored["work"] / "calcs.db"
    code, out, err = _cli(stored, "export", "doc_type=calculation", "-o", str(path))
    assert code == 0, err
    rows = list(ase_connect(path).select())
    assert len(rows) == len(stored["calcs"])
    for row, doc in zip(rows, stored["calcs"]):
        meta, out_doc = doc["metadata"], doc["output"]
        assert row.energy == pytest.approx(out_doc["energy_eV"], abs=1e-9)
        expected = {"job_id": doc["uuid"], "preset": "analytic", "label": out_doc["label"], "kind": out_doc["kind"],
                    "converged": out_doc["converged"], "doc_type": "calculation",
                    **{k: meta[k] for k in ("system", "analysis") if meta.get(k)}}
        assert row.key_value_pairs == expected
        assert _fixed(row.toatoms()) == out_doc["fixed_indices"]
        if out_doc.get("part") is not None:
            assert row.data["part"] == out_doc["part"] and row.tags.tolist() == out_doc["layer"]
    code, out, _ = _cli(stored, "export", "doc_type=calculation", "-o", str(path))  # again: appends nothing
    assert code == 0 and "0 frames" in out and len(ase_connect(path)) == len(stored["calcs"])
    listed = subprocess.run([sys.executable, "-m", "ase", "db", str(path), "-c", "id,energy,label"],
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0 and f"Rows: {len(rows)}" in listed.stdout, listed.stderr


def test_exported_database_opens_in_the_ase_db_web_page(stored):
    """What ``ase db FILE.db -w`` serves, through its Flask app's test client (no port, no browser)."""
    pytest.importorskip("flask")
    from ase.db import connect as ase_connect
    from ase.db.app import DBApp

    path = stored["work"] / "web.db"
    assert _cli(stored, "export", "doc_type=calculation", "-o", str(path))[0] == 0
    app = DBApp()
    app.add_project("default", ase_connect(path))
    client = app.flask.test_client()
    page = client.get("/default/?query=preset%3Danalytic")
    assert page.status_code == 200 and page.data.count(b"<tr") > len(stored["calcs"])
    job = stored["calcs"][0]["uuid"]
    row = client.get("/default/row/1")
    assert row.status_code == 200 and job.encode() in row.data
    xyz = client.get("/atoms/default/1/xyz")
    natoms = ase_connect(path).get(id=1).natoms
    assert xyz.status_code == 200 and xyz.data.split(b"\n")[0].strip() == str(natoms).encode()


def test_neb_exports_as_its_images_in_order(stored):
    from ase.mep import NEBTools

    doc = stored["store"].query_one({"uuid": stored["neb_id"]})["output"]
    path = stored["work"] / "band.traj"
    code, out, err = _cli(stored, "export", stored["neb_id"][:8], "-o", str(path))
    assert code == 0, err
    images = read(path, ":")
    assert len(images) == doc["n_images"] + 2 == 4
    assert [a.info["image"] for a in images] == [0, 1, 2, 3]
    assert [a.get_potential_energy() for a in images] == pytest.approx(doc["energies_eV"], abs=1e-9)
    for atoms, positions in zip(images, doc["image_positions_A"]):
        assert np.allclose(atoms.positions, positions) and _fixed(atoms) == doc["fixed_indices"]
    barrier, _ = NEBTools(images).get_barrier(fit=True)  # what 'ase nebplot' draws: needs the forces
    assert barrier == pytest.approx(doc["Ea_forward_spline_eV"], abs=1e-3)


def test_export_of_results_without_structures_is_one_line(stored):
    path = stored["work"] / "none.extxyz"
    line = _one_line_error(*_cli(stored, "export", "doc_type=oxidation", "-o", str(path)), "SELECTION")
    assert "hold no structures" in line and not path.exists()
    _one_line_error(*_cli(stored, "export", "preset=nothing", "-o", str(path)), "SELECTION")


# --- api ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["lattice-match", "oxidation"])
def test_api_table_equals_the_json_table(stored, name):
    import pandas as pd

    from spillover import api

    code, out, err = _cli(stored, "table", name, "--format", "json")
    assert code == 0, err
    frame = api.table(name, db=stored["db"])
    assert len(frame) >= 1
    pd.testing.assert_frame_equal(frame, pd.DataFrame(json.loads(out)))
    with pytest.raises(InputError, match="allowed: lattice-match"):
        api.table("no-such-table", db=stored["db"])


@pytest.mark.parametrize("filters, field", [
    ({"T": -5.0}, "T"), ({"T": float("nan")}, "T"), ({"p": 0.0}, "p"), ({"p": 1e30}, "p"),
    ({"support": "rutile-111"}, "support"), ({"reference": "best"}, "reference"),
])
def test_api_table_checks_the_ranges_the_cli_checks(stored, filters, field):
    from spillover import api

    with pytest.raises(InputError) as info:
        api.table("oxidation", db=stored["db"], **filters)
    assert info.value.field == field and info.value.allowed


def test_api_structure_and_results(stored):
    from spillover import api

    doc = next(d for d in stored["calcs"] if d["output"].get("part") is not None)
    atoms = api.structure(doc["uuid"][:8], db=stored["db"])
    assert atoms.arrays["layer"].tolist() == doc["output"]["layer"]
    assert atoms.arrays["part"].tolist() == doc["output"]["part"]
    assert _fixed(atoms) == doc["output"]["fixed_indices"]
    assert atoms.get_potential_energy() == pytest.approx(doc["output"]["energy_eV"])

    frame = api.results("doc_type=calculation", db=stored["db"])
    rows = json.loads(_cli(stored, "results", "doc_type=calculation", "--json", "--limit", "0")[1])
    assert frame["job_id"].tolist() == [r["job_id"] for r in rows]
