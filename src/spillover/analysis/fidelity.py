"""Screen versus DFT: how far the ranking of each funnel's survivors holds at the DFT stage's preset."""

from __future__ import annotations

from typing import Any

import numpy as np

from spillover.analysis.query import newest_documents
from spillover.analysis.tables import Column

COLUMNS = [
    Column("analysis", "analysis"),
    Column("system", "system"),
    Column("group", "funnel (what was screened)"),
    Column("n_candidates", "survivors compared"),
    Column("top1_agrees", "same best"),
    Column("spearman", "Spearman rho", "{:.2f}"),
    Column("max_abs_diff_eV", "largest dE difference (eV)", "{:.3f}"),
    Column("screen_preset", "screen"),
    Column("preset", "DFT preset"),
    Column("job_ids", "job ids", "{:.8}"),
]
#: The keys ``spillover table fidelity --format json`` prints.
FIDELITY_JSON_KEYS = ("analysis", "system", "group", "n_candidates", "top1_agrees", "spearman", "max_abs_diff_eV",
                      "screen_preset", "preset", "screen_eV", "dft_eV", "candidates", "job_ids")
#: Analysis name of the funnels' metadata key, and the key of the system inside it.
ANALYSES = {"oxidation": ("oxidation", "interface"), "mu_profile": ("mu-profile", "system")}


def _where(doc: dict[str, Any]) -> tuple[str, str]:
    """(analysis, system) of a funnel, from the metadata its relaxations carry."""
    meta = (doc["survivors"][0].get("metadata") or {}) if doc["survivors"] else {}
    for key, (analysis, system_key) in ANALYSES.items():
        if key in meta:
            return analysis, str(meta[key].get(system_key, ""))
    return "", ""


def compare(screen: list[float], dft: list[float]) -> dict[str, Any]:
    """Agreement of two energy lists over the same candidates (eV; each taken relative to its lowest).

    Returns
    -------
    dict
        ``screen_eV`` and ``dft_eV`` (relative), ``top1_agrees`` (the screen's lowest is the DFT's
        lowest), ``spearman`` (rank correlation; None below 3 candidates or for a constant list) and
        ``max_abs_diff_eV`` (largest difference of the relative energies).
    """
    import pandas as pd

    s = np.asarray(screen, dtype=float) - min(screen)
    d = np.asarray(dft, dtype=float) - min(dft)
    rho = None
    if len(s) >= 3 and np.ptp(s) > 0 and np.ptp(d) > 0:
        rho = float(pd.Series(s).corr(pd.Series(d), method="spearman"))
    return {"screen_eV": s.tolist(), "dft_eV": d.tolist(), "top1_agrees": bool(np.argmin(s) == np.argmin(d)),
            "spearman": rho, "max_abs_diff_eV": float(np.max(np.abs(s - d)))}


def fidelity_rows(store: Any, preset: str | None = None, run_id: str | None = None,
                  system: str | None = None) -> list[dict[str, Any]]:
    """One row per funnel with a DFT stage: the survivors' screen and DFT energies and their agreement.

    Only candidates whose DFT relaxation converged are compared (and their final screen energies).

    Parameters
    ----------
    store
        A connected JobStore.
    preset
        Only funnels whose DFT stage ran at this preset.
    run_id, system
        Only funnels of this ``spillover run``, of this system.

    Returns
    -------
    list of dict
        Keys of :data:`FIDELITY_JSON_KEYS`; ``candidates`` are the funnel's candidate indices in the
        order of the energy lists, ``job_ids`` the funnel job.
    """
    docs = newest_documents(store, "funnel", lambda o: (o["label"], o["preset"], o["dft_preset"]),
                            run_id=run_id, filters={"dft_preset": preset or {"$ne": None}})
    rows = []
    for doc in docs:
        out = doc["output"]
        analysis, where = _where(out)
        if system is not None and where != system:
            continue
        taken = [c for c in out["candidates"] if c.get("dft_final_converged")]
        if not taken:
            continue
        numbers = compare([c["final_eV"] for c in taken], [c["dft_final_eV"] for c in taken])
        group = out["label"][len(where) + 1:] if where and out["label"].startswith(where + " ") else out["label"]
        rows.append({"analysis": analysis, "system": where, "group": group, "n_candidates": len(taken), **numbers,
                     "screen_preset": out["preset"], "preset": out["dft_preset"],
                     "candidates": [c["index"] for c in taken], "job_ids": [doc["uuid"]]})
    return sorted(rows, key=lambda r: (r["analysis"], r["system"], r["preset"], r["group"]))


__all__ = ["COLUMNS", "FIDELITY_JSON_KEYS", "compare", "fidelity_rows"]
