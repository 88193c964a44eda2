"""The one query every table starts from: the newest stored document of each kind of result."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any


def newest_documents(
    store: Any,
    doc_type: str,
    key: Callable[[dict[str, Any]], Hashable],
    preset: str | None = None,
    run_id: str | None = None,
    filters: dict[str, Any] | None = None,
    properties: list[str] | None = None,
) -> list[dict[str, Any]]:
    """The newest document of ``doc_type`` for each ``key(output)``, newest first.

    A study run again (or at another preset) stores new documents next to the old ones; tables
    show the newest per result (e.g. per interface and preset), the older ones stay queryable.

    Parameters
    ----------
    store
        A connected JobStore.
    doc_type
        ``output.doc_type`` of the documents.
    key
        What makes two documents the same result, from their ``output``.
    preset, run_id
        Only documents of this preset / of this ``spillover run``.
    filters
        Further equality conditions on ``output`` fields (None values are ignored).
    properties
        Fields to fetch besides ``uuid`` and ``completed_at``; default the whole ``output``.
    """
    criteria: dict[str, Any] = {"output.doc_type": doc_type}
    criteria.update({f"output.{k}": v for k, v in (filters or {}).items() if v is not None})
    if preset:
        criteria["output.preset"] = preset
    if run_id:
        criteria["metadata.run_id"] = run_id
    fields = ["uuid", "completed_at", *(properties or ["output"])]
    seen: set[Hashable] = set()
    kept = []
    for doc in store.query(criteria, properties=fields, sort={"completed_at": -1}):
        k = key(doc["output"])
        if k not in seen:
            seen.add(k)
            kept.append(doc)
    return kept
