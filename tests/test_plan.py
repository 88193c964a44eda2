"""The plan: shared jobs made once and handed to every analysis; wiring checked at the analytic preset."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from jobflow import Flow, JobStore, run_locally
from maggma.stores import MemoryStore

from spillover.plan import make_plan, preflight
from spillover.study import load_study

ROOT = Path(__file__).resolve().parents[1]
MAIN = ROOT / "workflows" / "ru_tio2_spillover.yaml"
OX_STUDY = ROOT / "tests" / "data" / "oxidation_study.yaml"


def _jobs(flow: Flow) -> list:
    out = []
    for item in flow.jobs:
        out += _jobs(item) if isinstance(item, Flow) else [item]
    return out


def test_main_study_builds_every_cell_once_and_relaxes_none_for_the_lattice_match():
    assert load_study(MAIN).analyses == ["lattice-match", "oxidation", "mu-profile", "barriers"]
    flow = make_plan(load_study(MAIN).model_copy(update={"analyses": ["lattice-match"]}), "screen", run_id="abc")
    names = [j.name for j in _jobs(flow)]
    assert names[:4] == ["relax bulk rutile", "relax bulk anatase", "relax bulk RuO2", "relax bulk Ru"]
    assert [n for n in names if n.startswith("cell ")] == [
        "cell rutile-110/Ru-0001", "cell rutile-110/RuO2-110/Ru-0001", "cell rutile-110/RuO2-110",
        "cell anatase-101/Ru-0001", "cell anatase-101/RuO2-110/Ru-0001", "cell anatase-101/RuO2-110",
    ]
    assert "lattice scan" in names and not any(n.startswith("relax cell") for n in names)
    assert all(j.metadata["run_id"] == "abc" and j.metadata["preset"] == "screen" for j in _jobs(flow))
    # each cell takes its lattices from the bulk relaxations, not from the CIFs
    jobs = {j.name: j for j in _jobs(flow)}
    refs = {r.uuid for r in jobs["cell rutile-110/RuO2-110"].input_references}
    assert refs == {jobs["relax bulk rutile"].uuid, jobs["relax bulk RuO2"].uuid}


def test_every_analysis_shares_one_o2_and_one_relaxed_cell_per_system():
    study = load_study(MAIN).model_copy(update={"analyses": ["lattice-match", "oxidation", "mu-profile", "barriers"]})
    jobs = _jobs(make_plan(study, "screen"))
    counts = Counter(j.name for j in jobs)
    assert counts["relax O2"] == 1 and counts["O2 correction"] == 1
    assert all(v == 1 for k, v in counts.items() if k.startswith(("relax bulk", "cell ", "relax cell")))
    relaxed = {j.name.removeprefix("relax cell "): j for j in jobs if j.name.startswith("relax cell ")}
    # oxidation and the profile: the four Ru-terminated systems
    assert set(relaxed) == {"rutile-110/Ru-0001", "rutile-110/RuO2-110/Ru-0001", "anatase-101/Ru-0001",
                            "anatase-101/RuO2-110/Ru-0001"}
    o2 = next(j for j in jobs if j.name == "relax O2")
    for job in jobs:
        if job.name.startswith("oxidation sites "):
            system = job.name.removeprefix("oxidation sites ")
            assert {r.uuid for r in job.input_references} >= {relaxed[system].uuid, o2.uuid}
            assert job.metadata["analysis"] == "oxidation" and job.metadata["system"] == system
        if job.name.startswith("mu-profile sites "):  # the profile of each system starts from the same relaxed cell
            system = job.name.removeprefix("mu-profile sites ")
            assert relaxed[system].uuid in {r.uuid for r in job.input_references}


def test_preflight_catches_unknown_preset_and_impossible_match():
    from spillover.errors import InputError

    study = load_study(MAIN)
    with pytest.raises(InputError) as err:
        preflight(study, "dft-magic")
    assert err.value.field == "preset"
    tight = study.model_copy(update={"lattice_match": study.lattice_match.model_copy(update={"max_strain_percent": 0.01})})
    with pytest.raises(InputError) as err:
        preflight(tight, "screen")
    assert err.value.field == "max_strain_percent"


@pytest.fixture(scope="module")
def analytic_oxidation(tmp_path_factory) -> dict:
    """The small oxidation study at the analytic preset, run in memory."""
    store = JobStore(MemoryStore(), additional_stores={"data": MemoryStore()})
    flow = make_plan(load_study(OX_STUDY), "analytic", run_id="mem")
    run_locally(flow, store=store, root_dir=tmp_path_factory.mktemp("plan"), create_folders=True, log=False)
    return {"store": store, "flow": flow}


def test_oxidation_starts_from_the_stored_relaxed_cell(analytic_oxidation):
    store = analytic_oxidation["store"]
    cells = {d["output"]["label"]: d for d in store.query({"output.kind": "system-cell"})}
    assert set(cells) == {"rutile-110/Ru-0001", "anatase-101/Ru-0001"}
    for summary in store.query({"output.doc_type": "oxidation"}):
        out = summary["output"]
        cell = cells[out["label"]]
        assert out["clean_job_id"] == cell["uuid"] and out["clean_energy_eV"] == cell["output"]["energy_eV"]
        relaxed = np.array(cell["output"]["structure"]["lattice"]["matrix"])
        for conf in out["configurations"]:
            funnel = store.query_one({"uuid": conf["job_id"]})["output"]
            assert funnel["doc_type"] == "funnel" and len(funnel["candidates"]) == conf["n_candidates"]
            doc = funnel["survivors"][0]
            start = doc["input_structure"]  # the loose relaxation's end, in the relaxed cell's lattice
            assert np.allclose(start["lattice"]["matrix"], relaxed)
            assert doc["natoms"] == cell["output"]["natoms"] + conf["n_O"]
            # the fixed atoms are where the relaxed cell left them
            fixed = cell["output"]["fixed_indices"]
            assert fixed and doc["fixed_indices"] == fixed
            xyz = np.array([doc["structure"]["sites"][i]["xyz"] for i in fixed])
            ref = np.array([cell["output"]["structure"]["sites"][i]["xyz"] for i in fixed])
            assert np.allclose(xyz, ref, atol=1e-6)
    built = {d["output"]["system"]: d["uuid"] for d in store.query({"output.doc_type": "system-cell"})}
    for label, cell in cells.items():
        assert cell["metadata"]["system"] == label and cell["output"]["metadata"]["cell_job_id"] == built[label]
