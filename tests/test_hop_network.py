"""The O-vacancy hop network of a system's cell: hops counted by hand, minimax paths on hand-made graphs,
the lazy choice of bands, relaxed vacancies carried by symmetry, and the chain at the analytic preset."""

from __future__ import annotations

import collections
import json
import re

import numpy as np
import pytest
import yaml

from conftest import ROOT, spillover
from spillover.analysis.hop_graph import Edge, explore, minimax_path
from spillover.build.barriers import bulk_host
from spillover.build.hop_network import cell_network, vacancy_on_site
from spillover.build.symmetry import host_symmetry
from spillover.jobs.cells import cell_atoms
from spillover.store import connect
from spillover.study import load_study

NETWORK_STUDY = ROOT / "tests" / "data" / "network_study.yaml"
PRESETS = ROOT / "tests" / "data" / "presets"


def _cell(films=("Ru-0001",), **cell):
    study = load_study(NETWORK_STUDY)
    return cell_atoms("rutile-110", list(films), {**study.cell.model_dump(), **cell}, study.lattice_match.model_dump())[0]


def test_hop_counts_of_the_rutile_cell_worked_out_by_hand():
    # Each support layer of the 58 Å² cell is three r-TiO2(110) surface cells of one trilayer: N = 12 O, each
    # its own site under the Ru film. Bulk rutile O has, within 3 Å, one neighbour at 2.53 Å (the shared edge
    # of an octahedron chain), eight at 2.78 Å and two at 2.96 Å (along c, in the (110) plane). The 2.53 and
    # 2.96 Å partners lie in the O's own trilayer; of the eight 2.78 Å partners four lie in its own trilayer
    # and two in each neighbouring one. Per layer: N/2 = 6 hops of 2.53 Å, N = 12 of 2.96 Å, 4N/2 = 24 of
    # 2.78 Å in the layer; between layers k and k+1: 2N = 24 of 2.78 Å.
    net = cell_network(_cell(), 3, 3.0)
    counts = collections.Counter((h.region, h.to_layer, h.from_layer, round(h.distance_A, 2)) for h in net.hops)
    for k in (1, 2, 3):
        assert counts[("in-layer", k, k, 2.53)] == 6
        assert counts[("in-layer", k, k, 2.96)] == 12
        assert counts[("in-layer", k, k, 2.78)] == 24
    for k in (1, 2):  # the O moves outward, from layer k+1 into the vacancy in layer k
        assert counts[("between-layers", k, k + 1, 2.78)] == 24
    in_layer = sum(v for key, v in counts.items() if key[0] == "in-layer")
    between = sum(v for key, v in counts.items() if key[0] == "between-layers")
    assert (in_layer, between, len(net.hops)) == (3 * 42, 2 * 24, 174)
    assert len(net.nodes) == 36 and all(h.multiplicity == 1 for h in net.hops)
    # without an oxide film the interface nodes are the O of support layer 1
    assert sorted(net.targets) == sorted(n.index for n in net.nodes if n.layer == 1)


def test_stack_has_film_and_across_interface_hops_and_film_targets():
    study = load_study(NETWORK_STUDY)
    stack = cell_atoms("rutile-110", ["RuO2-110", "Ru-0001"], {**study.cell.model_dump(),
                       "film_layers": {"RuO2-110": 1, "Ru-0001": 2}}, study.lattice_match.model_dump())[0]
    net = cell_network(stack, 1, 3.0)
    kinds = collections.Counter(h.region for h in net.hops)
    assert kinds["interlayer"] > 0 and kinds["across-interface"] > 0 and kinds["in-layer"] > 0
    part = stack.arrays["part"]
    assert sorted(net.targets) == sorted(n.index for n in net.nodes if n.region == "interlayer")
    for h in net.hops:
        if h.region == "across-interface":  # the O leaves support layer 1 for a vacancy of the film
            assert part[h.from_index] == 0 and h.from_layer == 1 and part[h.to_index] == 1


def test_minimax_path_avoids_a_direct_hop_with_a_high_saddle():
    # start a (0.0) -> target t (0.2): the direct hop has its saddle at 1.5 eV; a -> b -> t never goes above 0.9
    energies = {"a": 0.0, "b": 0.4, "c": -0.3, "t": 0.2}
    saddles = {"a-t": ("a", "t", 1.5), "a-b": ("a", "b", 0.9), "b-t": ("b", "t", 0.7), "a-c": ("a", "c", 0.5),
               "c-t": ("c", "t", 1.2)}
    path = minimax_path(energies, saddles, "a", {"t"})
    assert path.hops == ["a-b", "b-t"] and path.nodes == ["a", "b", "t"] and path.saddle_eV == pytest.approx(0.9)
    # a-b raised to 1.3 eV: the path through the deeper vacancy c (saddles 0.5 and 1.2 eV) is now best
    saddles["a-b"] = ("a", "b", 1.3)
    path = minimax_path(energies, saddles, "a", {"t"})
    assert path.hops == ["a-c", "c-t"] and path.saddle_eV == pytest.approx(1.2)
    # the highest point counts, not the number of hops: a four-hop detour below 1.0 eV beats them all
    energies.update({"d": 0.1, "e": 0.2, "f": 0.3})
    detour = {"a-d": ("a", "d", 0.8), "d-e": ("d", "e", 0.9), "e-f": ("e", "f", 0.95), "f-t": ("f", "t", 0.99)}
    path = minimax_path(energies, {**saddles, **detour}, "a", {"t"})
    assert path.hops == ["a-d", "d-e", "e-f", "f-t"] and path.saddle_eV == pytest.approx(0.99)
    # only the direct hop left below the others
    saddles.update({"a-b": ("a", "b", 1.6), "c-t": ("c", "t", 1.7)})
    assert minimax_path(energies, saddles, "a", {"t"}).hops == ["a-t"]
    assert minimax_path(energies, saddles, "t", {"t"}).saddle_eV == energies["t"]  # already there
    assert not minimax_path(energies, {"a-b": ("a", "b", 0.9)}, "a", {"t"}).found


def test_lazy_exploration_computes_fewer_bands_and_finds_the_same_barrier():
    # chain s -> m -> t with low saddles, and a branch s -> x -> y to a high vacancy x (1.4 eV) that no best
    # path can use: its lower bound 1.4 eV is above the chain's highest saddle 0.8 eV.
    energies = {"s": 0.0, "m": 0.3, "t": 0.1, "x": 1.4, "y": 1.5, "u": -0.2}
    true = {"s-m": 0.8, "m-t": 0.6, "s-x": 1.9, "x-y": 2.0, "x-t": 1.7, "s-t": 1.1, "loop": 0.2, "t-u": 0.3}
    ends = {"s-m": ("s", "m"), "m-t": ("m", "t"), "s-x": ("s", "x"), "x-y": ("x", "y"), "x-t": ("x", "t"),
            "s-t": ("s", "t"), "loop": ("m", "m"), "t-u": ("t", "u")}
    edges = [Edge(k, *ends[k]) for k in true]
    calls: list[str] = []

    def compute(batch):
        calls.extend(e.key for e in batch)
        return {e.key: true[e.key] for e in batch}

    targets = {"t", "u"}  # two interface sites: the hop between them is never needed
    lazy = explore(energies, edges, ["s", "m"], targets, compute, batch=1, lazy=True)
    lazy_calls, calls[:] = list(calls), []
    full = explore(energies, edges, ["s", "m"], targets, compute, batch=2, lazy=False)
    assert lazy.paths["s"].saddle_eV == full.paths["s"].saddle_eV == pytest.approx(0.8)
    assert lazy.paths["s"].hops == full.paths["s"].hops == ["s-m", "m-t"]
    # s-t (bound 0.1 eV) could have been on the best path and was computed; the hops of x could not
    assert set(lazy_calls) == {"s-t", "s-m", "m-t"} and len(calls) == 6  # the loop is never computed
    assert set(lazy.skipped) == {"s-x", "x-y", "x-t", "loop", "t-u"}
    assert "equivalent sites" in lazy.skipped["loop"] and "interface sites" in lazy.skipped["t-u"]
    assert "lower bound 1.60 eV" in lazy.skipped["s-x"]  # 1.4 eV above the lowest vacancy u (-0.2 eV)
    # an unconverged band is excluded: the path goes round it
    lazy = explore(energies, edges, ["s"], targets, lambda b: {e.key: None if e.key == "m-t" else true[e.key]
                                                            for e in b}, batch=1)
    assert lazy.failed == ["m-t"] and lazy.paths["s"].hops == ["s-t"] and lazy.paths["s"].saddle_eV == 1.1


def test_relaxed_vacancy_is_carried_onto_an_equivalent_site():
    # a rutile 2x2x3 supercell: every O is equivalent. Fake a relaxation at the representative (each atom
    # within 4 Å pushed 0.1 Å / r away from the vacancy; 4 Å stays below half the cell widths, 4.44 Å, so the
    # push has one direction) and carry it onto another O: every atom must sit where the same push away
    # from that O puts it.
    host = bulk_host("rutile", supercell=(2, 2, 3))
    sym = host_symmetry(host)
    oxygen = [k for k in range(len(host)) if host[k].symbol == "O"]
    rep = oxygen[0]
    assert set(sym.orbit_of_site(rep)) == set(oxygen)

    def pushed(site):
        from ase.geometry import find_mic

        vec, dist = find_mic(host.positions - host.positions[site], host.cell, host.pbc)
        dist[site] = 1.0
        push = np.where(dist[:, None] < 4.0, 0.1 * vec / dist[:, None] ** 2, 0.0)
        push[site] = 0.0
        return host.positions + push

    relaxed = np.delete(pushed(rep), rep, axis=0)
    for site in oxygen[1:6]:
        carried = vacancy_on_site(host, sym, rep, relaxed, site)
        want = pushed(site)
        keep = [k for k in range(len(host)) if k != site]
        assert np.allclose(carried[keep], want[keep], atol=1e-6)
        assert np.allclose(carried[site], host.positions[site])


@pytest.fixture(scope="module")
def network_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("network")
    db = work / "db"
    args = ("run", str(NETWORK_STUDY), "--db", str(db), "--scratch", str(work / "s"))
    env = {"OMP_NUM_THREADS": "1", "SPILLOVER_PRESET_PATH": str(PRESETS)}  # the ladder's analytic-fine
    first = spillover(*args, env=env)  # the profile and the network share their funnels
    assert first.returncode == 0, first.stderr[-3000:]
    second = spillover(*args, "--only", "barriers", env=env)
    assert second.returncode == 0, second.stderr[-3000:]
    paths = spillover("table", "hop-paths", "--db", str(db), "--format", "json")
    hops = spillover("table", "barriers", "--db", str(db), "--format", "json", "--preset", "analytic")
    ladder = spillover("table", "barriers", "--db", str(db), "--format", "json", "--preset", "analytic-fine")
    assert ladder.returncode == 0, ladder.stderr
    verdict = spillover("verdict", "--db", str(db), "--format", "json")
    assert paths.returncode == 0 and hops.returncode == 0 and verdict.returncode == 0, paths.stderr + hops.stderr
    docs = [d["output"] for d in connect(db, create=False).query({"output.doc_type": "hop-network"})]
    (doc,) = [d for d in docs if d.get("reused_from_job_id") is None]
    return {"db": db, "work": work, "first": first.stdout, "second": second.stdout, "doc": doc, "docs": docs,
            "paths": json.loads(paths.stdout), "hops": json.loads(hops.stdout), "verdict": json.loads(verdict.stdout),
            "ladder": json.loads(ladder.stdout)}


def test_network_chain_computes_only_bands_a_best_path_can_use(network_run):
    doc, hops = network_run["doc"], network_run["hops"]
    assert len(doc["nodes"]) == 36 and all(n["converged"] for n in doc["nodes"])
    # the profile's funnels relaxed one vacancy per layer (final_m = 1); the network relaxed the other 33
    assert collections.Counter(n["source"] for n in doc["nodes"]) == {"funnel": 3, "network": 33}
    # each layer's funnel was computed once for both analyses and both runs: the others are stored copies
    store = connect(network_run["db"], create=False)
    funnels = list(store.query({"output.doc_type": "funnel", "name": {"$regex": "support L[123]$"}},
                               properties=["uuid", "output.reused_from_job_id"]))
    originals = {f["uuid"] for f in funnels if not f["output"].get("reused_from_job_id")}
    assert len(funnels) == 9 and len(originals) == 3  # 3 layers: the profile, the network, its rerun
    assert {n["job_id"] for n in doc["nodes"] if n["source"] == "funnel"} == originals
    computed = [h for h in hops if h["skipped"] is None]
    skipped = [h for h in hops if h["skipped"] is not None]
    assert len(hops) == len(doc["edges"]) and doc["n_bands"] == len(computed) < len(hops)
    assert all("lower bound" in h["skipped"] or "interface sites" in h["skipped"] for h in skipped)
    # hops inside layer 1 join two interface sites here: never computed
    assert all(h["skipped"] and "interface sites" in h["skipped"] for h in hops
               if h["region"] == "in-layer" and h["to_layer"] == 1)
    best = max(p["E_eff_eV"] for p in network_run["paths"])
    start = {n["site"]: n["energy_eV"] for n in doc["nodes"]}
    # every skipped hop's lower bound is at or above the highest point of the slowest best path
    ref = min(start.values())
    worst = max(start[p["sites"][0]] + p["E_eff_eV"] for p in doc["paths"]) - ref
    assert all(h["lower_bound_eV"] >= worst - 1e-9 for h in skipped if "lower bound" in h["skipped"])
    assert best >= 0 and all(h["n_images"] == 4 for h in computed)


def test_hop_paths_table_recomputes_e_eff_from_the_bands(network_run):
    doc, rows = network_run["doc"], network_run["paths"]
    assert [r["from_layer"] for r in rows] == [1, 2, 3]
    assert rows[0]["E_eff_eV"] == 0.0 and rows[0]["path"] == []  # layer 1 is the interface here
    energy = {n["site"]: n["energy_eV"] for n in doc["nodes"]}
    bands = {e["label"]: e["neb"] for e in doc["edges"] if e["neb"]}
    for row, path in zip(rows[1:], doc["paths"][1:]):
        assert row["path"] == path["hops"] and row["T_K"] == 600
        sites = path["sites"]
        highest = []
        for label, a, b in zip(path["hops"], sites, sites[1:]):
            neb = bands[label]
            assert neb["converged"]
            # the band's initial state is the vacancy the O fills (to_site)
            edge = next(e for e in doc["edges"] if e["label"] == label)
            assert {edge["to_site"], edge["from_site"]} == {a, b}
            highest.append(energy[edge["to_site"]] + neb["Ea_forward_eV"])
        assert row["E_eff_eV"] == pytest.approx(max(highest) - energy[sites[0]], abs=1e-9)
        assert row["rate_per_s"] == pytest.approx(1e13 * np.exp(-row["E_eff_eV"] / (8.617333262e-5 * 600)))


def test_rerun_computes_no_band_and_the_verdict_gets_its_kinetic_half(network_run, tmp_path):
    computed, reused = map(int, re.search(r"(\d+) jobs computed, (\d+) reused", network_run["second"]).groups())
    assert reused >= 36 and computed <= 3  # the cell and the two jobs that enumerate sites and nodes
    store = connect(network_run["db"], create=False)
    # the rerun's network is a copy of the stored one, named after the job that computed it
    original, copy = sorted(network_run["docs"], key=lambda d: d.get("reused_from_job_id") is not None)
    assert copy["reused_from_job_id"] and copy["content_hash"] == original["content_hash"]
    assert copy["edges"] == original["edges"]
    copies = list(store.query({"output.reused_from_job_id": {"$ne": None}, "name": {"$regex": "^hop-network"}}))
    assert copies  # the vacancy relaxations came back from the store
    (verdict,) = network_run["verdict"]
    deep = [r for r in network_run["paths"] if r["from_layer"] in (2, 3)]  # the study's deep layers
    assert verdict["E_eff_eV"] == pytest.approx(min(r["E_eff_eV"] for r in deep))
    assert "E_eff" in verdict["reason"] and "barrier not computed" not in verdict["reason"]
    png = tmp_path / "path.svg"
    result = spillover("plot", "hop-path", "-o", str(png), "--db", str(network_run["db"]))
    assert result.returncode == 0, result.stderr
    assert b"<svg" in png.read_bytes()[:500] and png.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"


def test_ladder_recomputes_each_band_on_a_best_path_from_its_screen_band(network_run):
    doc, ladder = network_run["doc"], network_run["ladder"]
    on_paths = {label for p in doc["paths"] for label in p["hops"]}
    assert on_paths and {r["hop"] for r in ladder} == on_paths and len(ladder) == len(on_paths)
    store = connect(network_run["db"], create=False)
    (network_id,) = [d["uuid"] for d in store.query(
        {"output.doc_type": "hop-network", "output.reused_from_job_id": None}, properties=["uuid"])]
    screen = {e["label"]: e["neb"] for e in doc["edges"] if e["neb"]}
    for row in ladder:
        assert row["preset"] == "analytic-fine" and row["system"] == doc["system"] and row["converged"]
        assert row["job_ids"][1] == network_id  # the band that started it: the network's
        (stored,) = [d["output"] for d in store.query({"output.doc_type": "neb", "uuid": row["job_ids"][0]})]
        first = screen[row["hop"]]
        assert stored["initial_start_band"].startswith(f"band of job {network_id}")
        # it started from the screen band's images, and the stiffer Ti-O bond moved them
        assert not np.allclose(stored["image_positions_A"], first["image_positions_A"], atol=1e-4)
        assert not np.allclose(stored["energies_eV"], first["energies_eV"], atol=1e-6)
        assert stored.get("reused_from_job_id") is None  # the rerun's ladder returned copies of these
    copies = list(store.query({"output.doc_type": "neb", "output.reused_from_job_id": {"$ne": None}},
                              properties=["output.reused_from_job_id"]))
    assert {c["output"]["reused_from_job_id"] for c in copies} == {r["job_ids"][0] for r in ladder}


def test_plot_neb_opens_a_band_of_the_network_and_hop_path_takes_a_system(network_run, tmp_path):
    db, doc = str(network_run["db"]), network_run["doc"]
    store = connect(network_run["db"], create=False)
    (uuid,) = [d["uuid"] for d in store.query({"output.doc_type": "hop-network", "output.reused_from_job_id": None},
                                              properties=["uuid"])]
    label = next(e["label"] for e in doc["edges"] if e["neb"])
    out = tmp_path / "band.png"
    result = spillover("plot", "neb", uuid[:8], "-o", str(out), "--hop", label, "--db", db)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:4] == b"\x89PNG"
    missing = spillover("plot", "neb", uuid[:8], "-o", str(out), "--db", db)
    assert missing.returncode == 2 and "--hop" in missing.stderr and "hop network" in missing.stderr
    assert "Traceback" not in missing.stderr
    wrong = spillover("plot", "neb", uuid[:8], "-o", str(out), "--hop", "no such hop", "--db", db)
    assert wrong.returncode == 2 and "matches no labels" in wrong.stderr
    svg = tmp_path / "one.svg"
    one = spillover("plot", "hop-path", "-o", str(svg), "--system", doc["system"], "--db", db)
    assert one.returncode == 0, one.stderr
    none = spillover("plot", "hop-path", "-o", str(svg), "--system", "anatase-101/Ru-0001", "--db", db)
    assert none.returncode == 2 and "--system" in none.stderr


@pytest.mark.parametrize("change, field", [
    ({"n_images": 3}, "barriers.n_images"),
    ({"cutoff_A": 9.0}, "barriers.cutoff_A"),
    ({"systems": ["rutile-110/RuO2-110"]}, "barriers.systems"),
    ({"lazy": "sometimes"}, "barriers.lazy"),
])
def test_bad_barrier_settings_exit_2_and_write_nothing(tmp_path, change, field):
    data = yaml.safe_load(NETWORK_STUDY.read_text())
    data["barriers"] = {**data["barriers"], **change}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(data))
    db = tmp_path / "db"
    result = spillover("run", str(tmp_path / "s.yaml"), "--only", "barriers", "--db", str(db), cwd=tmp_path)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr and field in lines[0], result.stderr
    assert not db.exists()
