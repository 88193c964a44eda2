"""What is stored: one row per job output, newest first."""

from __future__ import annotations

import re
from typing import Any

#: What :func:`document_rows` reads of each job document (no structures).
ROW_PROPERTIES = [
    "uuid", "index", "name", "completed_at", "metadata", "output.doc_type", "output.label", "output.system",
    "output.kind", "output.task", "output.formula", "output.natoms", "output.preset", "output.calculator",
    "output.energy_eV", "output.max_force_eV_per_A", "output.converged", "output.reused_from_job_id",
]
#: Fields holding structures (left out of ``spillover show`` unless ``--full``).
STRUCTURE_FIELDS = ("structure", "input_structure", "image_positions_A")


def row_of(doc: dict[str, Any]) -> dict[str, Any]:
    """The row of one job document for ``spillover results`` (and its selections)."""
    out = doc.get("output") if isinstance(doc.get("output"), dict) else {}
    meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
    return {
        "job_id": doc["uuid"],
        "name": doc.get("name", ""),
        "completed_at": str(doc.get("completed_at", "")),
        "doc_type": out.get("doc_type", ""),
        "label": out.get("label", ""),
        "system": meta.get("system") or out.get("system") or "",
        "kind": out.get("kind", ""),
        "task": out.get("task", ""),
        "formula": out.get("formula", ""),
        "natoms": out.get("natoms"),
        "preset": out.get("preset", meta.get("preset", "")),
        "calculator": out.get("calculator", ""),
        "analysis": meta.get("analysis", ""),
        "study": meta.get("study", ""),
        "run_id": meta.get("run_id", ""),
        "energy_eV": out.get("energy_eV"),
        "max_force_eV_per_A": out.get("max_force_eV_per_A"),
        "converged": out.get("converged"),
        "reused_from_job_id": out.get("reused_from_job_id"),
    }


def document_rows(store: Any) -> list[dict[str, Any]]:
    """One row (:func:`row_of`) per stored job, newest first; a job run again (a higher index) once."""
    docs = store.query({}, properties=ROW_PROPERTIES, sort={"completed_at": -1})
    newest: dict[str, dict[str, Any]] = {}
    for doc in docs:
        kept = newest.get(doc["uuid"])
        if kept is None or (doc.get("index") or 0) > (kept.get("index") or 0):
            newest[doc["uuid"]] = doc
    return sorted((row_of(d) for d in newest.values()), key=lambda r: r["completed_at"], reverse=True)


def find_job(store: Any, job_id: str, field: str = "ID") -> dict[str, Any]:
    """The whole stored document of one job: its uuid or a unique prefix of 8+ characters.

    Raises
    ------
    InputError
        A prefix that is too short or not hexadecimal, no job with it, or several.
    """
    from spillover.errors import InputError

    allowed = "a job uuid or its first 8+ characters, from 'spillover results'"
    prefix = job_id.strip().lower()
    if len(prefix) < 8 or not re.fullmatch(r"[0-9a-f-]+", prefix):
        raise InputError(field, f"{job_id[:80]!r} is not a job id", allowed)
    uuids = sorted({d["uuid"] for d in store.query({}, properties=["uuid"]) if str(d["uuid"]).startswith(prefix)})
    if not uuids:
        raise InputError(field, f"no stored job with id {job_id!r}", allowed)
    if len(uuids) > 1:
        shown = ", ".join(u[:13] for u in uuids[:5]) + (", ..." if len(uuids) > 5 else "")
        raise InputError(field, f"{job_id!r} matches {len(uuids)} stored jobs ({shown})", "a longer prefix")
    docs = list(store.query({"uuid": uuids[0]}))
    return max(docs, key=lambda d: (d.get("index") or 0, str(d.get("completed_at", ""))))


_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-")


def _is_job_key(key: str) -> bool:
    return key in ("job_id", "job_ids") or key.endswith(("_job_id", "_job_ids")) or key == "bulk_sources"


def computed_from(doc: dict[str, Any]) -> list[tuple[str, str]]:
    """The job ids a document names as its sources: (field path, uuid), each uuid once, in document order.

    Reads ``reused_from_job_id`` and every ``*_job_id``/``*_job_ids``/``job_ids``/``bulk_sources``
    field of the output and the job metadata, at any depth.
    """
    found: dict[str, str] = {}

    def walk(value: Any, path: str, collect: bool) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{path}.{key}" if path else str(key), collect or _is_job_key(str(key)))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, f"{path}[{i}]", collect)
        elif collect and isinstance(value, str) and _UUID.match(value) and value != doc.get("uuid"):
            found.setdefault(value, path)

    walk(doc.get("output") or {}, "output", False)
    walk(doc.get("metadata") or {}, "metadata", False)
    return [(path, uuid) for uuid, path in found.items()]


def without_structures(value: Any) -> Any:
    """``value`` with every :data:`STRUCTURE_FIELDS` entry replaced by a short note, at any depth."""
    if isinstance(value, dict):
        return {k: ("(left out; --full shows it)" if k in STRUCTURE_FIELDS and v is not None
                    else without_structures(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [without_structures(v) for v in value]
    return value
