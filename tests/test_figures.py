"""Figures ready for a paper: readable names, the preset on the figure, no ids, vector plus a 300-dpi png."""

from __future__ import annotations

import re

import pytest

from spillover.analysis.barriers import plot_barriers, plot_hop_path, plot_neb
from spillover.analysis.figures import facet_name, system_name
from spillover.analysis.mu_profile import plot_profile, plot_transfer

UUID = re.compile(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}|\b[0-9a-f]{8}\b")
SYSTEMS = ("rutile-110/Ru-0001", "anatase-101/Ru-0001")


@pytest.mark.parametrize(("name", "readable"), [
    ("rutile-110/Ru-0001", "Ru(0001)/r-TiO$_2$(110)"),
    ("anatase-101/RuO2-110/Ru-0001", "Ru(0001)/RuO$_2$(110)/a-TiO$_2$(101)"),
    ("Ru-10-10", r"Ru(10$\bar{1}$0)"),
])
def test_system_names_as_papers_write_them(name, readable):
    assert system_name(name) == readable if "/" in name else facet_name(name) == readable


def _hop_rows():
    return [{"system": s, "from_layer": k, "levels_eV": [0.0, 0.6 + 0.1 * k, -0.2, 0.5, -0.4], "E_eff_eV": 0.6 + 0.1 * k,
             "preset": "screen"} for s in SYSTEMS for k in (3, 4)]


def _barrier_rows():
    kinds = (("in-layer", 2), ("between-layers", 2), ("across-interface", 1), ("interlayer", None))
    return [{"system": s, "region": kind, "to_layer": layer, "Ea_forward_eV": 0.5 + i / 10, "converged": i != 1,
             "preset": "screen"} for s in SYSTEMS for i, (kind, layer) in enumerate(kinds)]


def _neb_doc():
    return {"spline_path_A": [0.0, 1.0, 2.0], "spline_energies_eV": [0.0, 0.5, 0.1], "path_A": [0.0, 1.0, 2.0],
            "relative_energies_eV": [0.0, 0.5, 0.1], "climbing_image": 1, "converged": True,
            "label": "L2:O24 -> L1:O0", "preset": "screen", "n_images": 4, "Ea_forward_eV": 0.5,
            "Ea_reverse_eV": 0.4, "dE_eV": 0.1}


def _profile_rows():
    return ([{"system": s, "region": "support", "layer": k, "E_b_eV": -4.0 - 0.1 * k, "occupied": True,
              "preset": "screen"} for s in SYSTEMS for k in (1, 2, 3)]
            + [{"system": s, "region": "interface", "layer": None, "E_b_eV": -2.6, "occupied": False,
                "preset": "screen"} for s in SYSTEMS])


def _transfer_rows():
    return [{"system": s, "from_layer": k, "dE_eV": 0.3 * k, "preset": "screen"} for s in SYSTEMS for k in (1, 2, 3)]


@pytest.mark.parametrize(("plot", "rows"), [
    (plot_hop_path, _hop_rows), (plot_barriers, _barrier_rows), (plot_neb, _neb_doc),
    (plot_profile, _profile_rows), (plot_transfer, _transfer_rows),
])
def test_paper_figure_vector_and_png(tmp_path, monkeypatch, plot, rows):
    from matplotlib import image
    from matplotlib.text import Text

    import spillover.analysis.figures as figures

    texts: list[str] = []
    save = figures.save_figure

    def recording(fig, output):
        texts.extend(t.get_text() for t in fig.findobj(Text) if t.get_text())
        return save(fig, output)

    monkeypatch.setattr(figures, "save_figure", recording)
    out = tmp_path / "figure.svg"
    kwargs = {"job_id": "0123456789abcdef0123456789abcdef"} if plot is plot_neb else {}
    plot(rows(), out, **kwargs)
    png = out.with_suffix(".png")
    assert out.stat().st_size > 5_000 and png.is_file()
    assert image.imread(png).shape[1] >= 3.0 * 300  # about a column wide (tight bounding box) at 300 dpi
    text = "\n".join(texts)
    assert "screen" in text  # the level of theory is on the figure
    assert not UUID.search(text), text  # no internal ids
    if plot is not plot_neb:
        assert "r-TiO$_2$(110)" in text and "rutile-110" not in text
    else:
        assert "$E_a^\\rightarrow$" in text and "$\\Delta E$" in text
    plot(rows(), tmp_path / "figure.pdf")
    assert (tmp_path / "figure.pdf").read_bytes()[:4] == b"%PDF" and (tmp_path / "figure.png").is_file()
