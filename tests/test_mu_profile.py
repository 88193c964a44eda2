"""The O chemical-potential profile: sites counted by hand, the whole chain (analytic preset), E_b recomputed."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from ase import Atoms

from conftest import ROOT, db_snapshot, spillover
from spillover.build.bulk import load_bulk
from spillover.build.mu_profile import hollow_sites, interstitial_sites, ru_supercell, support_slab_sites
from spillover.build.slabs import make_slab
from spillover.errors import InputError
from spillover.store import connect

PROFILE_STUDY = ROOT / "tests" / "data" / "profile_study.yaml"


def test_rutile_110_sites_per_layer_counted_by_hand():
    # One r-TiO2(110) trilayer of the 1x1 cell holds 4 O: the upper bridging O, two in-plane O
    # (mapped onto each other by the mirror through the Ti rows) and the lower bridging O. The
    # fixed bottom layer breaks the up/down symmetry, so each layer has 3 distinct sites:
    # layer 1 -> outermost (upper bridging) + in-plane (x2) + lower bridging; layers 2, 3 alike.
    slab = make_slab("rutile-110", layers=4, fixed_layers=1)
    sites = support_slab_sites(slab, depth=3)
    per_layer = {k: [s for s in sites if s.layer == k] for k in (1, 2, 3)}
    assert [len(v) for v in per_layer.values()] == [3, 3, 3]
    assert [s.region for s in sites].count("support-surface") == 1
    assert sorted(len(s.equivalent) for s in per_layer[2]) == [1, 1, 2]
    assert sum(len(s.equivalent) for s in sites) == 12  # every O of layers 1-3 is represented once
    top = next(s for s in sites if s.region == "support-surface")
    assert top.position[2] == pytest.approx(slab.positions[:, 2].max())


def test_depth_beyond_free_layers_is_an_input_error():
    slab = make_slab("rutile-110", layers=3, fixed_layers=1)
    with pytest.raises(InputError) as err:
        support_slab_sites(slab, depth=3)
    assert err.value.field == "mu_profile.support_layers_probed"


def test_ru_interstitials_and_hollows():
    ru = ru_supercell(load_bulk("Ru"), (2, 2, 2))
    sites = {s.site: s for s in interstitial_sites(ru)}
    # hcp: one octahedral and two tetrahedral holes per atom
    assert len(sites["octahedral"].equivalent) == len(ru) and len(sites["tetrahedral"].equivalent) == 2 * len(ru)
    probe = ru + Atoms("O", positions=[sites["octahedral"].position])
    d = np.sort(probe.get_distances(len(ru), list(range(len(ru))), mic=True))
    assert d[:6] == pytest.approx([d[0]] * 6, abs=0.02) and d[6] > d[0] + 0.5  # six equidistant Ru
    probe = ru + Atoms("O", positions=[sites["tetrahedral"].position])
    d = np.sort(probe.get_distances(len(ru), list(range(len(ru))), mic=True))
    assert d[:4] == pytest.approx([d[0]] * 4, abs=0.05) and d[4] > d[0] + 0.3  # four
    slab = make_slab("Ru-0001", repeat=(2, 2), layers=3, fixed_layers=1)
    hollows = {s.site: s for s in hollow_sites(slab)}
    assert set(hollows) == {"fcc hollow", "hcp hollow"}
    second = slab.positions[slab.arrays["layer"] == 2]
    lateral = np.linalg.norm(second[:, :2] - np.array(hollows["hcp hollow"].position[:2]), axis=1)
    assert lateral.min() < 0.3  # an atom of the second layer straight below the hcp hollow


@pytest.mark.parametrize("support", ["rutile-110", "anatase-101"])
@pytest.mark.parametrize("kind", ["support-slab", "bulk-supercell-0", "ru-supercell", "ru-slab"])
def test_sites_of_a_host_cut_from_a_relaxed_bulk_follow_the_plan(support, kind):
    # The plan is made on the experimental bulk; at run time the host is cut from the relaxed bulk,
    # whose slab may list its atoms in another order. The site jobs rely on the run-time sites
    # coming in the planned order of regions and layers, each vacancy index pointing at an O.
    from pymatgen.io.ase import AseAtomsAdaptor

    from spillover.build.mu_profile import SUPPORT_BULK, build_host, capped, site_entries
    from spillover.jobs.mu_profile import cut_host
    from spillover.schemas import as_structure
    from spillover.study import load_study

    settings = load_study(PROFILE_STUDY).mu_profile.model_dump()
    bulk = load_bulk("Ru" if kind.startswith("ru") else SUPPORT_BULK[support])
    relaxed = bulk.copy()
    relaxed.set_cell(np.asarray(bulk.cell) * np.array([[1.02], [1.02], [0.985]]), scale_atoms=True)
    planned = capped(site_entries(kind, build_host(kind, bulk, settings, support), settings),
                      settings["max_sites_per_layer"])
    cut = cut_host.original(kind, AseAtomsAdaptor.get_structure(relaxed).as_dict(), settings, support)
    host = AseAtomsAdaptor.get_atoms(as_structure(cut["structure"]))
    assert [(e["region"], e["layer"], e["kind"]) for e in cut["sites"]] == [
        (e["region"], e["layer"], e["kind"]) for e in planned]
    for entry in cut["sites"]:
        if entry["kind"] == "vacancy":
            assert host[entry["index"]].symbol == "O"


@pytest.fixture(scope="module")
def profile_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("profile")
    db = work / "db"
    result = spillover("run", str(PROFILE_STUDY), "--only", "mu-profile", "--preset", "analytic", "--db", str(db),
                       "--scratch", str(work / "s"))
    assert result.returncode == 0, result.stderr[-3000:]
    table = spillover("table", "mu-profile", "--db", str(db), "--format", "json")
    assert table.returncode == 0, table.stderr
    return {"db": db, "work": work, "rows": json.loads(table.stdout), "stdout": result.stdout}


def test_chain_yields_all_five_regions_for_both_supports(profile_run):
    rows = profile_run["rows"]
    for support in ("rutile-110", "anatase-101"):
        regions = {r["region"] for r in rows if r["support"] == support}
        assert regions == {"support-surface", "support-bulk", "interface", "ru-bulk", "ru-surface"}
    assert {"support", "region", "layer", "site", "E_b_eV", "preset", "job_ids"} <= set(rows[0])


def test_every_E_b_equals_recomputation_from_stored_documents(profile_run):
    store = connect(profile_run["db"], create=False)
    for row in profile_run["rows"]:
        with_id, without_id, o2_id = row["job_ids"]
        docs = [store.query_one({"uuid": u})["output"] for u in (with_id, without_id, o2_id)]
        assert {d["preset"] for d in docs} == {"analytic"}
        e_b = docs[0]["energy_eV"] - docs[1]["energy_eV"] - 0.5 * docs[2]["energy_eV"]
        assert row["E_b_eV"] == pytest.approx(e_b, abs=1e-9)
        assert docs[0]["natoms"] == docs[1]["natoms"] + 1  # the two differ by exactly the one O


def test_profile_documents_list_the_equivalent_sites(profile_run):
    store = connect(profile_run["db"], create=False)
    docs = list(store.query({"output.doc_type": "mu-profile"}))
    assert {d["output"]["support"] for d in docs} == {"rutile-110", "anatase-101"}
    for doc in docs:
        assert doc["output"]["failed"] == []
        for site in doc["output"]["sites"]:
            assert len(site["equivalent"]) == site["equivalent_count"] >= 1
            assert len(site["position"]) == 3


def test_table_text_has_verdict_and_finite_size(profile_run):
    text = spillover("table", "mu-profile", "--db", str(profile_run["db"])).stdout
    assert "rutile-110: E_b " in text and "anatase-101: E_b " in text
    assert "monotonically" in text and "finite-size" in text


def test_plot_writes_a_figure(profile_run):
    out = profile_run["work"] / "profile.png"
    result = spillover("plot", "mu-profile", "--db", str(profile_run["db"]), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"support_layers_probed": 5}, "mu_profile"),
        ({"regions": ["support-bulk", "mantle"]}, "mu_profile.regions[1]"),
        ({"ru_supercell": [1, 1, 1]}, "mu_profile.ru_supercell"),
        ({"bulk_supercells": {"rutile": [[1, 1, 1]], "anatase": [[2, 2, 1]]}}, "mu_profile.bulk_supercells"),
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


def test_table_from_database_without_profile(tiny_run):
    result = spillover("table", "mu-profile", "--db", str(tiny_run["db"]))
    assert result.returncode == 2 and "no O chemical-potential profile" in result.stderr
