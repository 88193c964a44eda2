"""Table 3 of the paper (vacancy migration) and the NEB plots, from stored NEB documents only."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from spillover.analysis.query import newest_documents
from spillover.analysis.tables import Column
from spillover.errors import InputError

COLUMNS = [
    Column("support", "support"),
    Column("region", "region"),
    Column("hop", "hop (O from layer:site -> to layer:site)"),
    Column("Ea_forward_eV", "E_a fwd (eV)", "{:.3f}"),
    Column("Ea_reverse_eV", "E_a rev (eV)", "{:.3f}"),
    Column("dE_eV", "dE (eV)", "{:+.3f}"),
    Column("n_images", "images"),
    Column("converged", "converged"),
    Column("force_calls", "force calls"),
    Column("preset", "preset"),
    Column("job_ids", "job ids", "{:.8}"),
]
REGION_ORDER = ("rutile-bulk", "rutile-110", "interfacial-RuO2", "across-interface", "anatase-bulk", "anatase-101")
_UUID = re.compile(r"band of job ([0-9a-f-]{36})")
_FIELDS = (
    "label", "region", "support", "hop", "Ea_forward_eV", "Ea_reverse_eV", "dE_eV", "n_images", "converged",
    "force_calls", "band_force_calls", "optimizer_steps", "preset", "start_band", "initial_start_band",
    "climbing_image_max_force_eV_per_A", "wall_time_s", "content_hash",
)


def _row(doc: dict[str, Any]) -> dict[str, Any]:
    out = doc["output"]
    hop = out.get("hop") or {}
    sources = [m.group(1) for m in _UUID.finditer(out.get("initial_start_band", ""))]
    return {
        "support": out.get("support", ""),
        "region": out["region"],
        "hop": out["label"],
        "Ea_forward_eV": out["Ea_forward_eV"],
        "Ea_reverse_eV": out["Ea_reverse_eV"],
        "dE_eV": out["dE_eV"],
        "n_images": out["n_images"],
        "converged": out["converged"],
        "force_calls": out["force_calls"],
        "preset": out["preset"],
        "job_ids": [doc["uuid"], *sources],
        "band_force_calls": out["band_force_calls"],
        "optimizer_steps": out["optimizer_steps"],
        "start_band": out["initial_start_band"],
        "climbing_image_max_force_eV_per_A": out["climbing_image_max_force_eV_per_A"],
        "from_layer": hop.get("from_layer"),
        "to_layer": hop.get("to_layer"),
        "distance_A": hop.get("distance_A"),
        "multiplicity": hop.get("multiplicity"),
    }


def barrier_rows(store: Any, run_id: str | None = None, preset: str | None = None) -> list[dict[str, Any]]:
    """Rows of the vacancy-migration table: the newest NEB per region, hop and preset.

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
        Keys ``support, region, hop, Ea_forward_eV, Ea_reverse_eV, dE_eV, n_images, converged,
        force_calls, preset, job_ids`` (the NEB job, then the job whose band started it) and a
        few more for plots.
    """
    docs = newest_documents(store, "neb", lambda o: (o["region"], o["label"], o["preset"]), preset, run_id,
                            properties=[f"output.{f}" for f in _FIELDS])
    rows = [_row(doc) for doc in docs]

    def order(r: dict[str, Any]) -> tuple:
        region = REGION_ORDER.index(r["region"]) if r["region"] in REGION_ORDER else len(REGION_ORDER)
        return (region, r["to_layer"] or 0, r["distance_A"] or 0.0, r["hop"], r["preset"])

    return sorted(rows, key=order)


def neb_document(store: Any, job_id: str) -> dict[str, Any]:
    """The stored NEB document of a job (uuid or a unique prefix of at least 8 characters).

    Raises
    ------
    InputError
        No NEB job with that id, or a prefix that matches several.
    """
    if len(job_id) < 8:
        raise InputError("JOB_ID", f"{job_id!r} is too short", "a job uuid or its first 8+ characters")
    docs = [
        d for d in store.query({"output.doc_type": "neb"}, properties=["uuid", "output", "completed_at"])
        if d["uuid"].startswith(job_id)
    ]
    uuids = {d["uuid"] for d in docs}
    if not docs:
        raise InputError("JOB_ID", f"no NEB result with id {job_id!r}", "ids from 'spillover table barriers'")
    if len(uuids) > 1:
        raise InputError("JOB_ID", f"{job_id!r} matches {len(uuids)} NEB jobs", "a longer prefix")
    return max(docs, key=lambda d: str(d["completed_at"]))


def plot_neb(doc: dict[str, Any], output: Path, job_id: str = "") -> None:
    """Energy along the path: the images and the NEBTools spline through them.

    Parameters
    ----------
    doc
        A stored :class:`~spillover.schemas.neb.NebDoc` (the ``output`` of its job).
    output
        Image file (.png, .svg or .pdf).
    job_id
        Shown in the title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ax.plot(doc["spline_path_A"], doc["spline_energies_eV"], "-", color="tab:blue", label="spline (NEBTools)")
    ax.plot(doc["path_A"], doc["relative_energies_eV"], "o", color="tab:blue", label="images")
    ci = doc["climbing_image"]
    ax.plot([doc["path_A"][ci]], [doc["relative_energies_eV"][ci]], "*", ms=14, color="tab:red", label="climbing image")
    ax.axhline(0.0, color="0.7", lw=0.8)
    ax.set_xlabel("reaction coordinate (Å)")
    ax.set_ylabel("E - E(initial) (eV)")
    status = "converged" if doc["converged"] else "NOT converged"
    ax.set_title(f"{doc['region']}: {doc['label']}\n{doc['preset']}, {doc['n_images']} images, {status}"
                 + (f", job {job_id[:8]}" if job_id else ""), fontsize=9)
    ax.text(0.02, 0.95, f"E_a fwd {doc['Ea_forward_eV']:.3f} eV\nE_a rev {doc['Ea_reverse_eV']:.3f} eV\n"
            f"dE {doc['dE_eV']:+.3f} eV", transform=ax.transAxes, va="top", fontsize=8)
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    fig.savefig(output)
    plt.close(fig)


def _depth(row: dict[str, Any]) -> float | None:
    """x position on the depth axis: 0 inside RuO2, 1 support top -> RuO2, k+1 for slab layer k+1 -> k."""
    if row["region"] == "interfacial-RuO2":
        return 0.0
    if row["region"] == "across-interface":
        return 1.0
    if row["region"] in ("rutile-110", "anatase-101") and row["from_layer"]:
        return float(row["from_layer"])
    return None


def plot_barriers(rows: list[dict[str, Any]], output: Path) -> None:
    """Forward barrier (O moving outward) versus depth for both supports, bulk barriers as lines.

    Parameters
    ----------
    rows
        Rows of :func:`barrier_rows` (one preset).
    output
        Image file (.png, .svg or .pdf).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    styles = {"r-TiO2": ("tab:blue", "o"), "a-TiO2": ("tab:orange", "s")}
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    depths: set[float] = set()
    for support, (colour, marker) in styles.items():
        mine = [r for r in rows if r["support"] == support]
        points = [(_depth(r), r["Ea_forward_eV"], r["converged"]) for r in mine if _depth(r) is not None]
        if points:
            xs = [p[0] + (0.08 if support == "a-TiO2" else -0.08) for p in points]
            ax.scatter(xs, [p[1] for p in points], color=colour, marker=marker, label=f"{support} hops")
            unconverged = [(x, p[1]) for x, p in zip(xs, points) if not p[2]]
            if unconverged:
                ax.scatter(*zip(*unconverged), facecolors="none", edgecolors="k", marker=marker, s=90,
                           label="not converged" if support == "r-TiO2" else None)
            depths.update(p[0] for p in points)
        bulk = [r["Ea_forward_eV"] for r in mine if r["region"].endswith("-bulk")]
        if bulk:
            ax.axhline(min(bulk), color=colour, ls="--", lw=1, label=f"{support} bulk (lowest hop)")
    ticks = sorted(depths)
    names = {0.0: "in RuO2", 1.0: "L1 -> RuO2"}
    ax.set_xticks(ticks, [names.get(t, f"L{int(t)} -> L{int(t) - 1}") for t in ticks], fontsize=8)
    ax.set_xlabel("hop depth (O moves outward; layer 1 = top of the support)")
    ax.set_ylabel("E_a forward (eV)")
    presets = sorted({r["preset"] for r in rows})
    ax.set_title(f"O-vacancy migration barriers ({', '.join(presets)})", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(output)
    plt.close(fig)


def run_summary(store: Any, run_id: str, preset: str) -> str:
    """The barrier table of one run, as ``spillover run`` prints it."""
    from spillover.analysis.tables import render

    rows = barrier_rows(store, run_id=run_id)
    return "\n".join(["Vacancy migration barriers\n", render(rows, COLUMNS, "md")]) if rows else ""
