"""A system cell relaxed again from seeded starts leaves a symmetric rest its first relaxation cannot.

Analytic Morse pairs: a Ti held by symmetry exactly atop one O of a fixed square O layer feels no
sideways force, so its relaxation rests there, bound to one O; a start moved at random falls into the
hollow, bound to four."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.constraints import FixAtoms
from pymatgen.io.ase import AseAtomsAdaptor

from conftest import ROOT
from spillover.jobs.relax import RelaxMaker
from spillover.plan import _bulk_jobs, _cell_jobs
from spillover.study import load_study

PAIRS = {"pairs": {"O-Ti": {"D": 1.0, "alpha": 1.5, "r0": 2.0}}}
A = 2.8  # O-O spacing of the layer (Å); the hollow lies 1.98 Å from four O


def _atop():
    layer = [(i * A, j * A, 5.0) for i in range(4) for j in range(4)]
    atoms = Atoms("O16Ti", positions=[*layer, (A, A, 7.0)], cell=[4 * A, 4 * A, 20.0], pbc=True)
    atoms.set_constraint(FixAtoms(indices=range(16)))
    return AseAtomsAdaptor.get_structure(atoms)


def _maker(**kw) -> RelaxMaker:
    return RelaxMaker(preset="analytic", preset_overrides={"analytic": PAIRS}, checkpoint=False, **kw)


def test_seeded_starts_find_the_hollow_the_atop_relaxation_cannot_leave():
    structure = _atop()
    plain = _maker().compute(structure, kind="system-cell")
    seeded = _maker(seeds=2, seed_displacement_A=0.1).compute(structure, kind="system-cell")
    ti = np.asarray(plain.structure["sites"][-1]["xyz"])
    assert plain.converged and np.allclose(ti[:2], [A, A], atol=1e-6)  # it stayed atop
    assert plain.seeded_starts == []
    # the seeded relaxations fall into a hollow: four Ti-O bonds instead of one
    assert seeded.converged and seeded.energy_eV < plain.energy_eV - 2.0
    ti = np.asarray(seeded.structure["sites"][-1]["xyz"])
    assert np.allclose(np.abs((ti[:2] - A / 2) % A - A / 2), A / 2, atol=0.01)
    assert [s.seed for s in seeded.seeded_starts] == [0, 1, 2] and sum(s.chosen for s in seeded.seeded_starts) == 1
    first, chosen = seeded.seeded_starts[0], next(s for s in seeded.seeded_starts if s.chosen)
    assert (first.energy_eV, first.displacement_A, first.chosen) == (plain.energy_eV, 0.0, False)
    assert seeded.energy_eV == chosen.energy_eV and chosen.converged and chosen.seed > 0
    assert seeded.force_calls == sum(s.force_calls for s in seeded.seeded_starts)
    # the fixed layer stays where it was, and the result names its own input and settings
    layer = np.array([s["xyz"] for s in seeded.structure["sites"][:16]])
    assert np.allclose(layer, structure.cart_coords[:16], atol=1e-9)
    assert seeded.input_structure == structure.as_dict()
    assert seeded.content_hash == _maker(seeds=2, seed_displacement_A=0.1).content_hash(structure)
    assert seeded.content_hash != plain.content_hash == _maker().content_hash(structure)


@pytest.mark.parametrize("preset, seeds", [("screen", 4), ("analytic", 0)])
def test_system_cells_take_the_presets_seeds(preset, seeds):
    study = load_study(ROOT / "workflows" / "hop_network_small.yaml")
    labels = tuple(s.label for s in study.systems)
    bulks = _bulk_jobs(sorted(set().union(*(study.system(label).bulks for label in labels))), preset, {})
    _, relaxes = _cell_jobs(study, labels, labels, bulks, preset, {})
    makers = [job.function.__self__ for job in relaxes.values()]
    assert [(m.seeds, m.seed_displacement_A) for m in makers] == [(seeds, 0.1)] * len(labels)
