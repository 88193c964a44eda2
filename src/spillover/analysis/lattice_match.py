"""Table 1 of the paper: the lattice match of each system cell, and the scan of facets over supports."""

from __future__ import annotations

from typing import Any

from spillover.analysis.query import newest_documents
from spillover.analysis.tables import Column, render

COLUMNS = [
    Column("system", "system"),
    Column("film", "film"),
    Column("supercell", "supercell (support; film)"),
    Column("area_A2", "area (Å²)", "{:.2f}"),
    Column("strain_percent", "strain a, b (%)", "{:+.2f}"),
    Column("von_mises_percent", "von Mises (%)", "{:.2f}"),
    Column("natoms", "atoms"),
    Column("preset", "preset"),
    Column("job_id", "job id", "{:.8}"),
]

SCAN_COLUMNS = [
    Column("support", "support"),
    Column("film", "film"),
    Column("area_text", "area (Å²)"),
    Column("supercell", "supercell (support; film)"),
    Column("strain_percent", "strain a, b (%)", "{:+.2f}"),
    Column("von_mises_percent", "von Mises (%)", "{:.2f}"),
]


def supercell_text(matrix: list[list[int]] | None) -> str:
    """``2x3`` for a diagonal supercell, ``[[a,b],[c,d]]`` otherwise."""
    if matrix is None:
        return "-"
    (a, b), (c, d) = matrix
    if b == 0 and c == 0:
        return f"{a}x{d}"
    return f"[[{a},{b}],[{c},{d}]]"


def lattice_match_rows(store: Any, run_id: str | None = None, preset: str | None = None) -> list[dict[str, Any]]:
    """One row per film of each system cell (newest cell per system and preset).

    Parameters
    ----------
    store
        A connected JobStore.
    run_id, preset
        Only cells of this ``spillover run`` / of this preset (of the bulk relaxations).

    Returns
    -------
    list of dict
        With the uuid of the cell job and of the bulk relaxations behind it.
    """
    rows = []
    for doc in newest_documents(store, "system-cell", lambda o: (o["system"], o["preset"]), preset, run_id):
        out = doc["output"]
        for match in out["matches"]:
            rows.append({
                "system": out["system"],
                "support": out["support"],
                "film": match["film"],
                "supercell": f"{supercell_text(out['substrate_matrix'])}; {supercell_text(match['film_matrix'])}",
                "substrate_matrix": out["substrate_matrix"],
                "film_matrix": match["film_matrix"],
                "area_A2": out["area_A2"],
                "strain_percent": match["strain_percent"],
                "von_mises_percent": match["von_mises_percent"],
                "natoms": out["natoms"],
                "preset": out["preset"],
                "job_id": doc["uuid"],
                "bulk_job_ids": out["bulk_sources"],
            })
    return sorted(rows, key=lambda r: (r["system"], r["preset"]))


def scan_rows(rows: list[dict[str, Any]], max_area: float, source: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Rows of the lattice-scan table from the scan's own rows (adds the texts of the md/csv/latex formats).

    Parameters
    ----------
    rows
        ``ScanRow.to_dict()`` of each pair.
    max_area
        The area searched, for "none within N Å²".
    source
        Added to every row, e.g. ``{"preset": ..., "job_id": ...}``.
    """
    out = []
    for r in rows:
        none = r["area_A2"] is None
        out.append({
            "support": r["support"], "film": r["film"], "area_A2": r["area_A2"],
            "strain_percent": r["strain_percent"], "von_mises_percent": r["von_mises_percent"],
            "substrate_matrix": r["substrate_matrix"], "film_matrix": r["film_matrix"],
            "area_text": f"none within {max_area:g}" if none else f"{r['area_A2']:.2f}",
            "supercell": "-" if none else f"{supercell_text(r['substrate_matrix'])}; {supercell_text(r['film_matrix'])}",
            **(source or {}),
        })
    return out


def stored_scan_rows(store: Any, run_id: str | None = None, preset: str | None = None) -> list[dict[str, Any]]:
    """The newest stored scan (of this run or preset) as table rows, with its job id and preset."""
    docs = newest_documents(store, "lattice-scan", lambda o: o["preset"], preset, run_id)
    if not docs:
        return []
    doc = docs[0]
    out = doc["output"]
    return scan_rows(out["rows"], out["max_area_A2"], {"preset": out["preset"], "job_id": doc["uuid"]})


def run_summary(store: Any, run_id: str, preset: str) -> str:
    """The lattice-match and scan tables of one run, as ``spillover run`` prints them."""
    parts = []
    rows = lattice_match_rows(store, run_id=run_id)
    if rows:
        parts += [f"Lattice match of the system cells ({preset})\n", render(rows, COLUMNS, "md")]
    scan = stored_scan_rows(store, run_id=run_id)
    if scan:
        parts += [f"\nLattice-match scan ({preset} lattices; job {scan[0]['job_id'][:8]})\n", render(scan, SCAN_COLUMNS, "md")]
    return "\n".join(parts)
