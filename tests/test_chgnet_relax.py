"""CHGNet (the real model) relaxes an r-TiO2(110) slab with its bottom layer fixed."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.io.ase import AseAtomsAdaptor

from spillover.build.slabs import make_slab
from spillover.jobs.relax import RelaxMaker
from spillover.schemas import as_structure, fixed_indices

pytestmark = pytest.mark.chgnet


def test_slab_relaxation_keeps_fixed_layer_and_converges():
    atoms = make_slab("rutile-110", layers=3, vacuum=5.0, fixed_layers=1)
    fixed = fixed_indices(atoms)
    assert fixed and np.all(atoms.arrays["layer"][fixed] == 3)
    structure = AseAtomsAdaptor.get_structure(atoms)

    doc = RelaxMaker(preset="screen", fmax=0.05).compute(structure, label="rutile-110", kind="slab")

    final = AseAtomsAdaptor.get_atoms(as_structure(doc.structure))
    moved = np.linalg.norm(final.positions - atoms.positions, axis=1)
    free = np.setdiff1d(np.arange(len(atoms)), fixed)
    assert doc.fixed_indices == fixed
    assert np.all(moved[fixed] < 1e-8)
    assert moved[free].max() > 0.01
    assert doc.converged and doc.max_force_eV_per_A < 0.05
    assert doc.energy_eV < doc.ionic_steps[0].energy_eV
    assert doc.layer == atoms.arrays["layer"].tolist()
