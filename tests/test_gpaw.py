"""A real GPAW calculation at gpaw-test, stored in a real MontyStore and read back."""

from __future__ import annotations

import numpy as np
import pytest
from jobflow import run_locally
from pymatgen.io.ase import AseAtomsAdaptor

from spillover.build.bulk import load_bulk
from spillover.jobs.relax import StaticMaker
from spillover.store import connect

pytestmark = pytest.mark.gpaw


def test_gpaw_static_rutile_stored_and_read_back(tmp_path):
    structure = AseAtomsAdaptor.get_structure(load_bulk("rutile"))
    job = StaticMaker(preset="gpaw-test").make(structure, label="rutile", kind="bulk")
    store = connect(tmp_path / "db")
    responses = run_locally(job, store=store, root_dir=tmp_path, create_folders=True, log=False, ensure_success=True)
    doc = responses[job.uuid][1].output

    assert np.isfinite(doc.energy_eV) and doc.energy_eV < 0
    assert doc.calculator == "gpaw" and doc.parameters["mode"]["ecut"] == 350
    assert doc.versions["gpaw"].startswith("26.7")
    forces = np.array(doc.ionic_steps[-1].max_force_eV_per_A)
    # The experimental cell: Ti sits on an inversion centre (zero force by symmetry); O relaxes
    # along x=y only slightly at PBE, so every force is small.
    assert forces < 0.2

    stored = connect(tmp_path / "db", create=False).query_one({"uuid": job.uuid})
    assert stored["output"]["energy_eV"] == doc.energy_eV
    assert stored["output"]["max_force_eV_per_A"] == doc.max_force_eV_per_A
    assert stored["output"]["content_hash"] == doc.content_hash
    assert stored["output"]["preset_resolved"]["name"] == "gpaw-test"
    assert (next(tmp_path.glob("job_*")) / "gpaw.txt").is_file()
