"""Stored documents are decoded only into the project's schemas and pymatgen/jobflow types."""

from __future__ import annotations

import sys

import pytest
from jobflow import job, run_locally
from maggma.stores import MemoryStore

from spillover.build.bulk import load_bulk
from spillover.decoding import SafeJobStore, check_modules
from spillover.errors import UnsafeDocumentError
from spillover.schemas import as_structure


def _structure_dict() -> dict:
    from pymatgen.io.ase import AseAtomsAdaptor

    return AseAtomsAdaptor.get_structure(load_bulk("rutile")).as_dict()


def test_a_structure_with_a_foreign_module_in_a_site_property_is_refused():
    d = _structure_dict()
    assert as_structure(d).composition.reduced_formula == "TiO2"
    d["sites"][0]["properties"] = {"payload": {"@module": "antigravity", "@class": "x"}}
    sys.modules.pop("antigravity", None)
    with pytest.raises(UnsafeDocumentError, match="antigravity") as err:
        as_structure(d)
    assert str(err.value).startswith("db: ") and "antigravity" not in sys.modules


def test_allowed_modules_pass_and_deep_nesting_is_refused():
    check_modules({"@module": "spillover.schemas.calc", "x": [{"@module": "pymatgen.core.structure"}]})
    check_modules({"@module": "numpy", "@class": "array"})
    with pytest.raises(UnsafeDocumentError, match="numpyevil"):
        check_modules({"@module": "numpyevil"})
    deep: dict = {}
    for _ in range(300):
        deep = {"a": deep}
    with pytest.raises(UnsafeDocumentError, match="deeper"):
        check_modules(deep)


@job
def _make(value):
    return value


def test_a_job_never_decodes_a_crafted_stored_output(tmp_path):
    store = SafeJobStore(MemoryStore(), additional_stores={"data": MemoryStore()})
    first = _make({"ok": 1})
    run_locally(first, store=store, root_dir=tmp_path, create_folders=True, log=False)
    # someone with write access to a shared database replaces the output with a crafted one
    store.docs_store.update([{**store.query_one({"uuid": first.uuid}), "output": {"@module": "antigravity", "@class": "x"}}],
                            key=["uuid", "index"])
    sys.modules.pop("antigravity", None)
    with pytest.raises(UnsafeDocumentError, match="antigravity"):
        first.output.resolve(store)  # what jobflow does for the inputs of the next job
    assert "antigravity" not in sys.modules
