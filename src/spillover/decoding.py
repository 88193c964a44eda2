"""Stored documents are decoded only into the project's schemas and pymatgen/jobflow types.

jobflow resolves a job's inputs with monty's ``MontyDecoder``, and pymatgen decodes site
properties with it: both import whatever module a document's ``@module`` names. A document
crafted into a shared database could so make a job import any module on the path. Every
document is therefore checked before it is decoded: an ``@module`` outside
:data:`ALLOWED_MODULES` is refused with one clear error.
"""

from __future__ import annotations

from typing import Any

from jobflow import JobStore

from spillover.errors import UnsafeDocumentError

#: Module prefixes a stored document may name in ``@module`` (the project's documents and makers,
#: pymatgen's structures, jobflow's references and documents, numpy arrays and datetimes).
ALLOWED_MODULES = ("spillover.", "pymatgen.core.", "jobflow.core.", "numpy", "datetime")
#: How deep a document may nest before the check gives up (and refuses).
MAX_DEPTH = 200


def _allowed(module: Any) -> bool:
    if not isinstance(module, str):
        return False
    return any(module == p.rstrip(".") or module.startswith(p.rstrip(".") + ".") for p in ALLOWED_MODULES)


def check_modules(doc: Any, where: str = "document") -> None:
    """Raise unless every ``@module`` in ``doc`` is one of :data:`ALLOWED_MODULES`.

    Raises
    ------
    UnsafeDocumentError
        Naming the first refused module.
    """
    stack = [(doc, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise UnsafeDocumentError(f"db: {where} nests deeper than {MAX_DEPTH} levels; not decoded")
        if isinstance(item, dict):
            module = item.get("@module")
            if module is not None and not _allowed(module):
                raise UnsafeDocumentError(f"db: {where} names module {str(module)[:80]!r}; not decoded "
                                          f"(allowed: {', '.join(ALLOWED_MODULES)})")
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend((v, depth + 1) for v in item)


class SafeJobStore(JobStore):
    """A jobflow JobStore that checks every output it hands to jobflow before it is decoded."""

    def get_output(self, uuid: str, *args: Any, **kwargs: Any) -> Any:
        """The output of job ``uuid`` (see :meth:`jobflow.JobStore.get_output`), checked first."""
        output = super().get_output(uuid, *args, **kwargs)
        check_modules(output, f"stored output of job {uuid}")
        return output
