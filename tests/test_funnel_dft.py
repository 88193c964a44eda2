"""The funnel's DFT stage with real GPAW, and the fidelity table recomputed from what it stored.

The candidates are O2 held at three bond lengths (every atom fixed, so each relaxation is one
force call): the analytic screen's O-O pair sits at 2.3 Å and ranks the longest bond lowest,
PBE puts the minimum near 1.23 Å. So the two rankings disagree, as a fidelity table must be able
to show, at the cost of six GPAW calls on a 2-atom cell.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase import Atoms
from ase.constraints import FixAtoms
from jobflow import job, run_locally

from conftest import run_cli
from spillover.analysis.fidelity import compare
from spillover.sections.funnel import FunnelSettings
from spillover.store import connect

BONDS_A = (1.15, 1.25, 1.40)


def _o2(d: float) -> Atoms:
    atoms = Atoms("O2", positions=[[0.0, 0.0, 0.0], [0.0, 0.0, d]], cell=[5.0, 5.2, 5.4], pbc=True)
    atoms.center()
    atoms.set_constraint(FixAtoms(indices=[0, 1]))
    return atoms


@job
def o2_funnel(checkpoint_dir: str):
    from spillover.jobs.funnel import run_funnel

    settings = FunnelSettings(loose_n=3, final_m=3, window_eV=100.0, dft_preset="gpaw-test", dft_k=3)
    return run_funnel("O2 test bond", [_o2(d) for d in BONDS_A], [{"bond_A": d} for d in BONDS_A], "analytic", {},
                      settings, kind="oxidation", metadata={"oxidation": {"interface": "O2 test"}}, workers=1,
                      checkpoint_dir=checkpoint_dir)


@pytest.fixture(scope="module")
def dft_funnel(tmp_path_factory):
    work = tmp_path_factory.mktemp("dft-funnel")
    db = work / "db"
    flow = o2_funnel(str(work / "ck"))
    responses = run_locally(flow, store=connect(str(db)), root_dir=str(work), create_folders=True, log=False)
    assert flow.uuid in responses
    (doc,) = list(connect(str(db), create=False).query({"output.doc_type": "funnel"}))
    return {"db": str(db), "uuid": doc["uuid"], "doc": doc["output"]}


@pytest.mark.gpaw
def test_dft_stage_stores_the_best_k_at_the_dft_preset(dft_funnel):
    doc = dft_funnel["doc"]
    assert [s["name"] for s in doc["stages"]] == ["single point", "loose", "final", "dft single point", "dft final"]
    assert doc["dft_preset"] == "gpaw-test" and len(doc["dft_survivors"]) == 3
    assert all(s["preset"] == "gpaw-test" and s["converged"] for s in doc["dft_survivors"])
    assert all(s["preset"] == "analytic" for s in doc["survivors"])
    by_bond = {c["info"]["bond_A"]: c for c in doc["candidates"]}
    # held atoms: the DFT relaxation is the single point again
    for c in by_bond.values():
        assert c["stage"] == "dft" and c["dft_final_eV"] == pytest.approx(c["dft_single_point_eV"], abs=1e-6)
    # the screen's Morse O-O minimum is at 2.3 Å, PBE's near 1.23 Å
    assert min(by_bond, key=lambda d: by_bond[d]["final_eV"]) == 1.40
    assert min(by_bond, key=lambda d: by_bond[d]["dft_final_eV"]) == 1.25
    # the DFT survivors are the stored relaxations, lowest first
    energies = [s["energy_eV"] for s in doc["dft_survivors"]]
    assert energies == sorted(energies) and energies[0] == pytest.approx(by_bond[1.25]["dft_final_eV"])


@pytest.mark.gpaw
def test_fidelity_row_equals_what_the_stored_energies_give(dft_funnel):
    code, out, err = run_cli("table", "fidelity", "--db", dft_funnel["db"], "--format", "json")
    assert code == 0, err
    (row,) = json.loads(out)
    doc = dft_funnel["doc"]
    screen = np.array([c["final_eV"] for c in doc["candidates"]])
    dft = np.array([c["dft_final_eV"] for c in doc["candidates"]])
    s, d = screen - screen.min(), dft - dft.min()
    assert row["analysis"] == "oxidation" and row["system"] == "O2 test" and row["group"] == "bond"
    assert row["n_candidates"] == 3 and row["top1_agrees"] is False
    assert row["max_abs_diff_eV"] == pytest.approx(np.abs(s - d).max(), abs=1e-9)
    # ranks: screen 1.40 < 1.25 < 1.15; DFT 1.25 lowest
    ranks_s, ranks_d = np.argsort(np.argsort(s)), np.argsort(np.argsort(d))
    rho = 1 - 6 * np.sum((ranks_s - ranks_d) ** 2) / (3 * (9 - 1))
    assert row["spearman"] == pytest.approx(rho, abs=1e-9)
    assert row["job_ids"] == [dft_funnel["uuid"]] and row["preset"] == "gpaw-test" and row["screen_preset"] == "analytic"
    code, out, err = run_cli("table", "fidelity", "--db", dft_funnel["db"], "--preset", "gpaw-production")
    assert code == 0 and "O2 test" not in out and "gpaw-production" in err  # an empty table, said so


def test_compare_on_hand_made_numbers():
    same = compare([0.0, 0.1, 0.5], [1.0, 1.2, 1.45])
    assert same["top1_agrees"] and same["spearman"] == pytest.approx(1.0)
    assert same["max_abs_diff_eV"] == pytest.approx(0.1)
    flipped = compare([0.0, 0.1], [0.3, 0.0])
    assert not flipped["top1_agrees"] and flipped["spearman"] is None  # two candidates: no rank correlation
    assert flipped["max_abs_diff_eV"] == pytest.approx(0.3)


def test_no_dft_stage_keeps_the_funnel_hash():
    plain = FunnelSettings(loose_n=3)
    assert set(plain.hashed()) == set(plain.model_dump()) - {"dft_preset", "dft_k", "dft_preset_overrides"}
    assert "dft_preset" in FunnelSettings(loose_n=3, dft_preset="gpaw-test").hashed()
