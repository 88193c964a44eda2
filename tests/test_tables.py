"""Table rendering in every format."""

from __future__ import annotations

import csv
import io
import json

from spillover.analysis.tables import Column, render

ROWS = [{"name": "a_b", "value": 1.23456, "pair": [1.0, -2.0]}, {"name": "c", "value": None, "pair": [0.5, 0.25]}]
COLS = [Column("name", "name"), Column("value", "value (eV)", "{:.3f}"), Column("pair", "pair", "{:+.1f}")]


def test_markdown():
    lines = render(ROWS, COLS, "md").splitlines()
    assert lines[0].split("|")[1].strip() == "name"
    assert "1.235" in lines[2] and "+1.0 -2.0" in lines[2]
    assert lines[3].split("|")[2].strip() == "-"


def test_csv_roundtrip():
    rows = list(csv.reader(io.StringIO(render(ROWS, COLS, "csv"))))
    assert rows[0] == ["name", "value (eV)", "pair"]
    assert rows[1] == ["a_b", "1.235", "+1.0 -2.0"]


def test_latex_escapes():
    text = render(ROWS, COLS, "latex")
    assert text.startswith(r"\begin{tabular}{lll}") and r"a\_b" in text


def test_json_keeps_full_precision():
    assert json.loads(render(ROWS, COLS, "json"))[0]["value"] == 1.23456
