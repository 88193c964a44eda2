"""Table 4 of the paper: O binding energy along the spillover path, from stored calculations.

``E_b(s) = E(host with O at s) - E(host without it) - mu_O`` with ``mu_O = 1/2 E(O2)`` (raw) or
``1/2 E(O2) + delta`` (with the fitted O2 correction of the oxidation analysis, when one of the
same preset is stored). Oxygen flows towards lower E_b; a profile that decreases from the support
bulk through the interface into Ru bulk is the bulk-spillover signature.
"""

from __future__ import annotations

from typing import Any

from spillover.analysis.query import newest_documents
from spillover.analysis.tables import Column
from spillover.errors import InputError

REGION_ORDER = ("support-surface", "support-bulk", "interface", "ru-bulk", "ru-surface")
COLUMNS = [
    Column("support", "support"),
    Column("region", "region"),
    Column("layer", "layer"),
    Column("site", "site"),
    Column("E_b_eV", "E_b (eV)", "{:+.3f}"),
    Column("E_b_corrected_eV", "E_b corr. (eV)", "{:+.3f}"),
    Column("multiplicity", "equiv."),
    Column("preset", "preset"),
    Column("job_ids", "job ids (with, without, O2)", "{:.8}"),
]


def _energy(store: Any, uuid: str, preset: str) -> float:
    doc = store.query_one({"uuid": uuid}, properties=["output.energy_eV", "output.preset"])
    if doc is None:
        raise InputError("--db", f"calculation {uuid} named by the profile is not in the database")
    if doc["output"]["preset"] != preset:
        raise InputError("preset", f"calculation {uuid} is at preset {doc['output']['preset']}, the profile at {preset}; "
                         "presets are never mixed")
    return float(doc["output"]["energy_eV"])


def o2_shift(store: Any, preset: str, o2_job_id: str | None = None) -> float | None:
    """The fitted O2 correction (eV per O) of ``preset``, or None if none is stored.

    The correction fitted with the same O2 relaxation (``o2_job_id``) is preferred; otherwise the
    newest one of the preset.
    """
    criteria = {"output.doc_type": "o2-correction", "output.preset": preset}
    for extra in ({"output.o2_job_id": o2_job_id} if o2_job_id else None, {}):
        if extra is None:
            continue
        docs = list(store.query({**criteria, **extra}, properties=["output.shift_eV_per_O"],
                                sort={"completed_at": -1}, limit=1))
        if docs:
            return float(docs[0]["output"]["shift_eV_per_O"])
    return None


def _sort_key(row: dict) -> tuple:
    layer = row["layer"] if row["layer"] is not None else 99
    return (row["support"], REGION_ORDER.index(row["region"]), layer, row["site"])


def profile_rows(store: Any, preset: str | None = None, run_id: str | None = None) -> list[dict[str, Any]]:
    """One row per site of the newest profile of each support (and preset), optionally of one run.

    Every E_b is recomputed here from the energies of the calculations the profile names.
    """
    rows = []
    for doc in newest_documents(store, "mu-profile", lambda o: (o["support"], o["preset"]), preset, run_id):
        out = doc["output"]
        e_o2 = _energy(store, out["o2_job_id"], out["preset"])
        shift = o2_shift(store, out["preset"], out["o2_job_id"])
        for site in out["sites"]:
            e_b = (_energy(store, site["with_job_id"], out["preset"])
                   - _energy(store, site["without_job_id"], out["preset"]) - 0.5 * e_o2)
            rows.append({
                "support": out["support"], "region": site["region"], "layer": site["layer"], "site": site["site"],
                "host": site["host"], "E_b_eV": e_b, "E_b_corrected_eV": None if shift is None else e_b - shift,
                "multiplicity": site["equivalent_count"], "preset": out["preset"],
                "job_ids": [site["with_job_id"], site["without_job_id"], out["o2_job_id"]],
                "profile_job_id": doc["uuid"],
            })
    return sorted(rows, key=_sort_key)


def path_points(rows: list[dict]) -> list[tuple[str, float]]:
    """The path a lattice O takes, one (label, lowest E_b) point per stop.

    Order: support bulk (deep limit, then layers L..2), support layer 1, interface, Ru bulk,
    Ru surface; sites of one stop are represented by the lowest E_b (where the O goes).
    """
    stops: dict[str, list[float]] = {}
    order: list[tuple[float, str]] = []
    for r in rows:
        if r["region"] == "support-surface":
            continue
        if r["region"] == "support-bulk":
            label = "support bulk limit" if r["layer"] is None else f"support L{r['layer']}"
            rank = -1e6 if r["layer"] is None else -r["layer"]
        else:
            label = r["region"]
            rank = {"interface": 1e3, "ru-bulk": 2e3, "ru-surface": 3e3}[r["region"]]
        if r["host"].startswith("bulk-supercell"):
            largest = max((x for x in rows if x["host"].startswith("bulk-supercell")), key=lambda x: x["host"])
            if r is not largest:
                continue  # the deep-bulk point is the largest supercell; the others give the finite-size change
        stops.setdefault(label, []).append(r["E_b_eV"])
        if (rank, label) not in order:
            order.append((rank, label))
    return [(label, min(stops[label])) for _, label in sorted(order)]


def spillover_signature(rows: list[dict]) -> tuple[bool, str]:
    """Whether E_b decreases monotonically from the support bulk through the interface into Ru bulk.

    Returns
    -------
    tuple
        ``(monotonic, text)`` with the path values in ``text``.
    """
    points = [p for p in path_points(rows) if p[0] != "ru-surface"]
    values = [v for _, v in points]
    monotonic = len(values) >= 2 and all(b < a for a, b in zip(values, values[1:]))
    text = " -> ".join(f"{label} {v:+.2f}" for label, v in points)
    return monotonic, text


def finite_size(rows: list[dict]) -> dict[str, float] | None:
    """E_b of the bulk vacancy in the two supercells and their difference (eV), if both exist."""
    bulk = sorted((r for r in rows if r["host"].startswith("bulk-supercell")), key=lambda r: r["host"])
    if len(bulk) < 2:
        return None
    return {"small_eV": bulk[0]["E_b_eV"], "large_eV": bulk[-1]["E_b_eV"], "change_eV": bulk[-1]["E_b_eV"] - bulk[0]["E_b_eV"]}


def summary_lines(rows: list[dict]) -> list[str]:
    """Per support: the spillover-signature line and the finite-size line."""
    lines = []
    for support in sorted({r["support"] for r in rows}):
        mine = [r for r in rows if r["support"] == support]
        ok, text = spillover_signature(mine)
        verdict = "decreases monotonically (bulk-spillover signature)" if ok else "does NOT decrease monotonically"
        lines.append(f"{support}: E_b {verdict}: {text}")
        fs = finite_size(mine)
        if fs:
            lines.append(f"{support}: bulk-vacancy E_b changes by {fs['change_eV']:+.3f} eV between the two supercells "
                         f"({fs['small_eV']:+.3f} -> {fs['large_eV']:+.3f}): the finite-size error")
    return lines


def plot_profile(rows: list[dict], output: str) -> None:
    """E_b along the path for both supports, the five regions shaded and labelled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.2), dpi=150)
    colours = {"rutile-110": "tab:red", "anatase-101": "tab:blue"}
    spans: dict[str, list[float]] = {}
    for support in sorted({r["support"] for r in rows}):
        mine = [r for r in rows if r["support"] == support]
        surface = [r["E_b_eV"] for r in mine if r["region"] == "support-surface"]
        points = ([("surface", min(surface))] if surface else []) + path_points(mine)
        xs = list(range(len(points)))
        # open squares over filled circles: the Ru points are shared by both supports and coincide
        style = {"marker": "o"} if support == "rutile-110" else {"marker": "s", "mfc": "none", "ms": 9}
        ax.plot(xs, [v for _, v in points], "-", color=colours.get(support, "k"), label=support, **style)
        for x, (label, _) in zip(xs, points):
            region = ("support-surface" if label == "surface" else "support-bulk" if label.startswith("support")
                      else label)
            spans.setdefault(region, []).append(x)
        ax.set_xticks(xs, [label.replace("support ", "") for label, _ in points], rotation=30, ha="right")
    shades = ["#f2f2f2", "#e0ecf8", "#fdf0d5", "#e5f5e0", "#f3e5f5"]
    for (region, xs), shade in zip(sorted(spans.items(), key=lambda kv: min(kv[1])), shades):
        ax.axvspan(min(xs) - 0.45, max(xs) + 0.45, color=shade, zorder=0)
        ax.text((min(xs) + max(xs)) / 2, 1.01, region, transform=ax.get_xaxis_transform(), ha="center", fontsize=8)
    ax.set_ylabel(r"O binding energy $E_b$ (eV per O, vs $\frac{1}{2}E(\mathrm{O_2})$)")
    ax.set_xlabel("position along the path")
    ax.legend(frameon=False)
    fig.tight_layout()
    fig.savefig(output)
    plt.close(fig)


def run_summary(store: Any, run_id: str, preset: str) -> str:
    """The profile table of one run and its summary lines, as ``spillover run`` prints them."""
    from spillover.analysis.tables import render

    rows = profile_rows(store, preset=preset, run_id=run_id)
    if not rows:
        return ""
    return "\n".join([f"O binding energy along the path ({preset})\n", render(rows, COLUMNS, "md"), "",
                      *summary_lines(rows)])
