"""The screening engine: the funnel's stages, reuse by content hash, two workers, converged numbers only.

Everything runs at the ``analytic`` preset (Morse pairs): the engine is tested, not the physics.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from conftest import ROOT, run_cli
from spillover.analytic import PairMorse
from spillover.build.oxidation import configurations, find_sites
from spillover.jobs.cells import cell_atoms
from spillover.jobs.funnel import relax_candidate, run_funnel
from spillover.sections.funnel import FunnelSettings
from spillover.sections.systems import CellSettings, LatticeMatchSettings
from spillover.store import connect

FUNNEL_STUDY = ROOT / "tests" / "data" / "funnel_study.yaml"


@pytest.fixture(scope="module")
def candidates() -> list:
    """Every symmetry-distinct single interfacial O on a small Ru/r-TiO2(110) cell (hollows and lattice sites)."""
    cell = CellSettings(support_layers=2, film_layers={"Ru-0001": 2}, vacuum=5.0, fixed_layers=1).model_dump()
    limits = LatticeMatchSettings(max_area_A2=60, max_strain_percent=8).model_dump()
    host, _ = cell_atoms("rutile-110", ["Ru-0001"], cell, limits)
    return configurations(host, "interface", 1, None, sites=find_sites(host, "interface"))


def _funnel(candidates, tmp_path, workers: int, **settings):
    return run_funnel("test", [c.atoms for c in candidates], [{"kinds": c.site_kinds} for c in candidates],
                      "analytic", {}, FunnelSettings(**settings), kind="oxidation", workers=workers,
                      checkpoint_dir=str(tmp_path / f"ck{workers}"))


def test_funnel_stages_and_survivor_is_the_true_minimum(candidates, tmp_path):
    assert len(candidates) > 6 and any("lattice" in c.site_kinds for c in candidates)
    doc = _funnel(candidates, tmp_path, 1, loose_n=4, final_m=2)
    stages = {s.name: s for s in doc.stages}
    assert [s.name for s in doc.stages] == ["single point", "loose", "final"]
    assert (stages["single point"].candidates, stages["loose"].candidates, stages["final"].candidates) == (
        len(candidates), 4, 2)
    assert sum(c.stage == "final" for c in doc.candidates) == 2 and sum(c.loose_eV is not None for c in doc.candidates) == 4
    # the loose stage took the 4 lowest single points, the final stage the 2 lowest loose energies
    sp = sorted(range(len(candidates)), key=lambda i: doc.candidates[i].single_point_eV)
    assert {c.index for c in doc.candidates if c.loose_eV is not None} == set(sp[:4])
    # every candidate relaxed to convergence one by one: the survivor is the lowest of them all
    full = [relax_candidate({"atoms": c.atoms, "preset": "analytic", "kind": "oxidation", "label": f"c{i}",
                             "checkpoint_dir": str(tmp_path / "one-by-one")}) for i, c in enumerate(candidates)]
    assert all(d.converged for d in full)
    best = int(np.argmin([d.energy_eV for d in full]))
    assert doc.survivor == best
    # the same minimum, reached along another path (soft Morse surface, fmax 0.05 eV/Å)
    assert doc.survivors[0].energy_eV == pytest.approx(full[best].energy_eV, abs=0.01)
    assert doc.force_calls == sum(s.force_calls for s in doc.stages) < sum(d.force_calls for d in full)


def test_two_workers_give_the_results_of_one(candidates, tmp_path):
    one = _funnel(candidates, tmp_path, 1, loose_n=3, final_m=2)
    two = _funnel(candidates, tmp_path, 2, loose_n=3, final_m=2)
    assert two.workers == 2 and len(two.candidates) == len(one.candidates) == len(candidates)
    for a, b in zip(one.candidates, two.candidates):
        assert a.single_point_eV == pytest.approx(b.single_point_eV, abs=1e-9)
        assert (a.loose_eV is None) == (b.loose_eV is None) and (a.final_eV is None) == (b.final_eV is None)
        if a.final_eV is not None:
            assert a.final_eV == pytest.approx(b.final_eV, abs=1e-6)
    assert two.survivor == one.survivor


def _run(tmp_path, monkeypatch, study, db) -> tuple[int, str, int]:
    """Run ``study`` in-process; return exit code, stdout and the number of Morse energy/force calls."""
    calls = {"n": 0}
    original = PairMorse.calculate

    def counted(self, *args, **kwargs):
        calls["n"] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(PairMorse, "calculate", counted)
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli("run", str(study), "--db", str(db), "--workers", "1", "--scratch", str(tmp_path / "s"))
    assert code == 0, err
    return code, out, calls["n"]


def test_rerun_computes_nothing_and_a_changed_setting_only_its_dependants(tmp_path, monkeypatch):
    db = tmp_path / "db"
    _, first_out, first = _run(tmp_path, monkeypatch, FUNNEL_STUDY, db)
    assert first > 0 and ", 0 reused" in first_out
    _, second_out, second = _run(tmp_path, monkeypatch, FUNNEL_STUDY, db)
    assert second == 0, f"a rerun made {second} calculator calls"
    store = connect(db, create=False)
    runs = sorted({d["metadata"]["run_id"] for d in store.query({}, properties=["metadata.run_id"])})
    assert len(runs) == 2
    table = [line for line in second_out.splitlines() if line.startswith("| rutile-110")]
    assert table and table == [line for line in first_out.splitlines() if line.startswith("| rutile-110")]
    # a wider funnel: the bulks, the cell and O2 are reused, only the funnels run again
    study = yaml.safe_load(FUNNEL_STUDY.read_text())
    study["oxidation"]["funnel"]["loose_n"] = 3
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(study))
    _, third_out, third = _run(tmp_path, monkeypatch, changed, db)
    assert 0 < third
    latest = next(r for r in sorted({d["metadata"]["run_id"] for d in store.query({}, properties=["metadata.run_id"])})
                  if r not in runs)
    docs = list(store.query({"metadata.run_id": latest}, properties=["output.doc_type", "output.reused_from_job_id"]))
    computed = {d["output"]["doc_type"] for d in docs if d["output"].get("doc_type") in ("calculation", "funnel")
                and not d["output"].get("reused_from_job_id")}
    reused = {d["output"]["doc_type"] for d in docs if d["output"].get("reused_from_job_id")}
    assert computed == {"funnel"} and reused == {"calculation"}


def test_unconverged_relaxations_are_excluded_with_the_count_shown(tmp_path, monkeypatch):
    study = yaml.safe_load(FUNNEL_STUDY.read_text())
    study["preset_overrides"] = {"relax": {"steps": 2}}  # nothing converges in 2 steps
    path = tmp_path / "capped.yaml"
    path.write_text(yaml.safe_dump(study))
    db = tmp_path / "db"
    _run(tmp_path, monkeypatch, path, db)
    code, out, err = run_cli("table", "oxidation", "--db", str(db), "--format", "json")
    assert code == 0, err
    rows = json.loads(out)
    assert rows and all(r["gamma_interface_eV_per_A2"] is None and r["gamma_surface_eV_per_A2"] is None for r in rows)
    assert all(r["n_excluded"] >= 1 for r in rows)
    code, out, _ = run_cli("table", "oxidation", "--db", str(db))
    assert "excluded (not conv.)" in out


def test_content_hash_is_blind_to_the_sign_of_zero_and_sub_rounding_noise():
    # ASE puts the second Ru of hcp bulk at x = -2.4e-17 Å; pymatgen's round trip writes 0.0. Rounded
    # to 1e-5 Å the first is -0.0, which JSON writes differently from 0.0: the hash must not see it.
    from ase.build import bulk
    from pymatgen.io.ase import AseAtomsAdaptor

    from spillover.schemas import content_hash

    atoms = bulk("Ru", "hcp", a=2.706, c=4.282)
    assert atoms.positions[1, 0] < 0
    again = AseAtomsAdaptor.get_atoms(AseAtomsAdaptor.get_structure(atoms))
    task, params = {"steps": 0}, {"model_name": "0.3.0"}
    assert content_hash(atoms, params, task) == content_hash(again, params, task)
    moved = atoms.copy()
    moved.positions[1, 0] += 1e-3
    assert content_hash(moved, params, task) != content_hash(atoms, params, task)
