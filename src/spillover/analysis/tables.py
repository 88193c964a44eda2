"""Render rows of a results table as Markdown, CSV, LaTeX or JSON."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

FORMATS = ("md", "csv", "latex", "json")


@dataclass(frozen=True)
class Column:
    """One table column: the row key, its header and how numbers are printed."""

    key: str
    header: str
    fmt: str = "{}"

    def text(self, row: dict[str, Any]) -> str:
        """The cell text of ``row``."""
        value = row.get(self.key)
        if value is None:
            return "-"
        if isinstance(value, (list, tuple)):
            return " ".join(self.fmt.format(v) for v in value)
        return self.fmt.format(value)


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
    cells = [[c.text(r) for c in columns] for r in rows]
    headers = [c.header for c in columns]
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(headers)
        writer.writerows(cells)
        return buf.getvalue().rstrip("\n")
    if fmt == "latex":
        def esc(s: str) -> str:
            return s.replace("_", r"\_").replace("%", r"\%").replace("&", r"\&")

        lines = [r"\begin{tabular}{" + "l" * len(columns) + "}", r"\hline"]
        lines.append(" & ".join(esc(h) for h in headers) + r" \\ \hline")
        lines += [" & ".join(esc(c) for c in row) + r" \\" for row in cells]
        lines += [r"\hline", r"\end{tabular}"]
        return "\n".join(lines)
    widths = [max(len(h), *(len(row[i]) for row in cells)) if cells else len(h) for i, h in enumerate(headers)]
    def line(values: list[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths)) + " |"

    out = [line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(row) for row in cells]
    return "\n".join(out)
