"""Spillover verdict per system from stored transfer energies and effective barriers.

docs/science.md, section "Quantities" (Verdict): thermodynamics is the lowest transfer energy
dE(k -> j) over the sites j, for each deep support layer k; the deep transfer is the lowest of
those over the deep layers. Kinetics is the lowest effective barrier E_eff from the deep layers
(the minimax path of the vacancy-hop network; ``None`` until computed) and the rate
nu exp(-E_eff / kT). A system shows the signature when the deep transfer is at most the
threshold and the rate is at least ``min_rate_per_s``. Differences smaller than ``tolerance_eV``
count as equal; the rate test compares E_eff with E_max = kT ln(nu / min_rate).
Pure functions of plain row dicts; never touches the store or a calculator.
"""

from __future__ import annotations

import math
import re
from typing import Any

from spillover.sections.mu_profile import VerdictSettings

K_B_EV_PER_K = 8.617333262e-5


def kt_eV(settings: VerdictSettings) -> float:
    """k_B T of the verdict's temperature (eV)."""
    return K_B_EV_PER_K * settings.temperature_K


def max_barrier_eV(settings: VerdictSettings) -> float:
    """E_max = kT ln(prefactor / min_rate): the barrier whose rate is exactly ``min_rate_per_s``."""
    return kt_eV(settings) * math.log(settings.prefactor_per_s / settings.min_rate_per_s)


def _g(x: float) -> str:
    """Compact number: 1e13, 8.2e2, 0.5 (exponent without '+' and leading zeros)."""
    return re.sub(r"e\+?(-?)0*(\d)", r"e\1\2", f"{x:.2g}")


def _layers(layers: tuple[int, ...]) -> str:
    ks = sorted(layers)
    if len(ks) > 1 and ks == list(range(ks[0], ks[-1] + 1)):
        return f"L{ks[0]}-{ks[-1]}"
    return "L" + ",".join(str(k) for k in ks)


def thresholds_line(settings: VerdictSettings) -> str:
    """One line with the thresholds used, to print with the verdicts."""
    s = settings
    return (f"verdict thresholds: deep layers {_layers(tuple(s.deep_layers))}, dE <= {s.transfer_threshold_eV:+.2f} eV "
            f"± {s.tolerance_eV:.2f} eV; rate >= {_g(s.min_rate_per_s)} hop/s at {s.temperature_K:g} K with "
            f"nu = {_g(s.prefactor_per_s)} /s (E_eff <= {max_barrier_eV(s):.2f} eV)")


def _verdict(system: str, transfers: list[dict], barriers: list[dict], s: VerdictSettings) -> dict[str, Any]:
    lowest: dict[int, dict] = {}
    for r in transfers:
        k = int(r["from_layer"])
        if k not in lowest or r["dE_eV"] < lowest[k]["dE_eV"]:
            lowest[k] = r
    deep = [lowest[k] for k in s.deep_layers if k in lowest]
    missing = [k for k in s.deep_layers if k not in lowest]
    best = min(deep, key=lambda r: r["dE_eV"]) if deep else None
    good = [b for b in barriers if int(b["from_layer"]) in s.deep_layers and b.get("E_eff_eV") is not None]
    barrier = min(good, key=lambda b: b["E_eff_eV"]) if good else None
    e_eff = barrier["E_eff_eV"] if barrier else None
    rate = s.prefactor_per_s * math.exp(-e_eff / kt_eV(s)) if barrier else None
    thr, tol, e_max = s.transfer_threshold_eV, s.tolerance_eV, max_barrier_eV(s)
    parts: list[str] = []
    if best is None:
        thermo = None
        parts.append(f"no transfer stored from deep layers {_layers(tuple(missing))}: thermodynamics undetermined")
    else:
        dE = best["dE_eV"]
        thermo = dE <= thr + tol
        cmp = "<=" if dE <= thr else (f"within tolerance {tol:.2f} eV of" if thermo else ">")
        parts.append(f"deep transfer L{best['from_layer']} -> {best['to_site']} {dE:+.2f} eV {cmp} {thr:+.2f} eV"
                     + ("" if thermo else ": thermodynamics fails"))
        if missing:
            parts.append(f"no transfer stored from {_layers(tuple(missing))}")
    if barrier is None:
        kinetic = None
        parts.append("barrier not computed: kinetics undetermined")
    else:
        kinetic = e_eff <= e_max + tol
        cmp = "<=" if e_eff <= e_max else (f"within tolerance {tol:.2f} eV of" if kinetic else ">")
        parts.append(f"E_eff L{barrier['from_layer']} {e_eff:.2f} eV {cmp} {e_max:.2f} eV (rate {_g(rate)} /s vs "
                     f">= {_g(s.min_rate_per_s)} /s at {s.temperature_K:g} K)" + ("" if kinetic else ": kinetics fails"))
    if thermo is False or kinetic is False:
        signature = False
    elif thermo and kinetic:
        signature = True
    else:
        signature = None
    thresholds = {**s.model_dump(), "max_barrier_eV": e_max}
    return {
        "system": system,
        "transfer_dE_eV": {str(k): lowest[k]["dE_eV"] for k in sorted(lowest)},
        "deep_transfer_eV": best["dE_eV"] if best else None,
        "deep_from_layer": int(best["from_layer"]) if best else None,
        "deep_to_site": best["to_site"] if best else None,
        "E_eff_eV": e_eff,
        "rate_per_s": rate,
        "signature": signature,
        "reason": "; ".join(parts),
        "thresholds": thresholds,
        "job_ids": list(best["job_ids"] if best else []) + list(barrier["job_ids"] if barrier else []),
        "preset": best.get("preset") if best else (transfers[0].get("preset") if transfers else None),
    }


def verdict_rows(transfer_rows: list[dict], barrier_rows: list[dict] | None,
                 settings: VerdictSettings) -> list[dict[str, Any]]:
    """One verdict row per system, sorted by system.

    Parameters
    ----------
    transfer_rows
        Rows with ``system``, ``from_layer`` (int), ``to_site``, ``dE_eV``, ``distance_A``, ``preset``,
        ``job_ids``.
    barrier_rows
        Rows with ``system``, ``from_layer``, ``E_eff_eV``, ``job_ids``; ``None`` or empty until computed.
    settings
        The thresholds.

    Returns
    -------
    list of dict
        Keys ``system``, ``transfer_dE_eV`` (str(layer) -> lowest dE of that layer, every layer present),
        ``deep_transfer_eV``, ``deep_from_layer``, ``deep_to_site``, ``E_eff_eV``, ``rate_per_s``,
        ``signature`` (True, False or None = undetermined), ``reason`` (one sentence with the numbers),
        ``thresholds`` (settings as a dict plus ``max_barrier_eV``), ``job_ids`` (behind the deciding
        transfer and barrier), ``preset``.
    """
    barrier_rows = barrier_rows or []
    systems = sorted({r["system"] for r in transfer_rows} | {b["system"] for b in barrier_rows})
    return [_verdict(name, [r for r in transfer_rows if r["system"] == name],
                     [b for b in barrier_rows if b["system"] == name], settings) for name in systems]


def verdict_line(row: dict[str, Any]) -> str:
    """One human-readable line for a verdict row of :func:`verdict_rows`."""
    t = row["thresholds"]
    word = {True: "shown", False: "not shown", None: "undetermined"}[row["signature"]]
    layers = _layers(tuple(t["deep_layers"]))
    if row["deep_transfer_eV"] is None:
        thermo = f"no deep transfer ({layers}) stored"
    else:
        thermo = (f"deep transfer ({layers}) {row['deep_transfer_eV']:+.2f} eV "
                  f"(L{row['deep_from_layer']} -> {row['deep_to_site']})")
    thermo += f", threshold {t['transfer_threshold_eV']:+.2f} eV ± {t['tolerance_eV']:.2f}"
    kin = ("E_eff not computed" if row["E_eff_eV"] is None
           else f"E_eff {row['E_eff_eV']:.2f} eV, rate {_g(row['rate_per_s'])} /s")
    cond = f"{t['temperature_K']:g} K, {_g(t['prefactor_per_s'])} /s, >= {_g(t['min_rate_per_s'])} hop/s"
    level = f"; computed at {row['preset']}" if row.get("preset") else ""
    return f"{row['system']}: signature {word} — {thermo}; {kin} ({cond}){level}"
