"""Table 3 of the paper (vacancy migration), the hop paths and their plots, from stored documents only."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from spillover.analysis.query import newest_documents
from spillover.analysis.tables import Column
from spillover.analysis.verdict import K_B_EV_PER_K
from spillover.errors import InputError

COLUMNS = [
    Column("system", "system"),
    Column("region", "region"),
    Column("hop", "hop (O from layer:site -> to layer:site)"),
    Column("Ea_forward_eV", "E_a fwd (eV)", "{:.3f}"),
    Column("Ea_reverse_eV", "E_a rev (eV)", "{:.3f}"),
    Column("dE_eV", "dE (eV)", "{:+.3f}"),
    Column("n_images", "images"),
    Column("converged", "converged"),
    Column("skipped", "skipped (why no band)"),
    Column("force_calls", "force calls"),
    Column("preset", "preset"),
    Column("job_ids", "job ids", "{:.8}"),
]
PATH_COLUMNS = [
    Column("system", "system"),
    Column("from_layer", "from layer"),
    Column("E_eff_eV", "E_eff (eV)", "{:.3f}"),
    Column("rate_per_s", "rate (1/s)", "{:.2e}"),
    Column("T_K", "T (K)", "{:g}"),
    Column("path", "path (vacancy hops towards the interface)"),
    Column("preset", "preset"),
    Column("job_ids", "job ids", "{:.8}"),
]
KIND_ORDER = ("interlayer", "across-interface", "between-layers", "in-layer")
_UUID = re.compile(r"band of job ([0-9a-f-]{36})")
_FIELDS = (
    "label", "region", "support", "hop", "Ea_forward_eV", "Ea_reverse_eV", "dE_eV", "n_images", "converged",
    "force_calls", "band_force_calls", "optimizer_steps", "preset", "start_band", "initial_start_band",
    "climbing_image_max_force_eV_per_A", "wall_time_s", "content_hash", "metadata", "reused_from_job_id",
)



#: The keys ``spillover table hop-paths --format json`` prints (its ``path`` is the row's hop labels).
PATH_JSON_KEYS = ("system", "from_layer", "E_eff_eV", "rate_per_s", "T_K", "path", "job_ids")


def path_json(row: dict) -> dict:
    """A hop-paths row as ``--format json`` prints it: the hop labels as its path, with the preset."""
    return {**{k: row[k] for k in PATH_JSON_KEYS}, "path": row["hops"], "preset": row["preset"]}


def _neb_fields(neb: dict[str, Any]) -> dict[str, Any]:
    return {
        "Ea_forward_eV": neb["Ea_forward_eV"], "Ea_reverse_eV": neb["Ea_reverse_eV"], "dE_eV": neb["dE_eV"],
        "n_images": neb["n_images"], "converged": neb["converged"], "force_calls": neb["force_calls"],
        "band_force_calls": neb["band_force_calls"], "optimizer_steps": neb["optimizer_steps"],
        "start_band": neb["initial_start_band"],
        "climbing_image_max_force_eV_per_A": neb["climbing_image_max_force_eV_per_A"],
    }


def _row(doc: dict[str, Any]) -> dict[str, Any]:
    """A row of a band stored on its own (``spillover neb``, or a DFT band of the ladder)."""
    out = doc["output"]
    hop = out.get("hop") or {}
    sources = [m.group(1) for m in _UUID.finditer(out.get("initial_start_band", ""))]
    system = (hop.get("system") or ((out.get("metadata") or {}).get("hop_network") or {}).get("system")
              or out.get("support", ""))  # a band outside any system: its support names it
    return {
        "system": system, "support": out.get("support", ""), "region": out["region"], "hop": out["label"],
        **_neb_fields(out), "skipped": None, "preset": out["preset"],
        "job_ids": [out.get("reused_from_job_id") or doc["uuid"], *sources],  # the job that computed the band
        "from_layer": hop.get("from_layer"), "to_layer": hop.get("to_layer"), "distance_A": hop.get("distance_A"),
        "multiplicity": hop.get("multiplicity"),
    }


def _edge_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    out = doc["output"]
    rows = []
    for edge in out["edges"]:
        neb = edge.get("neb")
        blank = dict.fromkeys(("Ea_forward_eV", "Ea_reverse_eV", "dE_eV", "n_images", "converged", "force_calls",
                               "band_force_calls", "optimizer_steps", "start_band",
                               "climbing_image_max_force_eV_per_A"))
        rows.append({
            "system": out["system"], "support": out["support"], "region": edge["kind"], "hop": edge["label"],
            **(_neb_fields(neb) if neb else blank), "skipped": edge.get("skipped"), "preset": out["preset"],
            "job_ids": [doc["uuid"]], "from_layer": edge["from_layer"], "to_layer": edge["to_layer"],
            "distance_A": edge["distance_A"], "multiplicity": edge["multiplicity"],
            "lower_bound_eV": edge.get("lower_bound_eV"),
        })
        for band in (edge.get("split") or {}).get("bands", []):  # the two bands through an intermediate state
            rows.append({**rows[-1], "hop": band["label"], **_neb_fields(band), "skipped": None})
    return rows


def networks(store: Any, run_id: str | None = None, preset: str | None = None,
             system: str | None = None) -> list[dict[str, Any]]:
    """The newest hop-network document per system and preset (``uuid`` and ``output``)."""
    return newest_documents(store, "hop-network", lambda o: (o["system"], o["preset"]), preset, run_id,
                            filters={"system": system})


def barrier_rows(store: Any, run_id: str | None = None, preset: str | None = None,
                 system: str | None = None) -> list[dict[str, Any]]:
    """Rows of the vacancy-migration table: every hop of each network, and bands stored on their own.

    Parameters
    ----------
    store
        A connected JobStore.
    run_id, preset, system
        Only documents of this ``spillover run``, preset, system.

    Returns
    -------
    list of dict
        Keys ``system, support, region`` (the hop's kind, or ``custom``), ``hop, from_layer, to_layer,
        Ea_forward_eV, Ea_reverse_eV, dE_eV, n_images, converged, skipped`` (reason, or None when the band
        was computed), ``force_calls, preset, job_ids`` (the job holding the band, then the job whose
        band started it) and a few more for plots.
    """
    rows = [r for doc in networks(store, run_id, preset, system) for r in _edge_rows(doc)]
    docs = newest_documents(store, "neb", lambda o: (o["region"], o["label"], o["preset"]), preset, run_id,
                            properties=[f"output.{f}" for f in _FIELDS])
    rows += [r for r in map(_row, docs) if system is None or r["system"] == system]

    def order(r: dict[str, Any]) -> tuple:
        kind = KIND_ORDER.index(r["region"]) if r["region"] in KIND_ORDER else len(KIND_ORDER)
        return (r["system"], r["preset"], kind, r["to_layer"] or 0, r["skipped"] is not None, r["distance_A"] or 0.0,
                r["hop"])

    return sorted(rows, key=order)


def hop_path_rows(store: Any, run_id: str | None = None, preset: str | None = None,
                  system: str | None = None) -> list[dict[str, Any]]:
    """One row per system and start layer: E_eff, its rate at the study's temperature, the path.

    Returns
    -------
    list of dict
        Keys ``system, support, from_layer, start_site, E_eff_eV, rate_per_s, T_K, prefactor_per_s, path``
        (hop labels in order), ``sites, levels_eV, reason, preset, job_ids`` (the network, the cell, the
        node relaxations on the path).
    """
    rows = []
    for doc in networks(store, run_id, preset, system):
        out = doc["output"]
        t, nu = out["temperature_K"], out["prefactor_per_s"]
        job_of = {n["site"]: n["job_id"] for n in out["nodes"]}
        for p in out["paths"]:
            e = p["E_eff_eV"]
            rows.append({
                "system": out["system"], "support": out["support"], "from_layer": p["from_layer"],
                "start_site": p["start_site"], "E_eff_eV": e,
                "rate_per_s": nu * math.exp(-e / (K_B_EV_PER_K * t)) if e is not None else None,
                "T_K": t, "prefactor_per_s": nu, "path": " ; ".join(p["hops"]) if p["hops"] else
                ("(starts at the interface)" if e is not None else p.get("reason") or ""),
                "hops": p["hops"], "sites": p["sites"], "levels_eV": p["levels_eV"], "reason": p.get("reason"),
                "preset": out["preset"],
                "job_ids": list(dict.fromkeys([doc["uuid"], out["cell_job_id"], *(job_of[s] for s in p["sites"])])),
            })
    return sorted(rows, key=lambda r: (r["system"], r["preset"], r["from_layer"]))


def band_document(store: Any, job_id: str, hop: str | None = None) -> tuple[str, dict[str, Any]]:
    """A stored band: the NEB document of a job, or the band of one hop inside a hop-network job.

    Parameters
    ----------
    store
        A connected JobStore.
    job_id
        uuid of a NEB or hop-network job, or a unique prefix of at least 8 characters.
    hop
        For a hop network: the hop's label, or a part of it that only one computed band's label has.

    Returns
    -------
    tuple
        The job's uuid and the band (a :class:`~spillover.schemas.neb.NebDoc` as a dict).

    Raises
    ------
    InputError
        No such job, a prefix that matches several, ``hop`` missing for a network, given for a single NEB,
        or matching no computed band or several.
    """
    if len(job_id) < 8:
        raise InputError("JOB_ID", f"{job_id!r} is too short", "a job uuid or its first 8+ characters")
    docs = [
        d for d in store.query({"output.doc_type": {"$in": ["neb", "hop-network"]}},
                               properties=["uuid", "output", "completed_at"])
        if d["uuid"].startswith(job_id)
    ]
    uuids = {d["uuid"] for d in docs}
    if not docs:
        raise InputError("JOB_ID", f"no NEB or hop-network result with id {job_id!r}",
                         "ids from 'spillover table barriers'")
    if len(uuids) > 1:
        raise InputError("JOB_ID", f"{job_id!r} matches {len(uuids)} NEB jobs", "a longer prefix")
    doc = max(docs, key=lambda d: str(d["completed_at"]))
    out = doc["output"]
    if out["doc_type"] == "neb":
        if hop is not None:
            raise InputError("--hop", f"job {doc['uuid'][:8]} is a single NEB", "leave --hop out")
        return doc["uuid"], out
    bands = {e["label"]: e["neb"] for e in out["edges"] if e.get("neb")}
    where = f"the {len(bands)} computed bands of hop network {doc['uuid'][:8]} ({out['system']})"
    if not bands:
        raise InputError("JOB_ID", f"hop network {doc['uuid'][:8]} holds no computed band",
                         "a network with bands ('spillover table barriers' shows them)")
    if hop is None:
        raise InputError("--hop", f"job {doc['uuid'][:8]} is a hop network; say which band",
                         f"a label of {where}, e.g. {next(iter(bands))!r}")
    if hop in bands:
        return doc["uuid"], bands[hop]
    matches = [label for label in bands if hop in label]
    if len(matches) != 1:
        found = "no" if not matches else f"{len(matches)}"
        raise InputError("--hop", f"{hop!r} matches {found} labels of {where}",
                         "a label as 'spillover table barriers --system S' prints it")
    return doc["uuid"], bands[matches[0]]


def plot_neb(doc: dict[str, Any], output: Path, job_id: str = "") -> None:
    """Energy along the path: the images and the NEBTools spline through them (column width).

    Parameters
    ----------
    doc
        A stored :class:`~spillover.schemas.neb.NebDoc` (the ``output`` of its job).
    output
        Image file (.png, .svg or .pdf); a vector file gets a 300-dpi png beside it.
    job_id
        Not drawn (no internal ids on a figure); kept for callers that pass it.
    """
    from spillover.analysis.figures import COLUMN_WIDTH_IN, paper_style, save_figure

    with paper_style() as plt:
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, 2.6))
        ax.plot(doc["spline_path_A"], doc["spline_energies_eV"], "-", color="tab:blue", label="spline")
        ax.plot(doc["path_A"], doc["relative_energies_eV"], "o", color="tab:blue", label="images")
        ci = doc["climbing_image"]
        ax.plot([doc["path_A"][ci]], [doc["relative_energies_eV"][ci]], "*", ms=9, color="tab:red",
                label="climbing image")
        ax.axhline(0.0, color="0.7", lw=0.8)
        ax.set_xlabel("reaction coordinate (Å)")
        ax.set_ylabel(r"$E - E_\mathrm{initial}$ (eV)")
        status = "" if doc["converged"] else ", NOT converged"
        ax.set_title(f"{doc['label']}\n{doc['preset']}, {doc['n_images']} images{status}")
        ax.text(0.02, 0.95, f"$E_a^\\rightarrow$ = {doc['Ea_forward_eV']:.3f} eV\n"
                f"$E_a^\\leftarrow$ = {doc['Ea_reverse_eV']:.3f} eV\n$\\Delta E$ = {doc['dE_eV']:+.3f} eV",
                transform=ax.transAxes, va="top")
        ax.legend(loc="upper right")
        save_figure(fig, output)


def _depth(row: dict[str, Any]) -> float | None:
    """x position on the depth axis: 0 in the film, 0.5 across the interface, k in layer k, k + 0.5 between k, k+1."""
    kind, layer = row["region"], row["to_layer"]
    if kind == "interlayer":
        return 0.0
    if kind == "across-interface":
        return 0.5
    if kind == "in-layer" and layer:
        return float(layer)
    if kind == "between-layers" and layer:
        return layer + 0.5
    return None


def plot_barriers(rows: list[dict[str, Any]], output: Path) -> None:
    """Forward barrier of every computed hop versus depth, one marker per system (column width).

    Parameters
    ----------
    rows
        Rows of :func:`barrier_rows` (one preset).
    output
        Image file (.png, .svg or .pdf); a vector file gets a 300-dpi png beside it.
    """
    from spillover.analysis.figures import COLUMN_WIDTH_IN, paper_style, preset_text, save_figure, system_name

    with paper_style() as plt:
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, 2.8))
        systems = sorted({r["system"] for r in rows})
        ticks: set[float] = set()
        for k, system in enumerate(systems):
            mine = [r for r in rows if r["system"] == system and r["Ea_forward_eV"] is not None
                    and _depth(r) is not None]
            xs = [_depth(r) + 0.08 * (k - (len(systems) - 1) / 2) for r in mine]
            ax.scatter(xs, [r["Ea_forward_eV"] for r in mine], s=12, marker="os^v"[k % 4],
                       label=system_name(system) or "bands")
            bad = [(x, r["Ea_forward_eV"]) for x, r in zip(xs, mine) if not r["converged"]]
            if bad:
                ax.scatter(*zip(*bad), facecolors="none", edgecolors="k", s=40,
                           label="not converged" if k == 0 else None)
            ticks.update(_depth(r) for r in mine)
        names = {0.0: "film", 0.5: r"L1$\to$film"}
        order = sorted(ticks)
        ax.set_xticks(order, [names.get(t, f"L{int(t)}" if t == int(t) else f"L{int(t) + 1}$\\to$L{int(t)}")
                              for t in order], rotation=30, ha="right")
        ax.set_xlabel("where the hop runs (L1: support layer at the interface)")
        ax.set_ylabel(r"$E_a$ forward (eV)")
        ax.set_title(f"O-vacancy hops ({preset_text({r['preset'] for r in rows})})")
        ax.legend()
        save_figure(fig, output)


def plot_hop_path(rows: list[dict[str, Any]], output: Path, layers: tuple[int, ...] = (3, 4, 5)) -> None:
    """The energy landscape along the best path of each system, side by side (vacancy levels and saddles).

    Parameters
    ----------
    rows
        Rows of :func:`hop_path_rows` (one preset).
    output
        Image file (.png, .svg or .pdf); a vector file gets a 300-dpi png beside it.
    layers
        Start layers drawn (those with a path).
    """
    from spillover.analysis.figures import (
        COLUMN_WIDTH_IN, DOUBLE_WIDTH_IN, paper_style, preset_text, save_figure, system_name,
    )

    systems = sorted({r["system"] for r in rows})
    width = COLUMN_WIDTH_IN if len(systems) == 1 else DOUBLE_WIDTH_IN
    with paper_style() as plt:
        fig, axes = plt.subplots(1, len(systems), figsize=(width, 2.8), sharey=True, squeeze=False)
        for ax, system in zip(axes[0], systems):
            for r in (r for r in rows if r["system"] == system and r["from_layer"] in layers and r["levels_eV"]):
                xs, ys = [], []
                for k, level in enumerate(r["levels_eV"]):
                    xs += [k - 0.3, k + 0.3] if k % 2 == 0 else [k]
                    ys += [level, level] if k % 2 == 0 else [level]
                ax.plot(xs, ys, "-", label=f"from L{r['from_layer']}: $E_\\mathrm{{eff}}$ = {r['E_eff_eV']:.2f} eV")
            ax.axhline(0.0, color="0.7", lw=0.8)
            ax.set_title(system_name(system))
            ax.set_xlabel("vacancy sites (even) and saddles (odd)")
            ax.legend()
        axes[0][0].set_ylabel(r"$E - E_\mathrm{start}$ (eV)")
        fig.suptitle(f"best vacancy paths to the interface ({preset_text({r['preset'] for r in rows})})")
        save_figure(fig, output)



def run_summary(store: Any, run_id: str, preset: str) -> str:
    """The barrier table of one run, as ``spillover run`` prints it."""
    from spillover.analysis.tables import render

    rows = barrier_rows(store, run_id=run_id)
    paths = hop_path_rows(store, run_id=run_id)
    parts = []
    if rows:
        parts += ["Vacancy migration barriers\n", render(rows, COLUMNS, "md")]
    if paths:
        parts += ["\nBest vacancy paths to the interface\n", render(paths, PATH_COLUMNS, "md")]
    return "\n".join(parts)
