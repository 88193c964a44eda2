"""Documents stored in the results database: provenance declared once (:mod:`.base`), one module per kind."""

from __future__ import annotations

from spillover.schemas.base import (
    Document,
    as_structure,
    content_hash,
    fixed_indices,
    package_versions,
    plain,
    structure_as_dict,
    utc_now,
)
from spillover.schemas.calc import CalcDoc, IonicStep, calc_atoms
from spillover.schemas.cells import CellDoc, FilmMatchEntry, ScanDoc

__all__ = [
    "CalcDoc", "CellDoc", "calc_atoms", "Document", "FilmMatchEntry", "IonicStep", "ScanDoc", "as_structure", "content_hash",
    "fixed_indices", "package_versions", "plain", "structure_as_dict", "utc_now",
]
