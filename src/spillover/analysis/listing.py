"""What is stored: one row per job output, newest first."""

from __future__ import annotations

from typing import Any


def result_rows(store: Any, limit: int = 0) -> list[dict[str, Any]]:
    """Rows for ``spillover results``.

    Parameters
    ----------
    store
        A connected JobStore.
    limit
        Newest ``limit`` rows; 0 for all.
    """
    docs = store.query(
        {},
        properties=[
            "uuid", "name", "completed_at", "metadata", "output.label", "output.preset",
            "output.energy_eV", "output.max_force_eV_per_A", "output.doc_type",
        ],
        sort={"completed_at": -1},
        limit=limit,
    )
    rows = []
    for doc in docs:
        out = doc.get("output") or {}
        rows.append(
            {
                "job_id": doc["uuid"],
                "name": doc.get("name", ""),
                "completed_at": str(doc.get("completed_at", "")),
                "doc_type": out.get("doc_type", ""),
                "label": out.get("label", ""),
                "preset": out.get("preset", doc.get("metadata", {}).get("preset", "")),
                "energy_eV": out.get("energy_eV"),
                "max_force_eV_per_A": out.get("max_force_eV_per_A"),
                "study": doc.get("metadata", {}).get("study", ""),
                "run_id": doc.get("metadata", {}).get("run_id", ""),
            }
        )
    return rows
