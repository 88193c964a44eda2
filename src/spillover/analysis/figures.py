"""What every figure shares: a style readable at journal column width, readable system names, 300-dpi output.

A figure is drawn at its printed size (:data:`COLUMN_WIDTH_IN` or :data:`DOUBLE_WIDTH_IN`) with
8-pt text, so that nothing is scaled down when it goes into a paper. A vector file (svg, pdf) gets
a 300-dpi png of the same figure beside it; a png is written at 300 dpi.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any, Iterator

#: One journal column and a full page width (inches; ACS, RSC and Elsevier are all 3.25-3.5 and 7).
COLUMN_WIDTH_IN = 3.4
DOUBLE_WIDTH_IN = 7.0
PNG_DPI = 300
PAPER_RC = {
    "font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "legend.fontsize": 7,
    "xtick.labelsize": 7, "ytick.labelsize": 7, "lines.linewidth": 1.2, "lines.markersize": 4,
    "savefig.dpi": PNG_DPI, "pdf.fonttype": 42, "svg.fonttype": "path", "legend.frameon": False,
    "figure.constrained_layout.use": True,
}
#: How a chemist writes the bulks of the project's facets (mathtext).
BULK_NAMES = {"rutile": r"r-TiO$_2$", "anatase": r"a-TiO$_2$", "RuO2": r"RuO$_2$", "Ru": "Ru", "Ti": "Ti"}
VECTOR_SUFFIXES = (".svg", ".pdf")


def facet_name(facet: str) -> str:
    """``rutile-110`` -> ``r-TiO$_2$(110)``; a name that is not ``<bulk>-<hkl>`` is returned as it is."""
    match = re.fullmatch(r"([A-Za-z0-9]+?)-(-?\d+(?:-?\d+)*)", facet)
    if match is None or match.group(1) not in BULK_NAMES:
        return facet
    hkl = re.sub(r"-(\d)", r"$\\bar{\1}$", match.group(2))  # Miller-Bravais minus signs as overbars
    return f"{BULK_NAMES[match.group(1)]}({hkl})"


def system_name(system: str) -> str:
    """``rutile-110/RuO2-110/Ru-0001`` -> ``Ru(0001)/RuO$_2$(110)/r-TiO$_2$(110)``: outermost film first, as written in papers."""
    if not system:
        return system
    return "/".join(facet_name(part) for part in reversed(system.split("/")))


def preset_text(presets: list[str] | set[str]) -> str:
    """The level of theory a figure shows: ``preset screen`` or ``presets gpaw-test, screen``."""
    names = sorted(presets)
    return f"preset{'s' if len(names) > 1 else ''} {', '.join(names)}"


@contextlib.contextmanager
def paper_style() -> Iterator[Any]:
    """matplotlib (Agg) with :data:`PAPER_RC`; yields ``pyplot``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with matplotlib.rc_context(PAPER_RC):
        yield plt


def save_figure(fig: Any, output: Path | str) -> list[Path]:
    """Write ``fig`` to ``output`` (300 dpi), and a 300-dpi png beside a vector file; close it; the files written."""
    import matplotlib.pyplot as plt

    output = Path(output)
    written = [output]
    fig.savefig(output, dpi=PNG_DPI, bbox_inches="tight")
    if output.suffix.lower() in VECTOR_SUFFIXES:
        written.append(output.with_suffix(".png"))
        fig.savefig(written[-1], dpi=PNG_DPI, bbox_inches="tight")
    plt.close(fig)
    return written
