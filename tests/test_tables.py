"""Table rendering in every format."""

from __future__ import annotations

import csv
import importlib
import io
import json
import os
import pkgutil
import re
import shutil
import subprocess
import sys
from typing import Any

import pytest

import spillover.analysis
from spillover.analysis.tables import LATEX_SYMBOLS, Column, latex_escape, render

ROWS = [{"name": "a_b", "value": 1.23456, "pair": [1.0, -2.0]}, {"name": "c", "value": None, "pair": [0.5, 0.25]}]
COLS = [Column("name", "name"), Column("value", "value (eV)", "{:.3f}"), Column("pair", "pair", "{:+.1f}")]
# Lists of different lengths, booleans and None in one table.
MIXED = [{"name": "x", "strain": [1.5, -0.25, 3.0], "ok": True, "note": None},
         {"name": "y", "strain": [2.0], "ok": False, "note": "n/a"}]
MIXED_COLS = [Column("name", "name"), Column("strain", "strain (%)", "{:+.2f}"), Column("ok", "converged"),
              Column("note", "note")]
# Everything LaTeX could choke on, in headers and in cells.
AWKWARD = [
    {"system": "rutile-110/Ru_2O_3", "area": 57.1234, "strain": [1.5, -0.25], "dmu": None, "ok": True,
     "note": r"50% & #1 {x}^2 ~ \ $5 <a|b> -> 10 Å² Δγ μ ⁻¹ → ≤ ≥ ± × · ° O₂ x³"},
    {"system": "anatase_101", "area": 60.0, "strain": [0.1], "dmu": -1.25, "ok": False, "note": None},
]
AWKWARD_COLS = [Column("system", "system_name"), Column("area", "area (Å²)", "{:.2f}"),
                Column("strain", "strain a, b (%)", "{:+.2f}"), Column("dmu", "Δμ_O (eV)", "{:+.3f}"),
                Column("ok", "converged & ok"), Column("note", "note #1 {raw}")]


class _PairColumn(Column):
    """A column that builds its cell from two keys, like oxidation's job-id and candidate columns."""

    def text(self, row: dict[str, Any]) -> str:
        return f"{row['i']}/{row['s']}"


def project_columns() -> dict[str, list[Column]]:
    """Every column list of the analysis modules, by ``module.NAME``."""
    found = {}
    for info in pkgutil.iter_modules(spillover.analysis.__path__):
        module = importlib.import_module(f"spillover.analysis.{info.name}")
        for name, value in vars(module).items():
            if isinstance(value, list) and value and all(isinstance(c, Column) for c in value):
                found[f"{info.name}.{name}"] = value
    return found


def _csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_markdown():
    lines = render(ROWS, COLS, "md").splitlines()
    assert lines[0].split("|")[1].strip() == "name"
    assert set(lines[1]) <= {"|", "-"}
    assert "1.235" in lines[2] and "+1.0 -2.0" in lines[2]
    assert lines[3].split("|")[2].strip() == "-"


def test_markdown_lists_and_booleans():
    lines = render(MIXED, MIXED_COLS, "md").splitlines()
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    assert cells[0] == ["name", "strain (%)", "converged", "note"]
    assert cells[2] == ["x", "+1.50 -0.25 +3.00", "true", "-"]
    assert cells[3] == ["y", "+2.00", "false", "n/a"]
    assert len({len(line) for line in lines}) == 1  # padded to a grid


def test_markdown_escapes_pipes():
    text = render([{"name": "a|b"}], [Column("name", "name")], "md")
    assert r"a\|b" in text


def test_csv_one_value_per_cell():
    rows = _csv_rows(render(ROWS, COLS, "csv"))
    assert rows[0] == ["name", "value (eV)", "pair [1]", "pair [2]"]
    assert rows[1] == ["a_b", "1.235", "+1.0", "-2.0"]
    assert rows[2] == ["c", "", "+0.5", "+0.2"]  # None is an empty cell


def test_csv_list_columns_split_to_the_longest_list():
    rows = _csv_rows(render(MIXED, MIXED_COLS, "csv"))
    assert rows == [
        ["name", "strain (%) [1]", "strain (%) [2]", "strain (%) [3]", "converged", "note"],
        ["x", "+1.50", "-0.25", "+3.00", "true", ""],
        ["y", "+2.00", "", "", "false", "n/a"],
    ]


def test_csv_column_with_its_own_text_is_one_cell():
    rows = _csv_rows(render([{"i": 3, "s": [1, 2]}], [_PairColumn("i", "configs (i/s)")], "csv"))
    assert rows == [["configs (i/s)"], ["3/[1, 2]"]]


def test_latex_booktabs_layout():
    lines = render(ROWS, COLS, "latex").splitlines()
    assert lines[0] == r"\begin{tabular}{lrr}"  # numbers (and lists of numbers) right-aligned
    assert lines[1] == r"\toprule" and lines[3] == r"\midrule" and lines[-2:] == [r"\bottomrule", r"\end{tabular}"]
    assert [c.strip() for c in lines[4].removesuffix(r"\\").split("&")] == [r"a\_b", "1.235", "+1.0 -2.0"]
    assert all(line.endswith(r"\\") for line in (lines[2], lines[4], lines[5]))


def test_latex_without_rows_keeps_the_columns():
    assert render([], COLS, "latex").splitlines()[0] == r"\begin{tabular}{lll}"


def test_latex_booleans_and_none():
    text = render(MIXED, MIXED_COLS, "latex")
    assert " true " in text and " false " in text and "True" not in text
    assert "+1.50 -0.25 +3.00" in text


def test_latex_escapes_specials_and_symbols():
    assert latex_escape(r"a&b%c$d#e_f{g}h~i^j\k") == (
        r"a\&b\%c\ensuremath{\$}d\#e\_f\{g\}h\textasciitilde{}i\textasciicircum{}j\textbackslash{}k")
    assert latex_escape("10 Å²") == r"10 \AA{}\ensuremath{^{2}}"
    assert latex_escape("s⁻¹ → x") == r"s\ensuremath{^{-1}} \ensuremath{\rightarrow} x"
    assert latex_escape("Δγ") == r"\ensuremath{\Delta}\ensuremath{\gamma}"  # no "$$" between two symbols
    assert latex_escape("a -> b") == r"a \ensuremath{\rightarrow} b"
    assert all(value.isascii() for value in LATEX_SYMBOLS.values())


def test_every_project_header_is_latex_safe():
    columns = project_columns()
    assert {"oxidation.COLUMNS", "lattice_match.SCAN_COLUMNS", "mu_profile.VERDICT_COLUMNS",
            "barriers.PATH_COLUMNS"} <= set(columns)
    for name, cols in columns.items():
        for column in cols:
            escaped = latex_escape(column.header)
            assert escaped.isascii(), (name, column.header, escaped)
            assert not re.search(r"(?<!\\)[&%$#_]", escaped), (name, column.header, escaped)
    assert latex_escape("onset Δμ_O (eV)") == r"onset \ensuremath{\Delta}\ensuremath{\mu}\_O (eV)"
    assert latex_escape("strain a, b (%)") == r"strain a, b (\%)"


def test_json_keeps_full_precision():
    assert json.loads(render(ROWS, COLS, "json"))[0]["value"] == 1.23456


def test_import_is_light():
    code = "import sys, spillover.analysis.tables; print([m for m in ('tabulate', 'pandas') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_latex_compiles_in_a_minimal_document(tmp_path):
    if shutil.which("pdflatex") is None:
        reason = "no pdflatex (Debian texlive-latex-base, texlive-latex-recommended)"
        if os.environ.get("CI"):  # bootstrap installs TeX Live: missing it on CI is a failure, not a skip
            pytest.fail(reason)
        pytest.skip(reason)
    # The awkward table, then every project column list with one empty row (its real headers).
    tables = [render(AWKWARD, AWKWARD_COLS, "latex")]
    tables += [render([{}], cols, "latex") for cols in project_columns().values()]
    body = "\n\n\\bigskip\n\n".join(tables)
    tex = tmp_path / "table.tex"
    tex.write_text("\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n" + body
                   + "\n\\end{document}\n", encoding="utf-8")
    result = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", tex.name],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:]
    assert (tmp_path / "table.pdf").exists()


def test_no_column_header_breaks_a_markdown_table():
    """A '|' in a header would split its column in every md table."""
    import importlib

    from spillover.analysis.tables import Column

    found = 0
    for name in ("barriers", "fidelity", "lattice_match", "mu_profile", "oxidation"):
        module = importlib.import_module(f"spillover.analysis.{name}")
        for key, value in vars(module).items():
            if key.endswith("COLUMNS") and isinstance(value, list) and value and isinstance(value[0], Column):
                found += 1
                assert all("|" not in c.header for c in value), (name, key)
    assert found >= 11
