"""The O level along the path, the transfer energies and the verdict, in the system's own cell.

Site counts worked out by hand, the whole chain at the analytic preset (every E_b and dE recomputed
from the stored documents), the verdict against the stored transfers, bad input, and one CHGNet
transfer from layer 1 to the interface.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from conftest import ROOT, db_snapshot, spillover
from spillover.analysis.verdict import verdict_rows
from spillover.build.mu_profile import cell_vacancy_sites
from spillover.errors import InputError
from spillover.jobs.cells import cell_atoms
from spillover.sections.mu_profile import VerdictSettings
from spillover.store import connect
from spillover.study import load_study

PROFILE_STUDY = ROOT / "tests" / "data" / "profile_study.yaml"


def _cell(study_path=PROFILE_STUDY, **cell):
    study = load_study(study_path)
    spec = study.systems[0]
    return cell_atoms(spec.support, spec.films, {**study.cell.model_dump(), **cell}, study.lattice_match.model_dump())[0]


def test_support_sites_per_layer_counted_by_hand():
    # The 58 Å² cell is three r-TiO2(110) surface cells (6.50 x 2.96 Å); a trilayer of one surface cell
    # holds 2 Ti and 4 O, so each support layer of the cell holds 12 O. The Ru film on top leaves no
    # operation that maps one of them onto another, so every O is its own site: 12 per layer, 36 in 1..3.
    cell = _cell()
    sites = cell_vacancy_sites(cell, 3)
    support = cell.arrays["part"] == 0
    is_o = np.array(cell.get_chemical_symbols()) == "O"
    for k in (1, 2, 3):
        mine = [s for s in sites if s.layer == k]
        assert sum(len(s.equivalent) for s in mine) == int((support & is_o & (cell.arrays["layer"] == k)).sum()) == 12
        assert all(s.region == "support" and cell[s.index].symbol == "O" for s in mine)
    assert not [s for s in sites if s.region == "interlayer"]  # no RuO2 in this system
    # layers count from the interface: layer 1 is the top of the support, right under the Ru
    z = {k: np.mean([s.position[2] for s in sites if s.layer == k]) for k in (1, 2, 3)}
    assert z[1] > z[2] > z[3]


def test_interlayer_sites_of_the_stack():
    # one RuO2(110) trilayer of the 58 Å² cell: 3 surface cells x 4 O = 12 O, each its own site
    study = load_study(PROFILE_STUDY)
    stack = cell_atoms("rutile-110", ["RuO2-110", "Ru-0001"], {**study.cell.model_dump(),
                       "film_layers": {"RuO2-110": 1, "Ru-0001": 2}}, study.lattice_match.model_dump())[0]
    inter = [s for s in cell_vacancy_sites(stack, 1) if s.region == "interlayer"]
    assert sum(len(s.equivalent) for s in inter) == 12
    assert all(stack.arrays["part"][s.index] == 1 for s in inter)


def test_depth_beyond_the_free_support_layers_is_an_input_error():
    with pytest.raises(InputError) as err:
        cell_vacancy_sites(_cell(), 4)  # 4 support layers, the bottom one fixed: 3 free
    assert err.value.field == "mu_profile.support_layers_probed"


@pytest.fixture(scope="module")
def profile_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("profile")
    db = work / "db"
    result = spillover("run", str(PROFILE_STUDY), "--db", str(db), "--scratch", str(work / "s"))
    assert result.returncode == 0, result.stderr[-3000:]
    rows = spillover("table", "mu-profile", "--db", str(db), "--format", "json")
    moves = spillover("table", "transfer", "--db", str(db), "--format", "json")
    verdict = spillover("verdict", "--db", str(db), "--format", "json")
    for r in (rows, moves, verdict):
        assert r.returncode == 0, r.stderr
    return {"db": db, "work": work, "rows": json.loads(rows.stdout), "moves": json.loads(moves.stdout),
            "verdict": json.loads(verdict.stdout), "stdout": result.stdout}


def test_chain_computes_every_region_in_the_cell(profile_run):
    rows = profile_run["rows"]
    assert {r["region"] for r in rows} == {"bulk-reference", "support", "interface", "ru-interstitial", "ru-surface"}
    assert sorted({r["layer"] for r in rows if r["region"] == "support"}) == [1, 2, 3]
    assert sorted({r["layer"] for r in rows if r["region"] == "ru-interstitial"}) == [1, 2]
    assert set(rows[0]) == {"system", "support", "region", "layer", "site", "occupied", "E_b_eV", "converged",
                            "multiplicity", "preset", "job_ids"}
    assert all(r["occupied"] == (r["region"] in ("support", "bulk-reference")) for r in rows)
    assert {r["site"] for r in rows if r["region"] == "bulk-reference"} == {"bulk 2x2x2", "bulk 2x2x3"}
    assert "O level along the path" in profile_run["stdout"] and "verdict thresholds" in profile_run["stdout"]


def test_every_E_b_equals_recomputation_from_stored_documents(profile_run):
    store = connect(profile_run["db"], create=False)
    out = {u: store.query_one({"uuid": u})["output"] for r in profile_run["rows"] for u in r["job_ids"]}
    checked = 0
    for row in profile_run["rows"]:
        assert row["converged"] and row["preset"] == "analytic"
        first, ref, o2 = (out[u] for u in row["job_ids"])
        half = 0.5 * o2["energy_eV"]
        if first.get("doc_type") == "funnel":  # E_b of the funnel's final relaxation at this site
            cell_e = ref["energy_eV"]
            energies = [c["energy_eV"] for c in first["survivors"] if c["converged"]]
            if row["occupied"]:
                expected = [cell_e - e - half for e in energies]
                assert all(c["natoms"] == ref["natoms"] - 1 for c in first["survivors"])
            else:
                expected = [e - cell_e - half for e in energies]
                assert all(c["natoms"] == ref["natoms"] + 1 for c in first["survivors"])
            assert min(abs(row["E_b_eV"] - x) for x in expected) < 1e-9
        else:  # bulk reference: host without the O, host with it
            assert row["E_b_eV"] == pytest.approx(ref["energy_eV"] - first["energy_eV"] - half, abs=1e-9)
            assert ref["natoms"] == first["natoms"] + 1
        checked += 1
    # 2 bulk supercells + support layers 1-3 + interface + Ru gaps 1-2 + Ru surface, one final relaxation each
    assert checked == len(profile_run["rows"]) == 9


def test_funnels_screen_every_site_and_reuse_the_oxidation_n1_candidates(profile_run):
    from spillover.jobs.oxidation import placement_candidates
    from spillover.schemas import calc_atoms

    store = connect(profile_run["db"], create=False)
    (doc,) = store.query({"output.doc_type": "mu-profile"})
    funnels = {(f["region"], f["layer"]): f for f in doc["output"]["funnels"]}
    assert [funnels[("support", k)]["n_candidates"] for k in (1, 2, 3)] == [12, 12, 12]
    cell = calc_atoms(store.query_one({"uuid": doc["output"]["cell_job_id"]})["output"])
    n_interface = len(placement_candidates(cell, "interface", 1)[0])
    assert funnels[("interface", None)]["n_candidates"] == n_interface
    for f in funnels.values():
        stored = store.query_one({"uuid": f["job_id"]})["output"]
        assert len(stored["candidates"]) == f["n_candidates"]
        assert all(c["single_point_eV"] is not None for c in stored["candidates"])


def test_transfer_energies_are_stored_differences_in_one_cell(profile_run):
    store = connect(profile_run["db"], create=False)
    moves = profile_run["moves"]
    assert sorted({m["from_layer"] for m in moves}) == [1, 2, 3]
    assert all(len([m for m in moves if m["from_layer"] == k]) == 2 for k in (1, 2, 3))  # 1 interface + 1 Ru gap
    (doc,) = store.query({"output.doc_type": "transfer"})
    cell = store.query_one({"uuid": doc["output"]["cell_job_id"]})["output"]
    stored = {(m["from_layer"], m["to_site"]): m for m in doc["output"]["moves"]}
    for m in moves:
        calc = stored[(m["from_layer"], m["to_site"])]["calc"]
        assert calc["natoms"] == cell["natoms"]  # one O taken out, one put in
        assert m["dE_eV"] == pytest.approx(calc["energy_eV"] - cell["energy_eV"], abs=1e-9)
        assert m["distance_A"] > 1.0 and m["job_ids"] == [doc["uuid"], doc["output"]["cell_job_id"]]


def test_verdict_follows_from_the_stored_transfers(profile_run):
    (row,) = profile_run["verdict"]
    settings = VerdictSettings(deep_layers=[2, 3])
    (expected,) = verdict_rows([m for m in profile_run["moves"] if m["dE_eV"] is not None], None, settings)
    assert row["signature"] == expected["signature"] and row["reason"] == expected["reason"]
    deep = min(m["dE_eV"] for m in profile_run["moves"] if m["from_layer"] in (2, 3))
    assert row["transfer_dE_eV"]["2"] >= deep - 1e-12 and row["E_eff_eV"] is None
    assert row["signature"] in (False, None)  # no barrier yet: never True
    text = spillover("verdict", "--db", str(profile_run["db"])).stdout
    assert "verdict thresholds: deep layers L2-3" in text and "E_eff not computed" in text


def test_plots_write_vector_and_raster_figures(profile_run):
    for name, suffix, magic in (("mu-profile", ".svg", b"<?xml"), ("mu-profile", ".png", b"\x89PNG"),
                                ("transfer", ".pdf", b"%PDF")):
        out = profile_run["work"] / f"{name}{suffix}"
        result = spillover("plot", name, "--db", str(profile_run["db"]), "-o", str(out))
        assert result.returncode == 0, result.stderr
        assert out.read_bytes()[: len(magic)] == magic and out.stat().st_size > 5_000


def test_unknown_system_and_missing_profile_are_one_line_errors(profile_run, tiny_run):
    result = spillover("table", "mu-profile", "--db", str(profile_run["db"]), "--system", "rutile-110/Pt-111")
    assert result.returncode == 2 and "--system" in result.stderr and "rutile-110/Ru-0001" in result.stderr
    result = spillover("verdict", "--db", str(tiny_run["db"]))
    assert result.returncode == 2 and "no O level along the path" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"support_layers_probed": 4}, "mu_profile.support_layers_probed"),
        ({"regions": ["support", "mantle"]}, "mu_profile.regions[1]"),
        ({"systems": ["rutile-110/RuO2-110/Ru-0001"]}, "mu_profile.systems"),
        ({"bulk_supercells": {"rutile": [[1, 1, 1]]}}, "mu_profile.bulk_supercells"),
        ({"verdict": {"tolerance_eV": -1}}, "mu_profile.verdict.tolerance_eV"),
        ({"transfer_sites": 0}, "mu_profile.transfer_sites"),
    ],
)
def test_bad_profile_input_writes_nothing(tmp_path, change, field):
    data = yaml.safe_load(PROFILE_STUDY.read_text())
    data["mu_profile"].update(change)
    study = tmp_path / "bad.yaml"
    study.write_text(yaml.safe_dump(data))
    result = spillover("run", str(study), "--db", str(tmp_path / "db"))
    assert result.returncode == 2 and field in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert db_snapshot(tmp_path / "db") == {}


@pytest.mark.chgnet
def test_chgnet_transfer_from_layer_1_to_the_interface(tmp_path):
    # Ru(0001) 2 layers on r-TiO2(110) 3 layers (bottom fixed), 58 Å²: layer 1 O moved to the best interface site
    data = yaml.safe_load(PROFILE_STUDY.read_text())
    data.update(preset="screen", cell={**data["cell"], "support_layers": 3, "film_layers": {"Ru-0001": 2}})
    data["mu_profile"] = {"support_layers_probed": 1, "regions": ["support", "interface"], "transfer_sites": 1,
                          "funnel": {"loose_n": 1, "final_m": 1}, "verdict": {"deep_layers": [1]}}
    study = tmp_path / "chgnet.yaml"
    study.write_text(yaml.safe_dump(data))
    db = tmp_path / "db"
    result = spillover("run", str(study), "--db", str(db), "--scratch", str(tmp_path / "s"))
    assert result.returncode == 0, result.stderr[-3000:]
    store = connect(db, create=False)
    (doc,) = store.query({"output.doc_type": "transfer"})
    (move,) = doc["output"]["moves"]
    cell = store.query_one({"uuid": doc["output"]["cell_job_id"]})["output"]
    assert move["from_layer"] == 1 and move["to_region"] == "interface"
    assert move["calc"]["converged"] and cell["converged"] and move["calc"]["preset"] == "screen"
    (row,) = json.loads(spillover("table", "transfer", "--db", str(db), "--format", "json").stdout)
    assert row["dE_eV"] == pytest.approx(move["calc"]["energy_eV"] - cell["energy_eV"], abs=1e-9)
    assert -10 < row["dE_eV"] < 10
