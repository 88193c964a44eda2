"""A band that passes a state below both its ends is split there: the state relaxed, a band to it from each
end, and the path's levels through it. Analytic Morse pairs: an O hopping between two outer sites of a
square of four held Ti crosses the square's centre, a site bound to all four."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from ase import Atoms
from ase.constraints import FixAtoms
from pymatgen.io.ase import AseAtomsAdaptor

from spillover.analysis.hop_graph import Path
from spillover.jobs.band_split import lowest_interior, split_bands
from spillover.jobs.hop_network import _levels, _route_bands, split_humps
from spillover.jobs.neb import NebMaker
from spillover.schemas.hop_network import BandSplit

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
    # the whole band's climbing image sits on the same saddle: any route through the centre gives it
    assert split.hop_saddle_rel_eV == pytest.approx(split.saddle_rel_eV, abs=0.01)
    assert split.humps_rel_eV[1] == split.intermediate_rel_eV


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


def _band(*energies, converged=True):
    return SimpleNamespace(energies_eV=list(energies), converged=converged)


# The a-TiO2 hop L2:O22 -> L1:O9 of workflows/hop_network_small.yaml at screen (CHGNet, 4 images, seeded,
# split_below_eV 0.05; 2026-12-07), energies above the initial end (eV). Image 1 of the whole band lies
# 0.18 eV below the initial end and relaxes to -0.23 eV; the split band from there to the final end climbs
# to 0.91 eV, over a saddle of its own, while the whole band's climbing image on that side converged at 0.56.
WHOLE = (0.0, -0.1771, 0.1096, -0.1245, 0.5615, 0.4232)
FIRST = (0.0, -0.0232, -0.0476, -0.1034, -0.1939, -0.2319)
SECOND = (-0.2319, -0.4029, -0.0875, 0.9114, 0.3925, 0.4232)


def _split(whole, first=FIRST, second=SECOND, first_converged=True, image=1) -> BandSplit:
    split = BandSplit.model_construct(image=image, bands=[_band(*first, converged=first_converged), _band(*second)])
    split.finish(whole)
    return split


def test_route_takes_the_whole_bands_climbing_image_where_that_is_lower():
    split = _split(_band(*WHOLE))
    assert split.saddle_rel_eV == pytest.approx(0.9114)  # the split bands' own route
    # the whole band's climbing image lies after the intermediate (image 4 > 1): it gives the second hump
    assert split.whole_band_side == 2 and split.humps_rel_eV == pytest.approx([0.0, -0.2319, 0.5615])
    assert split.hop_saddle_rel_eV == pytest.approx(0.5615)
    edge = SimpleNamespace(neb="whole", split=split)
    assert _route_bands(edge) == ["whole", split.bands[0]]  # the ladder recomputes the bands of the route
    # the same hop the other way: the intermediate is image 4, the whole band's top (image 1) stands in
    # for the first split band, and the saddle lies the same 0.5615 eV above the end that is now the final
    def back(energies):
        return [e - WHOLE[-1] for e in energies[::-1]]

    reverse = _split(_band(*back(WHOLE)), first=back(SECOND), second=back(FIRST), image=4)
    assert reverse.whole_band_side == 1 and reverse.saddle_rel_eV == pytest.approx(0.9114 - 0.4232)
    assert reverse.hop_saddle_rel_eV == pytest.approx(0.5615 - 0.4232)
    assert _route_bands(SimpleNamespace(neb="whole", split=reverse)) == ["whole", reverse.bands[1]]


def test_route_keeps_the_split_bands_where_the_whole_band_is_higher_or_unconverged():
    higher = _split(_band(0.0, -0.1771, 0.1096, -0.1245, 1.2, 0.4232))
    assert higher.whole_band_side is None and higher.hop_saddle_rel_eV == pytest.approx(0.9114)
    assert _route_bands(SimpleNamespace(neb="whole", split=higher)) == higher.bands
    unconverged = _split(_band(*WHOLE, converged=False))
    assert unconverged.whole_band_side is None and unconverged.hop_saddle_rel_eV == pytest.approx(0.9114)
    # an unconverged split band gives the hop no route: the network excludes it
    broken = _split(_band(*WHOLE), first_converged=False)
    assert not broken.converged and broken.hop_saddle_rel_eV is None and broken.humps_rel_eV is None
