"""The O level along the path, the transfer energies and the verdict, recomputed from stored calculations.

docs/science.md, "Quantities": in each system's relaxed cell, for an occupied lattice site
``E_b = E(cell) - E(cell without that O) - 1/2 E(O2)``, for an empty site
``E_b = E(cell with O) - E(cell) - 1/2 E(O2)``; O moves towards lower E_b. The transfer energy
``dE(k -> j) = E(cell with the O of layer k moved to j) - E(cell)`` needs no O2 reference and
decides the verdict (:mod:`spillover.analysis.verdict`). Only converged relaxations give numbers; an
unconverged one is a row with ``converged: false`` and no energy.
"""

from __future__ import annotations

from typing import Any

from spillover.analysis.query import newest_documents
from spillover.analysis.tables import Column
from spillover.errors import InputError

REGION_ORDER = ("bulk-reference", "support", "interlayer", "interface", "ru-interstitial", "ru-surface", "bare-slab")
COLUMNS = [
    Column("system", "system"),
    Column("region", "region"),
    Column("layer", "layer"),
    Column("site", "site"),
    Column("occupied", "occupied"),
    Column("E_b_eV", "E_b (eV)", "{:+.3f}"),
    Column("converged", "converged"),
    Column("multiplicity", "equiv."),
    Column("preset", "preset"),
    Column("job_ids", "job ids (calc, reference, O2)", "{:.8}"),
]
TRANSFER_COLUMNS = [
    Column("system", "system"),
    Column("from_layer", "from layer"),
    Column("from_site", "O moved"),
    Column("to_site", "to site"),
    Column("dE_eV", "dE (eV)", "{:+.3f}"),
    Column("distance_A", "distance (Å)", "{:.2f}"),
    Column("converged", "converged"),
    Column("preset", "preset"),
    Column("job_ids", "job ids (transfer, cell)", "{:.8}"),
]
VERDICT_COLUMNS = [
    Column("system", "system"),
    Column("deep_transfer_eV", "deep dE (eV)", "{:+.3f}"),
    Column("E_eff_eV", "E_eff (eV)", "{:.2f}"),
    Column("signature", "signature"),
    Column("reason", "reason"),
]


class _Energies:
    """Stored energies by job uuid, fetched once, presets never mixed."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self._docs: dict[str, dict] = {}

    def output(self, uuid: str) -> dict:
        if uuid not in self._docs:
            doc = self.store.query_one({"uuid": uuid}, properties=["output"])
            if doc is None:
                raise InputError("--db", f"calculation {uuid} named by the profile is not in the database")
            self._docs[uuid] = doc["output"]
        return self._docs[uuid]

    def energy(self, uuid: str, preset: str) -> float:
        out = self.output(uuid)
        if out["preset"] != preset:
            raise InputError("preset", f"calculation {uuid} is at preset {out['preset']}, the profile at {preset}; "
                             "presets are never mixed")
        return float(out["energy_eV"])



#: The keys ``spillover table mu-profile --format json`` prints (and ``spillover.api.table``).
PROFILE_JSON_KEYS = ("system", "support", "region", "layer", "site", "occupied", "E_b_eV", "converged",
                     "multiplicity", "preset", "job_ids")
#: The keys ``spillover table transfer --format json`` prints.
TRANSFER_JSON_KEYS = ("system", "from_layer", "to_site", "dE_eV", "distance_A", "preset", "job_ids")


def _sort_key(row: dict) -> tuple:
    return (row["system"], REGION_ORDER.index(row["region"]), row["layer"] if row["layer"] is not None else 0,
            row["site"])


def _profiles(store: Any, preset: str | None, run_id: str | None, system: str | None) -> list[dict]:
    return newest_documents(store, "mu-profile", lambda o: (o["system"], o["preset"]), preset, run_id,
                            filters={"system": system})


def profile_rows(store: Any, preset: str | None = None, run_id: str | None = None,
                 system: str | None = None) -> list[dict[str, Any]]:
    """One row per computed site of the newest profile of each system (and preset).

    Every final relaxation of every funnel is a row (the survivors the funnel kept); the bulk
    reference and bare-slab vacancies too. E_b is recomputed from the stored energies.
    """
    from spillover.jobs.mu_profile import site_label

    energies = _Energies(store)
    rows = []
    for doc in _profiles(store, preset, run_id, system):
        out = doc["output"]
        p, half_o2 = out["preset"], 0.5 * energies.energy(out["o2_job_id"], out["preset"])
        e_cell = energies.energy(out["cell_job_id"], p)
        base = {"system": out["system"], "support": out["support"], "preset": p}
        for f in out["funnels"]:
            funnel = energies.output(f["job_id"])
            for calc in funnel.get("survivors", []):
                index = calc["metadata"]["funnel"]["candidate"]
                info = funnel["candidates"][index]["info"]
                e_b = None
                if calc["converged"]:
                    e = float(calc["energy_eV"])
                    e_b = e_cell - e - half_o2 if f["occupied"] else e - e_cell - half_o2
                rows.append({**base, "region": f["region"], "layer": f["layer"], "site": site_label(f["region"], info),
                             "occupied": f["occupied"], "E_b_eV": e_b, "converged": bool(calc["converged"]),
                             "multiplicity": info.get("multiplicity"),
                             "job_ids": [f["job_id"], out["cell_job_id"], out["o2_job_id"]]})
        for h in out["hosts"]:
            e_b = energies.energy(h["with_job_id"], p) - energies.energy(h["without_job_id"], p) - half_o2
            converged = all(energies.output(u).get("converged", True) for u in (h["with_job_id"], h["without_job_id"]))
            rows.append({**base, "region": h["region"], "layer": h["layer"], "site": h["site"], "occupied": True,
                         "E_b_eV": e_b if converged else None, "converged": converged,
                         "multiplicity": h["multiplicity"],
                         "job_ids": [h["without_job_id"], h["with_job_id"], out["o2_job_id"]]})
    return sorted(rows, key=_sort_key)


def transfer_rows(store: Any, preset: str | None = None, run_id: str | None = None,
                  system: str | None = None) -> list[dict[str, Any]]:
    """One row per move of the newest transfer document of each system: dE recomputed, no O2 reference."""
    energies = _Energies(store)
    rows = []
    for doc in newest_documents(store, "transfer", lambda o: (o["system"], o["preset"]), preset, run_id,
                                filters={"system": system}):
        out = doc["output"]
        e_cell = energies.energy(out["cell_job_id"], out["preset"])
        for m in out["moves"]:
            calc = m["calc"]
            if calc["preset"] != out["preset"]:
                raise InputError("preset", f"a move of {out['system']} is at preset {calc['preset']}; presets are never mixed")
            rows.append({
                "system": out["system"], "from_layer": m["from_layer"], "from_site": m["from_site"],
                "to_region": m["to_region"], "to_site": m["to_site"],
                "dE_eV": float(calc["energy_eV"]) - e_cell if calc["converged"] else None,
                "distance_A": m["distance_A"], "converged": bool(calc["converged"]), "preset": out["preset"],
                "job_ids": [doc["uuid"], out["cell_job_id"]],
            })
    return sorted(rows, key=lambda r: (r["system"], r["from_layer"], r["dE_eV"] if r["dE_eV"] is not None else 1e9))


def verdicts(store: Any, preset: str | None = None, run_id: str | None = None,
             system: str | None = None) -> list[dict[str, Any]]:
    """The verdict of each profiled system, with the thresholds its study set and E_eff where a network is stored."""
    from spillover.analysis.barriers import hop_path_rows
    from spillover.analysis.verdict import max_barrier_eV, verdict_rows
    from spillover.sections.mu_profile import VerdictSettings

    transfers = [r for r in transfer_rows(store, preset, run_id, system) if r["dE_eV"] is not None]
    paths = hop_path_rows(store, run_id=run_id, preset=preset, system=system)
    out = []
    for doc in _profiles(store, preset, run_id, system):
        settings = VerdictSettings(**doc["output"]["settings"]["verdict"])
        name = doc["output"]["system"]
        mine = [r for r in transfers if r["system"] == name and r["preset"] == doc["output"]["preset"]]
        barriers = [r for r in paths if r["system"] == name and r["preset"] == doc["output"]["preset"]]
        rows = verdict_rows(mine, barriers, settings)
        if not rows:  # no converged move: say so with the thresholds
            rows = [{"system": name, "transfer_dE_eV": {}, "deep_transfer_eV": None, "deep_from_layer": None,
                     "deep_to_site": None, "E_eff_eV": None, "rate_per_s": None, "signature": None,
                     "reason": "no converged transfer stored: thermodynamics undetermined",
                     "thresholds": {**settings.model_dump(), "max_barrier_eV": max_barrier_eV(settings)},
                     "job_ids": [], "preset": doc["output"]["preset"]}]
        out += rows
    return sorted(out, key=lambda r: r["system"])


def finite_size(rows: list[dict]) -> dict[str, dict[str, float]]:
    """Per support: E_b of the bulk vacancy in the smallest and largest supercell and their difference (eV)."""
    out = {}
    for support in sorted({r["support"] for r in rows}):
        bulk = [r for r in rows if r["support"] == support and r["region"] == "bulk-reference" and r["E_b_eV"] is not None]
        bulk = sorted({r["site"]: r for r in bulk}.values(), key=lambda r: r["multiplicity"])
        if len(bulk) >= 2:
            out[support] = {"small_eV": bulk[0]["E_b_eV"], "large_eV": bulk[-1]["E_b_eV"],
                            "change_eV": bulk[-1]["E_b_eV"] - bulk[0]["E_b_eV"],
                            "small": bulk[0]["site"], "large": bulk[-1]["site"]}
    return out


def notes(store: Any, rows: list[dict], preset: str | None = None, run_id: str | None = None) -> list[str]:
    """Lines printed under the table: the formulas, excluded relaxations, image distances, finite size."""
    from spillover.build.mu_profile import PROFILE_IMAGE_DISTANCE_A

    lines = ["E_b = E(cell) - E(cell without O) - 1/2 E(O2) (occupied), E(cell with O) - E(cell) - 1/2 E(O2) (empty); "
             "O moves towards lower E_b."]
    excluded = sum(1 for r in rows if not r["converged"])
    if excluded:
        lines.append(f"{excluded} relaxation(s) did not converge: listed without E_b, not used.")
    for doc in _profiles(store, preset, run_id, None):
        out = doc["output"]
        if out["system"] not in {r["system"] for r in rows}:
            continue
        if out["image_distance_A"] < PROFILE_IMAGE_DISTANCE_A:
            lines.append(f"{out['system']}: a defect is {out['image_distance_A']:.2f} Å from its in-plane image, "
                         f"below {PROFILE_IMAGE_DISTANCE_A:g} Å.")
        for failure in out["failed"]:
            lines.append(f"{out['system']}: {failure}.")
    for support, fs in finite_size(rows).items():
        lines.append(f"{support}: bulk vacancy E_b {fs['small_eV']:+.3f} ({fs['small']}) -> {fs['large_eV']:+.3f} eV "
                     f"({fs['large']}), finite-size change {fs['change_eV']:+.3f} eV.")
    return lines


def _x_of(row: dict, depth: int) -> float:
    """Position along the path: deep bulk, support L..1, interlayer, interface, Ru gaps, Ru surface."""
    region, layer = row["region"], row["layer"]
    if region == "bulk-reference":
        return 0.0
    if region == "support":
        return 1.0 + depth - layer
    gap = layer or 1
    return depth + {"interlayer": 1.0, "interface": 2.0, "ru-interstitial": 2.0 + gap, "ru-surface": 6.0}[region]


def plot_profile(rows: list[dict], output: str) -> None:
    """The O level of every computed site along the path, the systems side by side (page width; svg, pdf or png)."""
    from spillover.analysis.figures import DOUBLE_WIDTH_IN, paper_style, preset_text, save_figure, system_name

    rows = [r for r in rows if r["E_b_eV"] is not None and r["region"] != "bare-slab"]
    systems = sorted({r["system"] for r in rows})
    depth = max((r["layer"] for r in rows if r["region"] == "support"), default=1)
    with paper_style() as plt:
        fig, ax = plt.subplots(figsize=(DOUBLE_WIDTH_IN, 3.4))
        colours = plt.get_cmap("tab10")
        width = 0.6 / max(len(systems), 1)
        for k, system in enumerate(systems):
            mine = [r for r in rows if r["system"] == system]
            offset = (k - (len(systems) - 1) / 2) * width
            for occupied, marker in ((True, "o"), (False, "s")):
                pts = [(_x_of(r, depth) + offset, r["E_b_eV"]) for r in mine if r["occupied"] == occupied]
                if pts:
                    ax.scatter(*zip(*pts), marker=marker, s=14, color=colours(k),
                               facecolors=colours(k) if occupied else "none",
                               label=f"{system_name(system)} ({'occupied' if occupied else 'empty'})")
        ticks = {0.0: "bulk ref."} | {1.0 + depth - k: f"L{k}" for k in range(1, depth + 1)}
        ticks |= {depth + 1.0: r"RuO$_2$", depth + 2.0: "interface", depth + 3.0: "Ru gap 1", depth + 4.0: "Ru gap 2",
                  depth + 5.0: "Ru gap 3", depth + 6.0: "Ru surface"}
        present = {_x_of(r, depth) for r in rows}
        ticks = {x: name for x, name in ticks.items() if x in present}  # the regions these systems have
        ax.set_xticks(list(ticks), list(ticks.values()), rotation=30, ha="right")
        ax.set_title(f"O level along the path, each system in its own cell ({preset_text({r['preset'] for r in rows})})")
        ax.set_ylabel(r"$E_b$ (eV per O, vs $\frac{1}{2}E(\mathrm{O_2})$)")
        # beside the axes, not on them: a legend inside covers sites wherever E_b happens to fall
        fig.legend(loc="outside lower center", ncol=2)
        save_figure(fig, output)


def plot_transfer(rows: list[dict], output: str) -> None:
    """dE(k -> j) versus the depth k of the moved O, per system (the lowest over j joined by a line; column width)."""
    from spillover.analysis.figures import COLUMN_WIDTH_IN, paper_style, preset_text, save_figure, system_name

    rows = [r for r in rows if r["dE_eV"] is not None]
    with paper_style() as plt:
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, 2.8))
        for k, system in enumerate(sorted({r["system"] for r in rows})):
            mine = [r for r in rows if r["system"] == system]
            colour = plt.get_cmap("tab10")(k)
            ax.scatter([r["from_layer"] for r in mine], [r["dE_eV"] for r in mine], s=8, color=colour, alpha=0.5)
            layers = sorted({r["from_layer"] for r in mine})
            ax.plot(layers, [min(r["dE_eV"] for r in mine if r["from_layer"] == k) for k in layers], "-o",
                    color=colour, label=system_name(system))
        ax.axhline(0.0, color="0.6", lw=0.8)
        ax.set_xticks(sorted({r["from_layer"] for r in rows}))
        ax.set_title(f"Lattice O moved into the interface or the Ru ({preset_text({r['preset'] for r in rows})})")
        ax.set_xlabel("support layer k of the moved O (1: at the interface)")
        ax.set_ylabel(r"$\Delta E(k \to j)$ (eV)")
        ax.legend()
        save_figure(fig, output)


def run_summary(store: Any, run_id: str, preset: str) -> str:
    """The profile, transfer and verdict tables of one run, as ``spillover run`` prints them."""
    from spillover.analysis.tables import render
    from spillover.analysis.verdict import thresholds_line, verdict_line
    from spillover.sections.mu_profile import VerdictSettings

    rows = profile_rows(store, preset=preset, run_id=run_id)
    if not rows:
        return ""
    parts = [f"O level along the path, each system in its own cell ({preset})\n", render(rows, COLUMNS, "md"), "",
             *notes(store, rows, preset, run_id)]
    moves = transfer_rows(store, preset=preset, run_id=run_id)
    if moves:
        parts += ["", f"Transfer energies dE(k -> j) = E(cell with the O moved) - E(cell) ({preset})\n",
                  render(moves, TRANSFER_COLUMNS, "md")]
    found = verdicts(store, preset=preset, run_id=run_id)
    if found:
        used = {k: v for k, v in found[0]["thresholds"].items() if k in VerdictSettings.model_fields}
        parts += ["", thresholds_line(VerdictSettings(**used)), *(verdict_line(v) for v in found)]
    return "\n".join(parts)
