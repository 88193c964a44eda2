"""Render rows of a results table as Markdown, CSV, LaTeX or JSON.

Markdown and LaTeX are laid out by :mod:`tabulate`, CSV by :mod:`csv`. The LaTeX table is a booktabs
``tabular`` that compiles in a document loading nothing but ``booktabs``: every character LaTeX treats
specially, and every non-ASCII symbol of the project's headers, is replaced by its LaTeX markup.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from typing import Any

FORMATS = ("md", "csv", "latex", "json")

# Plain-text replacements for LaTeX, applied in one pass (a replacement is never escaped again). Math
# symbols use \ensuremath rather than $...$: two adjacent ones ("Δγ") would otherwise write "$$".
LATEX_SYMBOLS = {
    # characters LaTeX treats specially; < > | print as other glyphs in the default OT1 font encoding, and a
    # text \$ falls back to a TS1 font that needs cm-super (or a bitmap made by METAFONT)
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\ensuremath{\$}", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "->": r"\ensuremath{\rightarrow}", "<": r"\ensuremath{<}", ">": r"\ensuremath{>}", "|": r"\ensuremath{|}",
    # units and typography
    "Å": r"\AA{}", "\u212b": r"\AA{}", "å": r"\aa{}", "°": r"\ensuremath{^\circ}",
    "–": "--", "—": "---", "…": r"\ldots{}", "‘": "`", "’": "'", "“": "``", "”": "''",
    # operators and arrows
    "−": r"\ensuremath{-}", "±": r"\ensuremath{\pm}", "×": r"\ensuremath{\times}", "·": r"\ensuremath{\cdot}",
    "≤": r"\ensuremath{\leq}", "≥": r"\ensuremath{\geq}", "≈": r"\ensuremath{\approx}", "≠": r"\ensuremath{\neq}",
    "∞": r"\ensuremath{\infty}", "→": r"\ensuremath{\rightarrow}", "←": r"\ensuremath{\leftarrow}",
    "↔": r"\ensuremath{\leftrightarrow}",
    # superscripts and subscripts
    "⁻¹": r"\ensuremath{^{-1}}", "⁺": r"\ensuremath{^{+}}", "⁻": r"\ensuremath{^{-}}",
    "⁰": r"\ensuremath{^{0}}", "¹": r"\ensuremath{^{1}}", "²": r"\ensuremath{^{2}}", "³": r"\ensuremath{^{3}}",
    "⁴": r"\ensuremath{^{4}}", "⁵": r"\ensuremath{^{5}}", "⁶": r"\ensuremath{^{6}}", "⁷": r"\ensuremath{^{7}}",
    "⁸": r"\ensuremath{^{8}}", "⁹": r"\ensuremath{^{9}}", "₊": r"\ensuremath{_{+}}", "₋": r"\ensuremath{_{-}}",
    "₀": r"\ensuremath{_{0}}", "₁": r"\ensuremath{_{1}}", "₂": r"\ensuremath{_{2}}", "₃": r"\ensuremath{_{3}}",
    "₄": r"\ensuremath{_{4}}", "₅": r"\ensuremath{_{5}}", "₆": r"\ensuremath{_{6}}", "₇": r"\ensuremath{_{7}}",
    "₈": r"\ensuremath{_{8}}", "₉": r"\ensuremath{_{9}}",
    # Greek (micro sign and mu are different code points)
    "α": r"\ensuremath{\alpha}", "β": r"\ensuremath{\beta}", "γ": r"\ensuremath{\gamma}", "δ": r"\ensuremath{\delta}",
    "ε": r"\ensuremath{\varepsilon}", "η": r"\ensuremath{\eta}", "θ": r"\ensuremath{\theta}",
    "κ": r"\ensuremath{\kappa}", "λ": r"\ensuremath{\lambda}", "μ": r"\ensuremath{\mu}", "µ": r"\ensuremath{\mu}",
    "ν": r"\ensuremath{\nu}", "π": r"\ensuremath{\pi}", "ρ": r"\ensuremath{\rho}", "σ": r"\ensuremath{\sigma}",
    "τ": r"\ensuremath{\tau}", "φ": r"\ensuremath{\phi}", "χ": r"\ensuremath{\chi}", "ψ": r"\ensuremath{\psi}",
    "ω": r"\ensuremath{\omega}", "Γ": r"\ensuremath{\Gamma}", "Δ": r"\ensuremath{\Delta}",
    "Θ": r"\ensuremath{\Theta}", "Λ": r"\ensuremath{\Lambda}", "Π": r"\ensuremath{\Pi}", "Σ": r"\ensuremath{\Sigma}",
    "Φ": r"\ensuremath{\Phi}", "Ψ": r"\ensuremath{\Psi}", "Ω": r"\ensuremath{\Omega}",
}
# Longest first, so that "⁻¹" and "->" win over "⁻" and ">".
_LATEX_PATTERN = re.compile("|".join(re.escape(k) for k in sorted(LATEX_SYMBOLS, key=len, reverse=True)))


@dataclass(frozen=True)
class Column:
    """One table column: the row key, its header and how numbers are printed."""

    key: str
    header: str
    fmt: str = "{}"

    def text(self, row: dict[str, Any]) -> str:
        """The cell text of ``row``: list entries joined by spaces, None as ``-``."""
        return " ".join(_value_entries(self, row, none="-"))


def _format_value(value: Any, fmt: str, none: str) -> str:
    """One scalar as text: ``none`` for None, booleans lowercase, anything else through ``fmt``."""
    if value is None:
        return none
    if isinstance(value, bool):  # before fmt: "{:.2f}".format(True) is "1.00"
        return "true" if value else "false"
    return fmt.format(value)


def _overrides_text(column: Column) -> bool:
    """Whether ``column`` builds its own cell text (from several keys), which is then one cell in every format."""
    return type(column).text is not Column.text


def _value_entries(column: Column, row: dict[str, Any], none: str) -> list[str]:
    """The formatted entries of ``row[column.key]``: one per list item, one for a scalar."""
    value = row.get(column.key)
    items = value if isinstance(value, (list, tuple)) else [value]
    return [_format_value(v, column.fmt, none) for v in items]


def _entries(column: Column, row: dict[str, Any], none: str) -> list[str]:
    """The CSV entries of one cell; a column with its own ``text`` gives that text as one entry."""
    if _overrides_text(column):
        return [column.text(row)]
    return _value_entries(column, row, none)


def latex_escape(text: str) -> str:
    """``text`` as LaTeX that compiles without packages (see ``LATEX_SYMBOLS``).

    Parameters
    ----------
    text
        Plain text, e.g. a header such as ``"Δγ (eV/Å²)"``.

    Returns
    -------
    str
        The LaTeX markup, e.g. ``"\\ensuremath{\\Delta}\\ensuremath{\\gamma} (eV/\\AA{}\\ensuremath{^{2}})"``.
    """
    return _LATEX_PATTERN.sub(lambda match: LATEX_SYMBOLS[match.group()], text)


def _list_width(column: Column, rows: list[dict[str, Any]]) -> int | None:
    """How many CSV columns a list-valued column splits into (its longest list), None for a scalar column."""
    if _overrides_text(column):
        return None
    values = [row.get(column.key) for row in rows]
    if not any(isinstance(v, (list, tuple)) for v in values):
        return None
    return max(1, *(len(v) if isinstance(v, (list, tuple)) else 1 for v in values))


def _csv(rows: list[dict[str, Any]], columns: list[Column]) -> str:
    """CSV with one value per cell: a list-valued column becomes ``<header> [1]``, ``<header> [2]``, ..."""
    widths = [_list_width(c, rows) for c in columns]
    header: list[str] = []
    for column, width in zip(columns, widths):
        header += [column.header] if width is None else [f"{column.header} [{i}]" for i in range(1, width + 1)]
    lines = [header]
    for row in rows:
        cells: list[str] = []
        for column, width in zip(columns, widths):
            entries = _entries(column, row, none="")
            cells += entries if width is None else entries + [""] * (width - len(entries))
        lines.append(cells)
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(lines)
    return buf.getvalue().removesuffix("\n")


def _markdown(rows: list[dict[str, Any]], columns: list[Column]) -> str:
    """A GitHub Markdown table, every column left-aligned."""
    from tabulate import tabulate

    cells = [[c.text(r).replace("|", r"\|") for c in columns] for r in rows]
    return tabulate(cells, headers=[c.header for c in columns], tablefmt="github", disable_numparse=True)


def _is_numeric(column: Column, rows: list[dict[str, Any]]) -> bool:
    """Whether every value of ``column`` is a number or a list of numbers (right-aligned in LaTeX)."""
    if _overrides_text(column):
        return False
    values = [row.get(column.key) for row in rows]
    flat = [v for value in values for v in (value if isinstance(value, (list, tuple)) else [value]) if v is not None]
    return bool(flat) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in flat)


def _latex(rows: list[dict[str, Any]], columns: list[Column]) -> str:
    """A booktabs ``tabular``; cells are escaped here, so the format escapes nothing itself."""
    from tabulate import DataRow, Line, TableFormat, tabulate

    aligns = ["right" if _is_numeric(c, rows) else "left" for c in columns]

    def begin(colwidths: list[int], colaligns: list[str]) -> str:
        # from ``aligns``, not ``colaligns``: tabulate passes none when there are no rows
        spec = "".join("r" if a == "right" else "l" for a in aligns)
        return "\\begin{tabular}{" + spec + "}\n\\toprule"

    row_format = DataRow("", "&", "\\\\")
    booktabs = TableFormat(
        lineabove=begin, linebelowheader=Line("\\midrule", "", "", ""), linebetweenrows=None,
        linebelow=Line("\\bottomrule\n\\end{tabular}", "", "", ""), headerrow=row_format, datarow=row_format,
        padding=1, with_header_hide=None,
    )
    cells = [[latex_escape(c.text(r)) for c in columns] for r in rows]
    return tabulate(cells, headers=[latex_escape(c.header) for c in columns], tablefmt=booktabs,
                    colalign=aligns, disable_numparse=True)


def render(rows: list[dict[str, Any]], columns: list[Column], fmt: str = "md") -> str:
    """Render ``rows``.

    Parameters
    ----------
    rows
        Table rows as dicts (JSON output prints them whole, with full precision).
    columns
        Columns of the text formats.
    fmt
        One of ``md``, ``csv``, ``latex``, ``json``.

    Returns
    -------
    str
        The table text.
    """
    if fmt == "json":
        return json.dumps(rows, indent=2)
    if fmt == "csv":
        return _csv(rows, columns)
    if fmt == "latex":
        return _latex(rows, columns)
    return _markdown(rows, columns)
