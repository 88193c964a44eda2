"""Nothing computed twice: a job whose content hash is stored with a converged result returns that result.

The lookup uses the store of the running job (jobflow's ``CURRENT_JOB.store``, set by
``run_locally`` and by FireWorks' ``JobFiretask``); outside a job there is nothing to look up. The
copy it returns names the original (``reused_from_job_id``), so a table can follow it to the job
that computed the numbers.
"""

from __future__ import annotations

from typing import Any

from spillover.decoding import check_modules


def _store() -> Any:
    from jobflow import CURRENT_JOB

    return CURRENT_JOB.store if CURRENT_JOB.job is not None else None


def stored_output(doc_type: str, digest: str, extra: dict | None = None, store: Any = None) -> tuple[str, dict] | None:
    """The oldest stored output of ``doc_type`` with this content hash, as (job uuid, output), or None.

    Parameters
    ----------
    doc_type
        The document type (``calculation``, ``funnel``).
    digest
        Its content hash.
    extra
        More conditions on the output, e.g. ``{"converged": True}``.
    store
        A connected JobStore; None: the running job's.
    """
    store = store if store is not None else _store()
    if store is None:
        return None
    query = {"output.doc_type": doc_type, "output.content_hash": digest,
             **{f"output.{k}": v for k, v in (extra or {}).items()}}
    doc = store.query_one(query, properties=["uuid", "output"], sort={"completed_at": 1})
    if doc is None or doc.get("output") is None:
        return None
    output = doc["output"]
    check_modules(output, f"stored {doc_type} {doc['uuid']}")
    origin = output.get("reused_from_job_id") or doc["uuid"]
    return origin, output


def stored_copy(model: type, doc_type: str, digest: str, extra: dict | None = None, store: Any = None):
    """A copy (``model``) of the stored output of ``doc_type`` with this content hash, or None.

    The copy's ``reused_from_job_id`` names the job that computed it.
    """
    found = stored_output(doc_type, digest, extra, store)
    if found is None:
        return None
    origin, output = found
    fields = {k: v for k, v in output.items() if not k.startswith("@")}
    fields["reused_from_job_id"] = origin
    return model(**fields)


def stored_calculation(digest: str, store: Any = None):
    """A copy of the stored converged calculation (CalcDoc) with this content hash, or None."""
    from spillover.schemas import CalcDoc

    return stored_copy(CalcDoc, "calculation", digest, {"converged": True}, store)
