"""A band that passes a state below both its ends is split there: the state relaxed, a band to it from each
end, and the path's levels through it. Analytic Morse pairs: an O hopping between two outer sites of a
square of four held Ti crosses the square's centre, a site bound to all four."""

from __future__ import annotations

import pytest
from ase import Atoms
from ase.constraints import FixAtoms
from pymatgen.io.ase import AseAtomsAdaptor

from spillover.analysis.hop_graph import Path
from spillover.jobs.band_split import lowest_interior, split_bands
from spillover.jobs.hop_network import _levels, split_humps
from spillover.jobs.neb import NebMaker

# O-Ti at 2.0 Å; the Ti square (half side 1.7 Å) binds its centre to all four Ti, an outer site to two
PAIRS = {"analytic": {"pairs": {"O-Ti": {"D": 1.0, "alpha": 1.5, "r0": 2.0}}}}
OUTER_X = 2.76  # the relaxed outer site, from the centre (Å)


def _end(x: float):
    c, s = 10.0, 1.7
    ti = [(c + s, c + s, c), (c + s, c - s, c), (c - s, c + s, c), (c - s, c - s, c)]
    atoms = Atoms("Ti4O", positions=[*ti, (c + x, c, c)], cell=[20.0] * 3, pbc=True)
    atoms.set_constraint(FixAtoms(indices=[0, 1, 2, 3]))
    return AseAtomsAdaptor.get_structure(atoms)


@pytest.fixture(scope="module")
def across(tmp_path_factory):
    ck = str(tmp_path_factory.mktemp("split"))
    hop = {"label": "outer -> outer (test)", "region": "custom"}
    initial, final = _end(OUTER_X), _end(-OUTER_X)
    band = NebMaker(preset="analytic", preset_overrides=PAIRS, checkpoint_dir=ck).compute(initial, final, hop=hop)
    task = {"label": hop["label"], "preset": "analytic", "preset_overrides": PAIRS, "checkpoint_dir": ck, "band": {},
            "initial": initial.as_dict(), "final": final.as_dict(), "hop": hop, "metadata": {}}
    return band, task


def test_band_through_a_deeper_site_is_split_into_two_converged_bands(across):
    band, task = across
    k, rel = lowest_interior(band)
    assert rel < -0.5  # the centre, bound to four Ti, lies well below the outer sites bound to two
    [split] = split_bands([(band, task)], 0.05, workers=1)
    assert split is not None and split.reason is None and split.intermediate_converged and split.converged
    assert split.image == k
    first, second = split.bands
    assert first.label.endswith("via intermediate (1/2)") and second.hop["split_part"] == 2
    # the relaxed centre: below the band's lowest image, and the end of the one band and start of the other
    assert split.intermediate_energy_eV < band.energies_eV[k]
    assert first.energies_eV[-1] == pytest.approx(second.energies_eV[0], abs=1e-6)
    assert split.intermediate_rel_eV == pytest.approx(split.intermediate_energy_eV - band.energies_eV[0], abs=1e-6)
    # one hop of the square's edge each way: the same saddle, which the band through the centre climbed too
    assert first.Ea_forward_eV == pytest.approx(second.Ea_reverse_eV, abs=0.01)
    assert split.saddle_rel_eV == pytest.approx(first.Ea_forward_eV, abs=0.01)
    assert split.saddle_rel_eV == pytest.approx(band.Ea_forward_eV, abs=0.01)


def test_band_without_a_deeper_state_is_left_alone(across):
    band, task = across
    _, rel = lowest_interior(band)
    assert split_bands([(band, task)], -rel + 0.1, workers=1) == [None]


def test_path_levels_pass_the_intermediate_in_the_path_direction(across):
    band, task = across
    [split] = split_bands([(band, task)], 0.05, workers=1)
    energies = {0: 0.0, 1: 0.1}
    saddles = {"h": 0.6}
    humps = {"h": (0, split_humps(split, energies[0]))}
    forward = _levels(Path(0, 0.6, ["h"], [0, 1]), energies, saddles, humps)
    backward = _levels(Path(1, 0.6, ["h"], [1, 0]), energies, saddles, humps)
    assert len(forward) == 5 and forward[2] == pytest.approx(split.intermediate_rel_eV)
    assert forward[1:4] == pytest.approx([h + 0.1 for h in backward[1:4][::-1]])  # backward: above node 1
    assert _levels(Path(0, 0.6, ["h"], [0, 1]), energies, saddles) == pytest.approx([0.0, 0.6, 0.1])
