"""Verdict per system (docs/science.md, Quantities: Verdict) on hand-made rows."""

from __future__ import annotations

import math

import pytest

from spillover.analysis.verdict import max_barrier_eV, thresholds_line, verdict_line, verdict_rows
from spillover.sections.mu_profile import VerdictSettings
from pydantic import ValidationError

S = VerdictSettings()
SYS = "rutile-110/Ru-0001"
# kT at 600 K = 8.617333262e-5 * 600 = 0.0517040 eV; E_max = kT ln(1e13 / 1) = 0.051704 * 29.9336 = 1.5477 eV


def t(layer: int, dE: float, site: str = "interface hollow #3", system: str = SYS, job: str | None = None) -> dict:
    return {"system": system, "from_layer": layer, "to_site": site, "dE_eV": dE, "distance_A": 5.0,
            "preset": "gpaw-test", "job_ids": [job or f"t-{system}-{layer}-{site}"]}


def b(layer: int, e_eff: float | None, system: str = SYS) -> dict:
    return {"system": system, "from_layer": layer, "E_eff_eV": e_eff, "job_ids": [f"b-{layer}"]}


def one(transfers: list[dict], barriers: list[dict] | None = None, settings: VerdictSettings = S) -> dict:
    rows = verdict_rows(transfers, barriers, settings)
    assert len(rows) == 1
    return rows[0]


def test_downhill_with_fast_barrier_shows_signature():
    # deep dE -0.4 <= +0.3; rate = 1e13 exp(-1.2 / 0.051704) = 1e13 * 8.34e-11 = 834 /s >= 1 /s
    row = one([t(1, 0.5), t(4, -0.4)], [b(4, 1.2)])
    assert row["signature"] is True
    assert row["deep_transfer_eV"] == -0.4 and row["deep_from_layer"] == 4
    assert row["E_eff_eV"] == 1.2
    assert row["rate_per_s"] == pytest.approx(834, rel=0.01)
    assert row["rate_per_s"] == pytest.approx(1e13 * math.exp(-1.2 / (8.617333262e-5 * 600)))
    assert row["job_ids"] == [f"t-{SYS}-4-interface hollow #3", "b-4"]
    assert row["preset"] == "gpaw-test"
    assert "-0.40 eV <= +0.30 eV" in row["reason"] and "1.20 eV <= 1.55 eV" in row["reason"]


def test_uphill_fails_with_or_without_barrier():
    # +0.9 > 0.3 + 0.05: False whatever the barrier (1.0 eV -> rate 4e4 /s would pass kinetics)
    good = one([t(3, 0.9)], [b(3, 1.0)])
    assert good["signature"] is False
    assert good["rate_per_s"] > 1.0
    none = one([t(3, 0.9)], None)
    assert none["signature"] is False and none["E_eff_eV"] is None and none["rate_per_s"] is None
    assert "+0.90 eV > +0.30 eV" in none["reason"] and "thermodynamics fails" in none["reason"]


def test_transfer_within_tolerance_passes_and_outside_fails():
    # +0.33 - 0.30 = 0.03 < 0.05: equal -> passes; +0.36 - 0.30 = 0.06 > 0.05 -> fails
    inside = one([t(5, 0.33)], [b(5, 1.2)])
    assert inside["signature"] is True
    assert "within tolerance" in inside["reason"]
    outside = one([t(5, 0.36)], [b(5, 1.2)])
    assert outside["signature"] is False
    assert "within tolerance" not in outside["reason"]


def test_barrier_within_tolerance_of_max_barrier():
    # E_max = 1.5477 eV: 1.58 is 0.032 above (equal -> passes, rate 0.53 /s); 1.61 is 0.062 above (fails)
    assert max_barrier_eV(S) == pytest.approx(1.5477, abs=1e-3)
    near = one([t(3, -0.1)], [b(3, 1.58)])
    assert near["signature"] is True and near["rate_per_s"] < 1.0
    assert "within tolerance" in near["reason"]
    assert one([t(3, -0.1)], [b(3, 1.61)])["signature"] is False


def test_missing_barrier_is_undetermined():
    row = one([t(3, -0.2)], [])
    assert row["signature"] is None
    assert row["E_eff_eV"] is None and row["rate_per_s"] is None
    assert "barrier not computed: kinetics undetermined" in row["reason"]
    # barrier rows of shallow layers only, or with E_eff None, do not count
    assert one([t(3, -0.2)], [b(1, 0.5), b(4, None)])["signature"] is None


def test_slow_kinetics_fails():
    # rate = 1e13 exp(-2.0 / 0.051704) = 1e13 * 1.6e-17 = 1.6e-4 /s < 1 /s (2.0 > 1.55 + 0.05)
    row = one([t(4, -0.4)], [b(4, 2.0)])
    assert row["signature"] is False
    assert row["rate_per_s"] == pytest.approx(1.6e-4, rel=0.05)
    assert "kinetics fails" in row["reason"]


def test_shallow_layers_only_is_undetermined_and_names_missing_layers():
    row = one([t(1, -1.0), t(2, -0.8)], [b(1, 0.3)])
    assert row["signature"] is None
    assert row["deep_transfer_eV"] is None and row["deep_from_layer"] is None
    assert row["transfer_dE_eV"] == {"1": -1.0, "2": -0.8}
    assert "L3-5" in row["reason"]
    # a thinner cell (layers 1..4): layer 5 is named as missing, verdict still from L3-4
    thin = one([t(3, 0.1), t(4, 0.2)])
    assert thin["deep_from_layer"] == 3 and "no transfer stored from L5" in thin["reason"]


def test_lowest_over_sites_and_layers_is_taken():
    rows = [t(3, 0.20, "interface hollow #1"), t(3, -0.10, "interface hollow #2"), t(3, 0.05, "Ru interlayer"),
            t(4, -0.30, "Ru interlayer", job="J4"), t(4, 0.40, "interface hollow #1"),
            t(5, -0.25, "interface hollow #2"), t(1, -2.0, "interface hollow #1")]
    row = one(rows)
    # per layer: L1 -2.0 (shallow, not deep), L3 -0.10, L4 -0.30, L5 -0.25 -> deep: L4 -> Ru interlayer -0.30
    assert row["transfer_dE_eV"] == {"1": -2.0, "3": -0.10, "4": -0.30, "5": -0.25}
    assert row["deep_transfer_eV"] == -0.30
    assert (row["deep_from_layer"], row["deep_to_site"]) == (4, "Ru interlayer")
    assert row["job_ids"] == ["J4"]


def test_two_systems_sorted_and_barrier_lowest_deep_layer():
    rows = verdict_rows([t(3, -0.4, system="rutile-110/Ru"), t(3, 0.9, system="anatase-101/Ru")],
                        [b(3, 1.4, "rutile-110/Ru"), b(4, 1.1, "rutile-110/Ru"), b(2, 0.1, "rutile-110/Ru")], S)
    assert [r["system"] for r in rows] == ["anatase-101/Ru", "rutile-110/Ru"]
    assert [r["signature"] for r in rows] == [False, True]
    assert rows[1]["E_eff_eV"] == 1.1  # lowest over deep layers 3, 4; layer 2 (0.1) ignored


def test_thresholds_printed_in_lines():
    custom = VerdictSettings(transfer_threshold_eV=0.2, temperature_K=500.0, min_rate_per_s=10.0)
    row = one([t(4, -0.42)], None, custom)
    line = verdict_line(row)
    assert line.startswith(f"{SYS}: signature undetermined — deep transfer (L3-5) -0.42 eV (L4 -> interface hollow #3)")
    assert "threshold +0.20 eV ± 0.05" in line and "E_eff not computed (500 K, 1e13 /s, >= 10 hop/s)" in line
    assert row["thresholds"]["transfer_threshold_eV"] == 0.2 and row["thresholds"]["deep_layers"] == [3, 4, 5]
    # E_max at 500 K, 10 /s: 0.0430867 * ln(1e12) = 0.0430867 * 27.631 = 1.19 eV
    assert thresholds_line(custom) == ("verdict thresholds: deep layers L3-5, dE <= +0.20 eV ± 0.05 eV; "
                                       "rate >= 10 hop/s at 500 K with nu = 1e13 /s (E_eff <= 1.19 eV)")
    shown = verdict_line(one([t(4, -0.4)], [b(4, 1.2)]))
    assert "signature shown" in shown and "E_eff 1.20 eV, rate 8.3e2 /s (600 K" in shown
    assert shown.endswith("; computed at gpaw-test")  # the level of theory of the numbers behind it


def test_settings_check_types_and_ranges():
    for bad in ({"temperature_K": "600"}, {"deep_layers": [3, "4"]}, {"deep_layers": [3, 3]}, {"tolerance_eV": -0.1},
                {"prefactor_per_s": True}, {"min_rate_per_s": 0}):
        with pytest.raises(ValidationError):
            VerdictSettings(**bad)
    assert VerdictSettings(deep_layers=[3, 4]).deep_layers == [3, 4]
