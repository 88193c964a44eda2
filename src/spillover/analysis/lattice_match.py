"""Table 1 of the paper: lattice match of each interface model, read from stored documents."""

from __future__ import annotations

from typing import Any

from spillover.analysis.query import newest_documents
from spillover.analysis.tables import Column

COLUMNS = [
    Column("support", "support"),
    Column("film", "film"),
    Column("supercell", "supercell (support; film)"),
    Column("area_A2", "area (Å²)", "{:.2f}"),
    Column("strain_percent", "strain a, b (%)", "{:+.2f}"),
    Column("von_mises_percent", "von Mises (%)", "{:.2f}"),
    Column("natoms", "atoms"),
    Column("preset", "preset"),
    Column("job_id", "job id", "{:.8}"),
]


def _supercell(matrix: list[list[int]]) -> str:
    (a, b), (c, d) = matrix
    if b == 0 and c == 0:
        return f"{a}x{d}"
    return f"[[{a},{b}],[{c},{d}]]"


def lattice_match_rows(store: Any, run_id: str | None = None, preset: str | None = None) -> list[dict[str, Any]]:
    """Rows of the lattice-match table, the newest model per interface and preset.

    Parameters
    ----------
    store
        A connected JobStore.
    run_id
        Only documents of this ``spillover run``.
    preset
        Only documents of this preset.

    Returns
    -------
    list of dict
        One row per interface with the uuids of the interface job and of the bulk relaxations.
    """
    rows = []
    for doc in newest_documents(store, "interface-model", lambda o: (o["label"], o["preset"]), preset, run_id):
        out = doc["output"]
        rows.append({
            "support": out["support"],
            "film": "/".join(out["films"]),
            "supercell": f"{_supercell(out['substrate_matrix'])}; {_supercell(out['film_matrix'])}",
            "substrate_matrix": out["substrate_matrix"],
            "film_matrix": out["film_matrix"],
            "area_A2": out["area_A2"],
            "strain_percent": out["strain_percent"],
            "von_mises_percent": out["von_mises_percent"],
            "natoms": out["natoms"],
            "preset": out["preset"],
            "job_id": doc["uuid"],
            "bulk_job_ids": out["bulk_sources"],
        })
    return sorted(rows, key=lambda r: (r["support"], r["film"], r["preset"]))
