"""Oxidation energetics: site rules, bookkeeping, the whole chain through the CLI (analytic preset), bad input.

The chain's wiring runs at the ``analytic`` preset (Morse pairs, milliseconds per relaxation): every number of
the table is recomputed from the stored documents. The physics of the O2 reference runs at ``screen`` (CHGNet).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from ase import Atoms
from ase.thermochemistry import IdealGasThermo

from conftest import ROOT, db_snapshot, spillover
from spillover.analysis.oxidation import best_configurations, check_same_preset, survivor_calc
from spillover.build.oxidation import (
    MIN_DIST_BELOW, MIN_DIST_LATTICE_O,
    MIN_OO,
    SITE_DEPTH,
    available_sites,
    configurations,
    find_sites,
    full_layer,
)
from spillover.build.interfaces import make_interface
from spillover.errors import InputError
from spillover.jobs.o2 import molecule_overrides, o2_structure
from spillover.jobs.oxidation import oxidation_summary
from spillover.store import connect

OX_STUDY = ROOT / "tests" / "data" / "oxidation_study.yaml"
JSON_KEYS = {
    "support", "n_O", "gamma_interface_eV_per_A2", "gamma_surface_eV_per_A2", "delta_gamma_eV_per_A2", "area_A2",
    "preset", "job_ids",
}


def _small(support: str) -> Atoms:
    atoms, _ = make_interface(support, ["Ru-0001"], max_area=60, max_strain_percent=8, support_layers=2,
                              film_layers=[2], vacuum=5.0, fixed_layers=1)
    return atoms


@pytest.fixture(scope="module")
def rutile_host() -> Atoms:
    return _small("rutile-110")


# -- site rules ----------------------------------------------------------------------------------


def test_surface_and_interface_sites_follow_the_documented_rule(rutile_host):
    host = rutile_host
    part, layer, z = host.arrays["part"], host.arrays["layer"], host.positions[:, 2]
    film = part == 1
    n_ru = full_layer(host)
    assert n_ru == int((film & (layer == 2)).sum()) == int((film & (layer == 1)).sum())

    surf = find_sites(host, "surface")
    assert len(surf) == 2 * n_ru  # fcc + hcp hollows of the top layer (AdsorbateSiteFinder)
    assert surf.kinds.count("fcc") == surf.kinds.count("hcp") == n_ru
    assert np.allclose(surf.positions[:, 2], z[film & (layer == 1)].mean() + SITE_DEPTH, atol=0.05)

    inter = find_sites(host, "interface")
    hollow = np.array([k != "lattice" for k in inter.kinds])
    assert 0 < hollow.sum() <= 2 * n_ru and inter.lift_A >= 0 and (~hollow).sum() > 0
    z_contact = z[film & (layer == 2)].mean() + inter.lift_A
    z_support = z[part == 0].max()
    assert np.allclose(inter.positions[hollow, 2], z_contact - SITE_DEPTH)  # hollows: under the lifted contact layer
    assert np.all(inter.positions[hollow, 2] > z_support)  # between the support's top layer and the first Ru layer
    below = host.positions[part == 0]
    is_o = np.array(host.get_chemical_symbols())[part == 0] == "O"
    for pos in inter.positions:
        d = below - pos
        frac = np.linalg.solve(host.cell[:].T, d.T).T
        frac[:, :2] -= np.round(frac[:, :2])
        dist = np.linalg.norm(frac @ host.cell[:], axis=1)
        assert dist[~is_o].min() >= MIN_DIST_BELOW - 1e-9 and dist[is_o].min() >= MIN_DIST_LATTICE_O - 1e-9


def test_configurations_mark_added_oxygen_and_keep_constraints(rutile_host):
    host = rutile_host
    fixed = sorted(host.constraints[0].index.tolist())
    for placement in ("interface", "surface"):
        confs = configurations(host, placement, 2, 3)
        assert 1 <= len(confs) <= 3
        assert len({tuple(c.site_indices) for c in confs}) == len(confs)
        for c in confs:
            atoms = c.atoms
            assert len(atoms) == len(host) + 2
            added = atoms.arrays["added_O"] == 1
            assert added.sum() == 2 and np.all(atoms.arrays["part"][added] == -1)
            assert set(atoms[added].get_chemical_symbols()) == {"O"}
            assert sorted(atoms.constraints[0].index.tolist()) == fixed
            d = atoms.get_distance(*np.flatnonzero(added), mic=True)
            assert d >= MIN_OO


def test_symmetry_reduction_and_site_limits():
    host = _small("anatase-101")  # this cell keeps a mirror plane (Cm)
    sites = find_sites(host, "surface")
    assert len(sites.permutations) == 2
    distinct = configurations(host, "surface", 1, 100, sites=sites)
    assert len(distinct) == distinct[0].n_distinct < len(sites)
    reps = [c.site_indices[0] for c in distinct]
    for p in sites.permutations:  # no two representatives are images of each other
        assert all(int(p[a]) not in reps for a in reps if int(p[a]) != a)
    with pytest.raises(InputError) as err:
        configurations(host, "surface", len(sites) + 1, 1, sites=sites)
    assert err.value.field == "n_O"
    avail = available_sites(host)
    assert avail["surface"] == avail["full_layer"] == full_layer(host)
    assert 0 < avail["interface"] <= avail["full_layer"]


# -- bookkeeping ---------------------------------------------------------------------------------


def _funnel(energies: list[float], converged: list[bool], kinds: list[str]) -> dict:
    """A funnel document as the summary receives it: final relaxations lowest first, converged before not."""
    order = sorted(range(len(energies)), key=lambda i: (not converged[i], energies[i]))
    ok = [i for i in order if converged[i]]
    return {
        "survivor": ok[0] if ok else None, "n_unconverged": sum(not c for c in converged),
        "survivors": [{"energy_eV": energies[i], "converged": converged[i], "preset": "screen"} for i in order],
        "candidates": [{"info": {"config_index": i, "site_indices": [i], "site_kinds": [kinds[i]]}}
                       for i in range(len(energies))],
    }


def test_survivor_is_the_lowest_converged_and_unconverged_or_failed_funnels_are_listed_not_used():
    entries = [
        {"placement": "interface", "n_O": 1, "job_id": "a", "n_candidates": 5},
        {"placement": "interface", "n_O": 2, "job_id": "b", "n_candidates": 9},
        {"placement": "surface", "n_O": 1, "job_id": "c", "n_candidates": 4},
        {"placement": "surface", "n_O": 2, "job_id": "d", "n_candidates": 7},
    ]
    results = [
        # the lower relaxation did not converge: the survivor is the lowest converged one
        _funnel([-105.0, -106.5, -106.0], [True, False, True], ["fcc", "hcp", "lattice"]),
        _funnel([-112.0, -111.0], [False, False], ["fcc", "hcp"]),  # none converged: excluded
        None,  # the funnel job failed: no stored output
        _funnel([-113.0], [True], ["hcp"]),
    ]
    clean = {"job_id": "clean", "energy_eV": -100.0, "preset": "screen", "area_A2": 50.0}
    o2 = {"job_id": "o2", "energy_eV": -10.0, "preset": "screen", "bond_A": 1.21}
    settings = {"use_o2_correction": False, "compute_o2_frequency": False, "temperatures_K": [300.0],
                "pressures_bar": [1.0]}
    doc = oxidation_summary.original("rutile-110/Ru-0001", "rutile-110", ["Ru-0001"], "screen", clean, o2, None, None,
                                     None, None, entries, results, settings, "gen")
    assert doc.failed_job_ids == ["c"]
    assert [c.status for c in doc.configurations] == ["ok", "not converged", "failed", "ok"]
    assert [c.n_unconverged for c in doc.configurations] == [1, 2, 0, 0]
    first = doc.configurations[0]
    assert first.energy_eV == -106.0 and first.site_kinds == ["lattice"] and first.config_index == 2
    best = {(b.placement, b.n_O): b for b in doc.best}
    assert set(best) == {("interface", 1), ("surface", 2)}  # nothing unconverged or failed enters
    # dE = E - E(clean) - n/2 E(O2) = -106 + 100 + 5 and -113 + 100 + 10
    assert best[("interface", 1)].dE_eV == pytest.approx(-1.0)
    assert best[("surface", 2)].dmu_zero_eV == pytest.approx(-1.5)
    assert doc.o2_reference == "raw" and doc.o2_frequency_source == "experimental"
    (point,) = [g for g in doc.gamma_grid if g.placement == "interface"]
    assert point.gamma_eV_per_A2 == pytest.approx((-1.0 - point.dmu_O_eV) / 50.0)


def test_presets_are_never_mixed():
    with pytest.raises(InputError) as err:
        check_same_preset([{"preset": "screen"}, {"preset": "gpaw-test"}])
    assert err.value.field == "preset"
    a = {"preset": "screen", "preset_resolved": {"name": "screen", "calculator": "chgnet", "chgnet": {"model_name": "0.3.0"}}}
    b = {"preset": "screen", "preset_resolved": {"name": "screen", "calculator": "chgnet", "chgnet": {"model_name": "0.2.0"}}}
    with pytest.raises(InputError, match="different settings"):
        check_same_preset([a, b])
    relax_only = {**a, "preset_resolved": {**a["preset_resolved"], "relax": {"steps": 3}}}
    assert check_same_preset([a, relax_only]) == "screen"
    assert best_configurations([], -1.0, -2.0) == []


def test_o2_molecule_is_a_spin_polarised_triplet_start_at_one_preset():
    from spillover.calculators import calculator_parameters, load_preset

    structure = o2_structure(12.0)
    assert structure.site_properties["magmom"] == [1.0, 1.0]
    assert structure.get_distance(0, 1) == pytest.approx(1.2075)
    assert molecule_overrides("screen", {}) == {}  # CHGNet has no spin
    mol = molecule_overrides("gpaw-test", {"gpaw": {"mode": {"ecut": 400}}})
    params = calculator_parameters(load_preset("gpaw-test", mol))
    assert params["spinpol"] is True and params["kpts"] == [1, 1, 1] and params["mode"]["ecut"] == 400
    # the molecule's own spin and k-point settings do not count as a different preset; a cutoff does
    slab = load_preset("gpaw-test", {"gpaw": {"mode": {"ecut": 400}}}).model_dump()
    docs = [{"preset": "gpaw-test", "preset_resolved": load_preset("gpaw-test", mol).model_dump()},
            {"preset": "gpaw-test", "preset_resolved": slab}]
    assert check_same_preset(docs) == "gpaw-test"
    with pytest.raises(InputError):
        check_same_preset([*docs, {"preset": "gpaw-test", "preset_resolved": load_preset("gpaw-test").model_dump()}])


@pytest.mark.chgnet
def test_o2_reference_at_screen_is_a_bound_molecule_with_a_real_stretch():
    from spillover.jobs.o2 import o2_vibrations
    from spillover.jobs.relax import RelaxMaker

    o2 = RelaxMaker(preset="screen").compute(o2_structure(12.0), label="O2", kind="molecule")
    assert o2.converged and o2.relax_cell is False
    vib = o2_vibrations.original(o2.model_dump(), "o2", "screen", {})
    assert vib.is_real and 1000 < vib.frequency_cm < 2000 and 1.1 < vib.bond_A < 1.35


# -- the chain through the CLI, at the analytic preset ------------------------------------------------


@pytest.fixture(scope="session")
def ox_run(tmp_path_factory) -> dict:
    """Run the oxidation part of the small study at the analytic preset into a fresh database, once per session."""
    work = tmp_path_factory.mktemp("ox_run")
    db = work / "db"
    result = spillover("run", str(OX_STUDY), "--only", "oxidation", "--preset", "analytic", "--db", str(db),
                       "--scratch", str(work / "scratch"), cwd=work)
    assert result.returncode == 0, result.stderr[-3000:]
    table = spillover("table", "oxidation", "--db", str(db), "--format", "json")
    assert table.returncode == 0, table.stderr
    return {"db": db, "work": work, "stdout": result.stdout, "rows": json.loads(table.stdout)}


def _out(store, uuid: str) -> dict:
    return store.query_one({"uuid": uuid}, properties=["output"])["output"]


def test_chain_yields_rows_for_both_supports(ox_run):
    rows = ox_run["rows"]
    assert {r["support"] for r in rows} == {"rutile-110", "anatase-101"}
    assert sorted((r["support"], r["n_O"]) for r in rows) == [
        ("anatase-101", 1), ("anatase-101", 2), ("rutile-110", 1), ("rutile-110", 2),
    ]
    for r in rows:
        assert JSON_KEYS <= set(r)
        assert r["preset"] == "analytic" and r["o2_reference"] == "corrected"
        assert r["delta_gamma_eV_per_A2"] == pytest.approx(r["gamma_interface_eV_per_A2"] - r["gamma_surface_eV_per_A2"])
        assert r["gamma_interface_J_per_m2"] == pytest.approx(16.0218 * r["gamma_interface_eV_per_A2"], rel=1e-5)
        assert 50 < r["area_A2"] < 65
    assert "Oxidation energetics" in ox_run["stdout"] and "| anatase-101 |" in ox_run["stdout"]


def test_every_gamma_equals_a_recomputation_from_stored_documents(ox_run):
    store = connect(ox_run["db"], create=False)
    for row in ox_run["rows"]:
        ids = row["job_ids"]
        clean, o2 = _out(store, ids["clean"]), _out(store, ids["o2"])
        shift = _out(store, ids["o2_correction"])["shift_eV_per_O"]
        vib = _out(store, ids["o2_vibration"])
        assert vib["o2_job_id"] == ids["o2"]
        gas = IdealGasThermo([vib["frequency_eV"]], "linear", atoms=Atoms("O2", [[0, 0, 0], [0, 0, vib["bond_A"]]]),
                             symmetrynumber=2, spin=1)
        dmu = 0.5 * (gas.get_gibbs_energy(300.0, 1e5, verbose=False) - gas.get_ZPE_correction())
        mu_o = 0.5 * o2["energy_eV"] + shift + dmu
        m = np.array(clean["structure"]["lattice"]["matrix"])
        area = float(np.linalg.norm(np.cross(m[0], m[1])))
        assert row["area_A2"] == pytest.approx(area)
        gammas = {}
        for placement in ("interface", "surface"):
            funnel = _out(store, ids[placement])
            conf = survivor_calc(funnel)
            assert funnel["doc_type"] == "funnel" and conf["converged"]
            assert conf["preset"] == clean["preset"] == o2["preset"] == "analytic"
            n = sum(1 for p in conf["part"] if p == -1)
            assert n == row["n_O"] and conf["metadata"]["oxidation"]["placement"] == placement
            gammas[placement] = (conf["energy_eV"] - clean["energy_eV"] - n * mu_o) / area
            assert row[f"gamma_{placement}_eV_per_A2"] == pytest.approx(gammas[placement], rel=1e-9, abs=1e-12)
        assert row["delta_gamma_eV_per_A2"] == pytest.approx(gammas["interface"] - gammas["surface"], abs=1e-12)


def test_lowest_configuration_is_kept_and_all_stay_in_the_database(ox_run):
    store = connect(ox_run["db"], create=False)
    for row in ox_run["rows"]:
        summary = _out(store, row["job_ids"]["summary"])
        assert summary["doc_type"] == "oxidation" and not summary["failed_job_ids"]
        for placement in ("interface", "surface"):
            same = [c for c in summary["configurations"] if c["placement"] == placement and c["n_O"] == row["n_O"]]
            assert len(same) == 1  # one funnel per placement and n, over every distinct configuration
            funnel = _out(store, same[0]["job_id"])
            assert row["job_ids"][placement] == same[0]["job_id"]
            assert len(funnel["candidates"]) == same[0]["n_candidates"] == row["n_candidates"][placement] > 1
            # the survivor is the lowest converged final relaxation, and every stage is stored
            finals = [c["final_eV"] for c in funnel["candidates"] if c["final_converged"]]
            assert funnel["survivors"][0]["energy_eV"] == min(finals)
            assert [s["name"] for s in funnel["stages"]] == ["single point", "loose", "final"]
            assert all(c["single_point_eV"] is not None for c in funnel["candidates"])
    gens = list(store.query({"output.doc_type": "oxidation-configurations"}, properties=["output"]))
    assert len(gens) == 2
    for gen in gens:
        out = gen["output"]
        assert out["n_values"] == [1, 2] and out["capacity"]["interface"] >= 2
        assert all(store.query_one({"uuid": c["job_id"]}) for c in out["configurations"])


def test_o2_correction_is_fitted_from_stored_bulks(ox_run):
    store = connect(ox_run["db"], create=False)
    result = spillover("table", "o2-reference", "--db", str(ox_run["db"]), "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert {r["name"] for r in rows} == {"rutile", "anatase", "RuO2"}
    num = den = 0.0
    for r in rows:
        oxide, metal = _out(store, r["oxide_job_id"]), _out(store, r["metal_job_id"])
        o2 = _out(store, _out(store, r["job_id"])["o2_job_id"])
        raw = oxide["energy_eV"] / (oxide["natoms"] / 3) - metal["energy_per_atom_eV"] - o2["energy_eV"]
        assert r["dHf_raw_eV"] == pytest.approx(raw)
        num, den = num + 2 * (raw - r["dHf_exp_eV"]), den + 4
    assert rows[0]["shift_eV_per_O"] == pytest.approx(num / den)
    assert any(abs(r["dHf_corrected_eV"] - r["dHf_raw_eV"]) > 0.05 for r in rows)  # the correction is visible


def test_o2_correction_fitted_on_ruo2_alone_reports_the_others_residuals(ox_run):
    from spillover.jobs.o2 import o2_correction

    store = connect(ox_run["db"], create=False)
    rows = json.loads(spillover("table", "o2-reference", "--db", str(ox_run["db"]), "--format", "json").stdout)
    assert all(r["fitted"] and r["residual_eV"] == pytest.approx(r["dHf_corrected_eV"] - r["dHf_exp_eV"])
               for r in rows)
    bulks, ids = {}, {}
    for r in rows:
        for name, key in ((r["name"], "oxide_job_id"), (r["metal"], "metal_job_id")):
            bulks[name], ids[name] = _out(store, r[key]), r[key]
    o2_id = _out(store, rows[0]["job_id"])["o2_job_id"]
    doc = o2_correction.original(bulks, ids, _out(store, o2_id), o2_id, rows[0]["preset"], fit_on=["RuO2"])
    entry = {e.name: e for e in doc.entries}
    assert doc.fitted_on == ["RuO2"] and set(entry) == {"rutile", "anatase", "RuO2"}
    assert entry["RuO2"].fitted and entry["RuO2"].residual_eV == pytest.approx(0.0, abs=1e-9)  # one oxide: exact
    ruo2 = next(r for r in rows if r["name"] == "RuO2")
    assert doc.shift_eV_per_O == pytest.approx((ruo2["dHf_raw_eV"] - ruo2["dHf_exp_eV"]) / 2)
    for name in ("rutile", "anatase"):
        e = entry[name]
        assert not e.fitted and e.residual_eV == pytest.approx(e.dHf_raw_eV - 2 * doc.shift_eV_per_O - e.dHf_exp_eV)


def test_table_at_other_conditions_and_formats(ox_run):
    db = str(ox_run["db"])
    hot = json.loads(spillover("table", "oxidation", "--db", db, "--format", "json", "--T", "900", "--p", "1e-5").stdout)
    raw = json.loads(spillover("table", "oxidation", "--db", db, "--format", "json", "--reference", "raw").stdout)
    for base, h, r in zip(ox_run["rows"], hot, raw):
        ddmu = h["dmu_O_eV"] - base["dmu_O_eV"]
        assert ddmu < -0.5
        assert h["gamma_surface_eV_per_A2"] - base["gamma_surface_eV_per_A2"] == pytest.approx(-base["n_O"] * ddmu / base["area_A2"])
        assert h["delta_gamma_eV_per_A2"] == pytest.approx(base["delta_gamma_eV_per_A2"])  # same n: no dmu dependence
        assert r["o2_reference"] == "raw" and r["job_ids"]["o2_correction"] is None
        assert r["gamma_interface_eV_per_A2"] - base["gamma_interface_eV_per_A2"] == pytest.approx(
            base["n_O"] * base["o2_shift_eV_per_O"] / base["area_A2"])
    md = spillover("table", "oxidation", "--db", db)
    assert md.returncode == 0 and "onset Δμ_O (eV)" in md.stdout and "| rutile-110" in md.stdout
    for fmt, marker in (("csv", "support,n O"), ("latex", r"\begin{tabular}")):
        out = spillover("table", "oxidation", "--db", db, "--format", fmt)
        assert out.returncode == 0 and marker in out.stdout


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_plot(ox_run, tmp_path, suffix):
    out = tmp_path / f"gamma{suffix}"
    result = spillover("plot", "oxidation", "--db", str(ox_run["db"]), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size > 10_000


# -- bad input: one line, exit 2, nothing written --------------------------------------------------


def _assert_clean_error(result, field: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr and field in lines[0], result.stderr
    assert result.stdout == ""


def _study(tmp_path, **oxidation) -> str:
    data = yaml.safe_load(OX_STUDY.read_text())
    data["oxidation"].update(oxidation)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"systems": ["brookite-101"]}, "oxidation.systems"),
        ({"systems": ["rutile-110/RuO2-110/Ru-0001"]}, "oxidation.systems[0]"),
        ({"n_max": 40}, "oxidation.n_max"),
        ({"n_max": 0}, "oxidation.n_max"),
        ({"temperatures_K": [300, 0]}, "oxidation.temperatures_K[1]"),
        ({"pressures_bar": [-1.0]}, "oxidation.pressures_bar[0]"),
    ],
)
def test_bad_study_writes_nothing(tmp_path, change, field):
    db = tmp_path / "db"
    result = spillover("run", _study(tmp_path, **change), "--only", "oxidation", "--db", str(db), cwd=tmp_path)
    _assert_clean_error(result, field)
    assert not db.exists() and not (tmp_path / "spillover-scratch").exists()


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["table", "oxidation", "--T", "0"], "--temperature"),
        (["table", "oxidation", "--T", "-50"], "--temperature"),
        (["table", "oxidation", "--p", "0"], "--pressure"),
        (["table", "oxidation", "--p", "-1e-3"], "--pressure"),
        (["table", "oxidation", "--support", "brookite-101"], "--support"),
        (["table", "oxidation", "--format", "xml"], "--format"),
        (["table", "oxidation", "--reference", "magic"], "--reference"),
        (["plot", "oxidation", "-o", "gamma.txt"], "--output"),
    ],
)
def test_bad_table_and_plot_options(tmp_path, argv, field):
    db = tmp_path / "db"
    connect(db)  # an empty database: the option is refused before it is read
    before = db_snapshot(db)
    _assert_clean_error(spillover(*argv, "--db", str(db), cwd=tmp_path), field)
    assert db_snapshot(db) == before and not (tmp_path / "gamma.txt").exists()


def test_table_from_database_without_oxidation_results(tmp_path):
    db = tmp_path / "db"
    connect(db)
    for argv in (["table", "oxidation"], ["table", "o2-reference"], ["plot", "oxidation", "-o", str(tmp_path / "g.png")]):
        _assert_clean_error(spillover(*argv, "--db", str(db)), "--db")
    _assert_clean_error(spillover("table", "oxidation", "--db", str(tmp_path / "none")), "db")
    assert not (tmp_path / "none").exists() and not (tmp_path / "g.png").exists()
