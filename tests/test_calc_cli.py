"""``spillover relax`` and ``spillover static``: one structure file, one stored calculation (real CHGNet and GPAW)."""

from __future__ import annotations

import json
import re
import subprocess

import numpy as np
import pytest
from ase.io import read

from conftest import run_cli, spillover
from spillover.store import connect


def _json(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def slab_relax(tmp_path_factory) -> dict:
    """A 3-layer r-TiO2(110) slab with no constraints, relaxed at screen with the bottom layer fixed by the CLI."""
    work = tmp_path_factory.mktemp("relax_cli")
    slab = work / "slab.extxyz"
    built = spillover("build", "slab", "rutile-110", "--layers", "3", "--fixed-layers", "0", "-o", str(slab))
    assert built.returncode == 0, built.stderr
    out = work / "relaxed.extxyz"
    report = _json(spillover("relax", str(slab), "--fixed-layers", "1", "--db", str(work / "db"),
                             "--scratch", str(work / "scratch"), "-o", str(out), "--json", cwd=work))
    return {"work": work, "slab": slab, "out": out, "report": report}


def test_relax_holds_the_bottom_layer_and_is_stored(slab_relax):
    start, final, report = read(slab_relax["slab"]), read(slab_relax["out"]), slab_relax["report"]
    bottom = np.flatnonzero(start.arrays["layer"] == 3)
    assert report["fixed_indices"] == bottom.tolist() and len(bottom) == 6
    assert report["converged"] and report["max_force_eV_per_A"] <= 0.05 and report["n_ionic_steps"] > 0
    assert report["reused_from_job_id"] is None and report["preset"] == "screen"
    np.testing.assert_allclose(final.positions[bottom], start.positions[bottom], atol=1e-6)
    moved = np.linalg.norm(final.positions - start.positions, axis=1)
    assert moved.max() > 0.01  # the free layers did relax
    # the written file keeps the layers and the fixed atoms
    assert final.arrays["layer"].tolist() == start.arrays["layer"].tolist()
    assert sorted(final.constraints[0].index.tolist()) == bottom.tolist() and report["output_lost"] == []

    doc = connect(slab_relax["work"] / "db", create=False).query_one({"uuid": report["job_id"]})
    out = doc["output"]
    assert out["energy_eV"] == report["energy_eV"] and out["content_hash"] == report["content_hash"]
    assert out["fixed_indices"] == bottom.tolist() and out["kind"] == "slab" and out["label"] == "slab"
    assert out["n_ionic_steps"] == report["n_ionic_steps"] and out["force_calls"] == report["force_calls"]
    assert out["versions"]["chgnet"] and out["metadata"]["command"] == "spillover relax"


def test_same_relax_again_reuses_without_a_calculator(slab_relax, monkeypatch):
    import spillover.jobs.relax as relax_module

    def no_calculator(*args, **kwargs):
        raise AssertionError("a calculator was built for a stored calculation")

    monkeypatch.setattr(relax_module, "make_calculator", no_calculator)
    work = slab_relax["work"]
    monkeypatch.chdir(work)
    code, out, err = run_cli("relax", str(slab_relax["slab"]), "--fixed-layers", "1", "--db", str(work / "db"),
                             "--scratch", str(work / "scratch"), "--json")
    assert code == 0, err
    again = json.loads(out)
    first = slab_relax["report"]
    assert again["reused_from_job_id"] == first["job_id"] and again["job_id"] != first["job_id"]
    assert again["energy_eV"] == first["energy_eV"] and again["content_hash"] == first["content_hash"]
    stored = connect(work / "db", create=False).query_one({"uuid": again["job_id"]})
    assert stored["output"]["reused_from_job_id"] == first["job_id"]


def test_static_of_a_stored_job_id_gives_the_relaxed_energy(slab_relax):
    work, first = slab_relax["work"], slab_relax["report"]
    human = spillover("static", first["job_id"][:8], "--db", str(work / "db"), "--scratch", str(work / "scratch"),
                      cwd=work)
    assert human.returncode == 0, human.stderr
    energy = float(re.search(r"energy\s+(-?\d+\.\d+) eV", human.stdout).group(1))
    assert energy == pytest.approx(first["energy_eV"], abs=1e-4)  # the final structure, the same fixed atoms
    assert re.search(r"job folder\s+\S+job_", human.stdout)


@pytest.mark.gpaw
def test_static_gpaw_matches_the_maker_and_two_ranks_match_serial(tmp_path):
    from pymatgen.io.ase import AseAtomsAdaptor

    from spillover.build.bulk import load_bulk
    from spillover.jobs.relax import StaticMaker

    rutile = tmp_path / "rutile.extxyz"
    assert spillover("build", "bulk", "rutile", "-o", str(rutile)).returncode == 0
    common = ("--preset", "gpaw-test", "--scratch", str(tmp_path / "scratch"), "--json")
    serial = _json(spillover("static", str(rutile), "--db", str(tmp_path / "db1"), *common, cwd=tmp_path,
                             env={"OMP_NUM_THREADS": "1"}))
    # the energy the GPAW test computes (tests/test_gpaw.py), through the Maker directly
    direct = StaticMaker(preset="gpaw-test", preset_overrides={"gpaw": {"txt": str(tmp_path / "direct.txt")}})
    reference = direct.compute(AseAtomsAdaptor.get_structure(load_bulk("rutile")))
    assert serial["energy_eV"] == pytest.approx(reference.energy_eV, abs=1e-6)
    assert serial["content_hash"] == reference.content_hash and serial["force_calls"] == 1

    ranks = _json(spillover("static", str(rutile), "--mpi", "2", "--db", str(tmp_path / "db2"), *common,
                            cwd=tmp_path))
    assert ranks["energy_eV"] == pytest.approx(serial["energy_eV"], abs=1e-5)
    assert ranks["content_hash"] == serial["content_hash"] and ranks["reused_from_job_id"] is None
    text = (tmp_path / "scratch").glob("job_*/gpaw.txt")
    cores = sorted(int(re.search(r"^cores:\s+(\d+)$", p.read_text(), re.M).group(1)) for p in text)
    assert cores == [1, 2]  # GPAW's text output stays in each job folder


@pytest.mark.gpaw
def test_plane_waves_at_the_gamma_point_run_on_two_ranks(tmp_path):
    """A Gamma-point cell (system cells are) cannot spread k-points over the ranks: GPAW splits the
    grid instead, and its plane-wave eigensolvers then need ScaLAPACK (scripts/gpaw_siteconfig.py).
    Without it this run stops in gpaw/core/matrix.py with an AssertionError."""
    from ase import Atoms
    from ase.io import write

    h2 = tmp_path / "h2.extxyz"
    write(h2, Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.74]], cell=[7.0, 7.0, 7.0], pbc=True))
    common = ("--preset", "gpaw-test", "--scratch", str(tmp_path / "scratch"), "--json")
    serial = _json(spillover("static", str(h2), "--db", str(tmp_path / "db1"), *common, cwd=tmp_path,
                             env={"OMP_NUM_THREADS": "1"}))
    ranks = _json(spillover("static", str(h2), "--mpi", "2", "--db", str(tmp_path / "db2"), *common,
                            cwd=tmp_path))
    assert ranks["energy_eV"] == pytest.approx(serial["energy_eV"], abs=1e-5)
    text = {p.parent.name: p.read_text() for p in (tmp_path / "scratch").glob("job_*/gpaw.txt")}
    assert len(text) == 2
    assert all("Number of IBZ points: 1" in t for t in text.values())
    assert any(re.search(r"^  domain: 2$", t, re.M) for t in text.values())


def _slab(tmp_path):
    path = tmp_path / "slab.extxyz"
    assert run_cli("build", "slab", "rutile-110", "-o", str(path))[0] == 0
    return str(path)


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (lambda t: ["relax", "/etc/hostname"], "FILE"),
        (lambda t: ["relax", str(t / "missing.extxyz")], "FILE"),
        (lambda t: ["relax", _slab(t), "--set", "relax.fmaxx=0.1"], "--set relax.fmaxx"),
        (lambda t: ["static", _slab(t), "--preset", "gpaw-test", "--set", "gpaw.ecutt=400"], "--set gpaw.ecutt"),
        (lambda t: ["relax", _slab(t), "--set", "gpaw.mode.ecut=400"], "--set gpaw.mode.ecut"),
        (lambda t: ["relax", _slab(t), "--set", "relax.fmax=-1"], "--set relax.fmax"),
        (lambda t: ["relax", _slab(t), "--set", "ecut"], "--set"),
        (lambda t: ["relax", _slab(t), "--set", "gpaw.kpts=[1,1"], "--set gpaw.kpts"),
        (lambda t: ["relax", _slab(t), "--fmax", "-0.05"], "--fmax"),
        (lambda t: ["relax", _slab(t), "--steps", "0"], "--steps"),
        (lambda t: ["relax", _slab(t), "--fixed-layers", "3"], "--fixed-layers"),
        (lambda t: ["relax", _slab(t), "--mpi", "2"], "--mpi"),
        (lambda t: ["static", _slab(t), "--mpi", "0", "--preset", "gpaw-test"], "--mpi"),
        (lambda t: ["relax", _slab(t), "-o", str(t / "out.unknown")], "--output"),
        (lambda t: ["relax", _slab(t), "--preset", "../screen"], "--preset"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, monkeypatch, argv, field):
    monkeypatch.chdir(tmp_path)
    args = [*argv(tmp_path), "--db", str(tmp_path / "db"), "--scratch", str(tmp_path / "scratch")]
    code, out, err = run_cli(*args)
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"spillover: error: {field}:") and "Traceback" not in err, err
    assert out == "" and not (tmp_path / "db").exists() and not (tmp_path / "scratch").exists()


class Killed(BaseException):
    """Stands for SIGKILL: no ``except Exception`` (jobflow's included) stops it."""


def test_killed_relax_resumes_when_the_same_command_runs_again(tmp_path, monkeypatch):
    from spillover.analytic import PairMorse

    slab = _slab(tmp_path)
    monkeypatch.chdir(tmp_path)
    argv = ("relax", slab, "--preset", "analytic", "--db", str(tmp_path / "db"), "--scratch", str(tmp_path / "s"),
            "--json")
    original, count = PairMorse.calculate, [0]

    def dying(self, *args, **kwargs):
        count[0] += 1
        if count[0] > 6:
            raise Killed
        return original(self, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(PairMorse, "calculate", dying)
        with pytest.raises(Killed):
            run_cli(*argv)
    assert list((tmp_path / "s" / "relax-checkpoints").glob("relax-*/state.json"))
    code, out, err = run_cli(*argv)
    assert code == 0, err
    report = json.loads(out)
    doc = connect(tmp_path / "db", create=False).query_one({"uuid": report["job_id"]})["output"]
    assert doc["runs"] == 2 and doc["run_history"][1]["start_step"] > 0 and report["converged"]
    assert not list((tmp_path / "s" / "relax-checkpoints").glob("relax-*"))  # removed once stored
