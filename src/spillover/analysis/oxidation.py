"""Table 2 of the paper: oxidation energy per area, interfacial versus surface O, from stored documents.

``gamma(c) = [E(c) - E(clean) - n mu_O] / A`` with ``mu_O = 1/2 E(O2) + delta + dmu_O(T, p)``
(:mod:`spillover.analysis.thermo`); ``dgamma = gamma(interface) - gamma(surface)`` at the same n,
negative when oxidation starts at the buried interface. As both placements hold the same n,
dgamma does not depend on dmu_O; each gamma crosses zero at ``dmu_O = dE / n``, and a placement
becomes favourable against the clean interface at the lowest such crossing over n (its onset).

Every number of :func:`oxidation_rows` is recomputed from the calculation documents fetched from the
store by the uuids that the oxidation summary lists; documents of different presets (or of one
preset with different energy settings) are refused.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np

from spillover.analysis.query import newest_documents
from spillover.analysis.tables import Column
from spillover.analysis.thermo import (
    EV_PER_A2_IN_J_PER_M2,
    O2_EXP_BOND_A,
    O2_EXP_FREQUENCY_EV,
    delta_mu_o,
    oxidation_energy,
    temperature_at,
    zero_crossing,
)
from spillover.errors import InputError

PLACEMENTS = ("interface", "surface")
REFERENCES = ("stored", "raw", "corrected")
# Preset keys that do not change an energy (how a structure is relaxed or a band run, words), and GPAW keys
# that the isolated O2 molecule sets for itself (spin polarisation, Gamma point).
_NOT_ENERGY = ("name", "description", "relax", "neb")
_MOLECULE_GPAW_KEYS = ("spinpol", "kpts", "txt")


class _IdsColumn(Column):
    """Short job ids of the clean model and of the best interfacial and surface configurations."""

    def text(self, row: dict[str, Any]) -> str:
        ids = row.get("job_ids", {})
        return " ".join(f"{ids[k][:8]}" if ids.get(k) else "-" for k in ("clean", "interface", "surface"))


class _CandidatesColumn(Column):
    """Symmetry-distinct configurations screened at the interface and at the surface."""

    def text(self, row: dict[str, Any]) -> str:
        n = row.get("n_candidates", {})
        return f"{n.get('interface', 0)}/{n.get('surface', 0)}"


COLUMNS = [
    Column("support", "support"),
    Column("n_O", "n O"),
    Column("gamma_interface_eV_per_A2", "γ interface (eV/Å²)", "{:+.4f}"),
    Column("gamma_surface_eV_per_A2", "γ surface (eV/Å²)", "{:+.4f}"),
    Column("delta_gamma_eV_per_A2", "Δγ (eV/Å²)", "{:+.4f}"),
    Column("gamma_interface_J_per_m2", "γ interface (J/m²)", "{:+.3f}"),
    Column("gamma_surface_J_per_m2", "γ surface (J/m²)", "{:+.3f}"),
    Column("delta_gamma_J_per_m2", "Δγ (J/m²)", "{:+.3f}"),
    Column("area_A2", "area (Å²)", "{:.2f}"),
    Column("o2_reference", "O ref"),
    Column("preset", "preset"),
    _CandidatesColumn("n_candidates", "configs (i/s)"),
    Column("n_excluded", "excluded (not conv.)"),
    _IdsColumn("job_ids", "job ids (clean interface surface)"),
]

ONSET_COLUMNS = [
    Column("support", "support"),
    Column("placement", "placement"),
    Column("onset_dmu_O_eV", "onset Δμ_O (eV)", "{:+.3f}"),
    Column("n_O", "first n O"),
    Column("onset_T_K_at_1bar", "T at 1 bar (K)", "{:.0f}"),
    Column("o2_reference", "O ref"),
    Column("preset", "preset"),
]

O2_COLUMNS = [
    Column("name", "bulk"),
    Column("formula", "formula"),
    Column("dHf_raw_eV", "ΔHf raw (eV/f.u.)", "{:+.3f}"),
    Column("dHf_corrected_eV", "ΔHf corrected (eV/f.u.)", "{:+.3f}"),
    Column("dHf_exp_eV", "ΔHf exp (eV/f.u.)", "{:+.3f}"),
    Column("residual_eV", "residual (eV/f.u.)", "{:+.3f}"),
    Column("fitted", "fitted"),
    Column("shift_eV_per_O", "shift (eV/O)", "{:+.3f}"),
    Column("e_o2_eV", "E(O2) (eV)", "{:.4f}"),
    Column("preset", "preset"),
    Column("job_id", "job id", "{:.8}"),
]


# -- presets -------------------------------------------------------------------------------------


def energy_settings(preset_resolved: dict) -> dict:
    """The part of a resolved preset that changes energies (molecule-only GPAW keys dropped)."""
    out = {k: v for k, v in copy.deepcopy(preset_resolved).items() if k not in _NOT_ENERGY}
    for key in _MOLECULE_GPAW_KEYS:
        out.get("gpaw", {}).pop(key, None)
    return out


def check_same_preset(docs: list[dict]) -> str:
    """The one preset of ``docs``; :class:`InputError` if they mix presets or energy settings.

    Parameters
    ----------
    docs
        Documents with a ``preset`` name and, where known, ``preset_resolved``.
    """
    names = sorted({d["preset"] for d in docs if d.get("preset")})
    if len(names) != 1:
        raise InputError("preset", f"refusing to combine energies of presets {', '.join(names) or '(none)'}",
                         "documents of one preset")
    settings = [energy_settings(d["preset_resolved"]) for d in docs if d.get("preset_resolved")]
    if any(s != settings[0] for s in settings[1:]):
        raise InputError("preset", f"documents of preset {names[0]} were computed with different settings "
                         "(preset_overrides); refusing to combine them", "one set of preset overrides")
    return names[0]


# -- pure functions of energies ------------------------------------------------------------------


def best_configurations(configs: list[dict], e_clean: float, e_o2: float, shift: float = 0.0) -> list[dict]:
    """Lowest-energy configuration per placement and n, with dE (dmu_O = 0) and its zero crossing.

    Parameters
    ----------
    configs
        Entries with ``placement``, ``n_O``, ``job_id`` and ``energy_eV`` (failed ones left out).
    e_clean, e_o2
        E(clean) and E(O2) (eV).
    shift
        O2 correction per O atom (eV).
    """
    best: dict[tuple[str, int], dict] = {}
    for c in configs:
        if c.get("energy_eV") is None:
            continue
        key = (c["placement"], int(c["n_O"]))
        if key not in best or c["energy_eV"] < best[key]["energy_eV"]:
            best[key] = c
    out = []
    for (placement, n), c in sorted(best.items()):
        out.append({
            "placement": placement, "n_O": n, "job_id": c["job_id"], "energy_eV": float(c["energy_eV"]),
            "converged": c.get("converged"),
            "dE_eV": oxidation_energy(c["energy_eV"], e_clean, n, e_o2, shift),
            "dmu_zero_eV": zero_crossing(c["energy_eV"], e_clean, n, e_o2, shift),
        })
    return out


def gamma_at(best: dict, area_A2: float, dmu_O: float) -> float:
    """gamma of a best entry (with its dE) at dmu_O: (dE - n dmu_O) / A."""
    return (best["dE_eV"] - best["n_O"] * dmu_O) / area_A2


def gamma_grid(best: list[dict], area_A2: float, temperatures_K: list[float], pressures_bar: list[float],
               thermo: dict) -> list[dict]:
    """gamma of every best entry on a (T, p) grid."""
    out = []
    for T in temperatures_K:
        for p in pressures_bar:
            dmu = delta_mu_o(T, p, thermo["frequency_eV"], thermo["bond_A"])
            for b in best:
                out.append({"T_K": float(T), "p_bar": float(p), "dmu_O_eV": dmu, "placement": b["placement"],
                            "n_O": b["n_O"], "gamma_eV_per_A2": gamma_at(b, area_A2, dmu)})
    return out


def onsets(best: list[dict], thermo: dict) -> list[dict]:
    """Per placement: the lowest dmu_O at which some n has gamma < 0, that n, and T at 1 bar."""
    out = []
    for placement in PLACEMENTS:
        entries = [b for b in best if b["placement"] == placement]
        if not entries:
            out.append({"placement": placement, "dmu_O_eV": None, "n_O": None, "T_K_at_1bar": None})
            continue
        first = min(entries, key=lambda b: (b["dmu_zero_eV"], b["n_O"]))
        dmu = first["dmu_zero_eV"]
        T = temperature_at(dmu, 1.0, thermo["frequency_eV"], thermo["bond_A"]) if dmu < 0 else None
        out.append({"placement": placement, "dmu_O_eV": dmu, "n_O": first["n_O"], "T_K_at_1bar": T})
    return out


# -- documents -----------------------------------------------------------------------------------


def fetch_output(store: Any, uuid: str) -> dict:
    """The output document of the job ``uuid`` (newest index); :class:`InputError` if absent."""
    doc = store.query_one({"uuid": uuid}, properties=["output"], sort={"index": -1})
    if doc is None or doc.get("output") is None:
        raise InputError("--db", f"job {uuid} named by an oxidation summary is not in the database")
    return doc["output"]


def origin(output: dict, uuid: str) -> str:
    """The job that computed ``output``: the stored original of a reused result, else ``uuid`` itself."""
    return output.get("reused_from_job_id") or uuid


def survivor_calc(output: dict) -> dict | None:
    """The calculation a result stands on: a funnel's lowest converged relaxation (None: none converged)."""
    if output.get("doc_type") != "funnel":
        return output if output.get("converged") else None
    return output["survivors"][0] if output.get("survivor") is not None else None


def _area(calc: dict) -> float:
    from spillover.schemas import as_structure

    m = as_structure(calc["structure"]).lattice.matrix
    return float(np.linalg.norm(np.cross(m[0], m[1])))


def summaries(store: Any, preset: str | None = None, support: str | None = None,
              run_id: str | None = None) -> list[tuple[str, dict]]:
    """The newest oxidation summary per interface and preset, as (job uuid, output) pairs."""
    docs = newest_documents(store, "oxidation", lambda o: (o["label"], o["preset"]), preset, run_id,
                            filters={"support": support})
    return sorted(((d["uuid"], d["output"]) for d in docs), key=lambda t: (t[1]["support"], t[1]["preset"]))


def recompute(store: Any, summary_id: str, summary: dict, reference: str = "stored") -> dict:
    """Everything a table row needs, from the documents the summary names (fetched by uuid).

    Parameters
    ----------
    store
        A connected JobStore.
    summary_id, summary
        uuid and output of an oxidation summary job.
    reference
        ``stored`` (the study's choice), ``raw`` or ``corrected`` O reference.

    Returns
    -------
    dict
        label, support, preset, area, energies, shift, thermo, best entries, onsets and job ids.
    """
    if reference not in REFERENCES:
        raise InputError("--reference", f"unknown value {reference!r}", ", ".join(REFERENCES))
    clean = fetch_output(store, summary["clean_job_id"])
    o2 = fetch_output(store, summary["o2_job_id"])
    configs, excluded, entries = [], [], {}
    for entry in summary["configurations"]:
        entries[(entry["placement"], int(entry["n_O"]))] = entry
        if entry["status"] == "failed":
            continue
        funnel = fetch_output(store, entry["job_id"])
        calc = survivor_calc(funnel)
        excluded += [origin(funnel, entry["job_id"])] * int(entry.get("n_unconverged", 0))
        if calc is None:  # no final relaxation of this funnel converged
            continue
        configs.append({**entry, "job_id": origin(funnel, entry["job_id"]),
                        "energy_eV": calc["energy_eV"], "converged": calc["converged"],
                        "preset": calc["preset"], "preset_resolved": calc["preset_resolved"]})
    preset = check_same_preset([clean, o2, *configs])
    use_corrected = summary["o2_reference"] == "corrected" if reference == "stored" else reference == "corrected"
    shift, corr_id = 0.0, None
    if use_corrected:
        corr_id = summary.get("o2_correction_job_id")
        if not corr_id:
            raise InputError("--reference", f"no O2 correction stored for {summary['label']} ({preset})", "raw, stored")
        corr = fetch_output(store, corr_id)
        if corr["preset"] != preset:
            raise InputError("preset", f"O2 correction of preset {corr['preset']} cannot be combined with {preset}")
        shift = float(corr["shift_eV_per_O"])
    thermo = {"frequency_eV": O2_EXP_FREQUENCY_EV, "bond_A": O2_EXP_BOND_A}
    vib_id = summary.get("o2_vibration_job_id")
    if vib_id:
        vib = fetch_output(store, vib_id)
        thermo = {"frequency_eV": float(vib["frequency_eV"]), "bond_A": float(vib["bond_A"])}
    best = best_configurations(configs, clean["energy_eV"], o2["energy_eV"], shift)
    return {
        "label": summary["label"], "support": summary["support"], "preset": preset, "area_A2": _area(clean),
        "e_clean_eV": clean["energy_eV"], "e_o2_eV": o2["energy_eV"], "shift_eV_per_O": shift,
        "o2_reference": "corrected" if use_corrected else "raw", "thermo": thermo, "best": best,
        "onsets": onsets(best, thermo), "n_values": summary["n_values"], "clean_converged": clean["converged"],
        "job_ids": {"summary": summary_id, "clean": origin(clean, summary["clean_job_id"]),
                    "o2": origin(o2, summary["o2_job_id"]),
                    "o2_correction": corr_id, "o2_vibration": vib_id},
        "failed_job_ids": summary.get("failed_job_ids", []),
        "n_excluded": len(excluded), "excluded_job_ids": sorted(set(excluded)), "entries": entries,
    }


def _results(store: Any, preset: str | None, support: str | None, reference: str, run_id: str | None) -> list[dict]:
    return [recompute(store, uid, out, reference) for uid, out in summaries(store, preset, support, run_id)]


def oxidation_rows(
    store: Any, T: float = 300.0, p_bar: float = 1.0, preset: str | None = None, support: str | None = None,
    reference: str = "stored", run_id: str | None = None,
) -> list[dict[str, Any]]:
    """Rows of the oxidation table: one per interface and n, at dmu_O(T, p).

    Parameters
    ----------
    store
        A connected JobStore.
    T, p_bar
        Temperature (K) and O2 pressure (bar) that set dmu_O.
    preset, support, run_id
        Only summaries of this preset, support (e.g. ``rutile-110``) or ``spillover run``.
    reference
        ``stored``, ``raw`` or ``corrected`` O reference.

    Returns
    -------
    list of dict
        Keys ``support``, ``n_O``, ``gamma_interface_eV_per_A2``, ``gamma_surface_eV_per_A2``,
        ``delta_gamma_eV_per_A2`` (and the same in J/m²), ``area_A2``, ``preset``, ``job_ids``
        and the energies and reference behind them. A placement whose relaxations all failed
        gives None.
    """
    rows = []
    for res in _results(store, preset, support, reference, run_id):
        dmu = delta_mu_o(T, p_bar, res["thermo"]["frequency_eV"], res["thermo"]["bond_A"])
        # only converged relaxations give numbers: an unconverged clean cell voids its system's rows
        best = {(b["placement"], b["n_O"]): b for b in res["best"]} if res["clean_converged"] else {}
        for n in res["n_values"]:
            here = [res["entries"].get((pl, n), {}) for pl in PLACEMENTS]
            g = {pl: gamma_at(best[(pl, n)], res["area_A2"], dmu) if (pl, n) in best else None for pl in PLACEMENTS}
            dg = None if None in g.values() else g["interface"] - g["surface"]
            rows.append({
                "support": res["support"], "interface": res["label"], "n_O": n,
                "gamma_interface_eV_per_A2": g["interface"], "gamma_surface_eV_per_A2": g["surface"],
                "delta_gamma_eV_per_A2": dg,
                "gamma_interface_J_per_m2": _si(g["interface"]), "gamma_surface_J_per_m2": _si(g["surface"]),
                "delta_gamma_J_per_m2": _si(dg),
                "n_candidates": {pl: int(e.get("n_candidates", 0)) for pl, e in zip(PLACEMENTS, here)},
                "n_excluded": sum(int(e.get("n_unconverged", 0)) for e in here) + (0 if res["clean_converged"] else 1),
                "area_A2": res["area_A2"], "preset": res["preset"], "o2_reference": res["o2_reference"],
                "o2_shift_eV_per_O": res["shift_eV_per_O"], "T_K": float(T), "p_bar": float(p_bar), "dmu_O_eV": dmu,
                "e_clean_eV": res["e_clean_eV"], "e_o2_eV": res["e_o2_eV"],
                "e_interface_eV": best[("interface", n)]["energy_eV"] if ("interface", n) in best else None,
                "e_surface_eV": best[("surface", n)]["energy_eV"] if ("surface", n) in best else None,
                "converged": {"clean": res["clean_converged"],
                              **{pl: best[(pl, n)]["converged"] if (pl, n) in best else None for pl in PLACEMENTS}},
                "job_ids": {**res["job_ids"],
                            "interface": best[("interface", n)]["job_id"] if ("interface", n) in best else None,
                            "surface": best[("surface", n)]["job_id"] if ("surface", n) in best else None},
            })
    return rows


def onset_rows(store: Any, preset: str | None = None, support: str | None = None, reference: str = "stored",
               run_id: str | None = None) -> list[dict[str, Any]]:
    """Where interfacial and surface oxidation become favourable (dmu_O and T at 1 bar), per interface."""
    rows = []
    for res in _results(store, preset, support, reference, run_id):
        for o in res["onsets"]:
            rows.append({"support": res["support"], "placement": o["placement"], "onset_dmu_O_eV": o["dmu_O_eV"],
                         "n_O": o["n_O"], "onset_T_K_at_1bar": o["T_K_at_1bar"], "o2_reference": res["o2_reference"],
                         "preset": res["preset"]})
    return rows


def o2_reference_rows(store: Any, preset: str | None = None) -> list[dict[str, Any]]:
    """The newest O2 correction per preset: computed (raw, corrected) and experimental formation energies."""
    rows = []
    for doc in newest_documents(store, "o2-correction", lambda o: o["preset"], preset):
        out = doc["output"]
        for e in out["entries"]:
            # documents from before the residual was stored: it follows from the stored energies
            e = {"fitted": True, **e}
            if e.get("residual_eV") is None:
                e["residual_eV"] = e["dHf_corrected_eV"] - e["dHf_exp_eV"]
            rows.append({**e, "shift_eV_per_O": out["shift_eV_per_O"], "e_o2_eV": out["e_o2_eV"],
                         "preset": out["preset"], "job_id": doc["uuid"]})
    return rows


def _si(value: float | None) -> float | None:
    return None if value is None else value * EV_PER_A2_IN_J_PER_M2


# -- plot ----------------------------------------------------------------------------------------

def plot_oxidation(
    store: Any, output: str | Path, preset: str | None = None, support: str | None = None,
    reference: str = "stored", dmu_range: tuple[float, float] = (-2.5, 0.5),
) -> Path:
    """gamma versus dmu_O, one panel per interface, interfacial (solid) and surface (dashed) per n.

    A secondary top axis gives the temperature at p(O2) = 1 bar, a secondary right axis J/m².

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    InputError
        Bad output suffix or directory, or no oxidation results.
    """
    from spillover.analysis.figures import COLUMN_WIDTH_IN, paper_style, save_figure, system_name
    from spillover.commands.options import check_plot_output

    output = Path(output)
    check_plot_output(output)
    results = _results(store, preset, support, reference, None)
    if not results:
        raise InputError("--db", "no oxidation results stored", "run 'spillover run STUDY --only oxidation' first")

    x = np.linspace(*dmu_range, 200)
    with paper_style() as plt:
        fig, axes = plt.subplots(1, len(results), figsize=(COLUMN_WIDTH_IN * len(results) + 0.4, 2.9), sharey=True,
                                 squeeze=False)
        for ax, res in zip(axes[0], results):
            n_all = sorted({b["n_O"] for b in res["best"]})
            colours = plt.cm.viridis(np.linspace(0.0, 0.85, max(len(n_all), 1)))
            ax.axhline(0.0, color="0.4", lw=0.8, label="clean")
            ax.axvspan(0.0, max(dmu_range[1], 0.0), color="0.9", zorder=0)  # beyond the O2 gas reference
            for colour, n in zip(colours, n_all):
                for b in (b for b in res["best"] if b["n_O"] == n):
                    style = "-" if b["placement"] == "interface" else "--"
                    ax.plot(x, [gamma_at(b, res["area_A2"], d) for d in x], style, color=colour, lw=1.6,
                            label=f"{n} O, {b['placement']}")
            ax.set_title(f"{system_name(res['support'] + '/Ru-0001')}\n"
                         f"preset {res['preset']}, {res['o2_reference']} O reference")
            ax.set_xlabel(r"$\Delta\mu_\mathrm{O}$ (eV)")
            ax.set_xlim(*dmu_range)
            _temperature_axis(ax, res["thermo"], dmu_range)
            ax.legend(loc="best")
        axes[0][0].set_ylabel(r"$\gamma$ (eV/Å$^2$)")
        right = axes[0][-1].secondary_yaxis("right", functions=(lambda g: g * EV_PER_A2_IN_J_PER_M2,
                                                                 lambda j: j / EV_PER_A2_IN_J_PER_M2))
        right.set_ylabel(r"$\gamma$ (J/m$^2$)")
        save_figure(fig, output)
    return output


def _temperature_axis(ax: Any, thermo: dict, dmu_range: tuple[float, float]) -> None:
    """Top axis: the temperature at 1 bar that gives each dmu_O."""
    Ts = np.geomspace(20.0, 4000.0, 400)
    dmus = np.array([delta_mu_o(T, 1.0, thermo["frequency_eV"], thermo["bond_A"]) for T in Ts])
    order = np.argsort(dmus)

    def to_T(d: np.ndarray) -> np.ndarray:
        return np.interp(d, dmus[order], Ts[order])

    def to_dmu(t: np.ndarray) -> np.ndarray:
        return np.interp(t, Ts, dmus)

    top = ax.secondary_xaxis("top", functions=(to_T, to_dmu))
    ticks = [T for T in (300, 500, 700, 1000, 1500, 2000, 3000) if dmu_range[0] <= to_dmu(np.array(T)) <= dmu_range[1]]
    top.set_xticks(ticks)
    top.set_xlabel("T (K) at p(O$_2$) = 1 bar", fontsize=9)


def run_summary(store: Any, run_id: str, preset: str) -> str:
    """The oxidation, onset and O2-reference tables of one run, as ``spillover run`` prints them."""
    from spillover.analysis.tables import render

    parts = []
    rows = oxidation_rows(store, run_id=run_id)
    if rows:
        parts += [f"Oxidation energetics at 300 K, 1 bar ({preset})\n", render(rows, COLUMNS, "md"), "",
                  render(onset_rows(store, run_id=run_id), ONSET_COLUMNS, "md")]
    o2_rows = o2_reference_rows(store, preset=preset)
    if o2_rows:
        parts += [f"\nO2 reference: formation energies and fitted shift per O ({preset})\n", render(o2_rows, O2_COLUMNS, "md")]
    return "\n".join(parts)
