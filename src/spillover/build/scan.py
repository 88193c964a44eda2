"""The lattice-match scan: the best coincidence of every film facet on every support facet.

The same candidates and ranking as the system cells (:mod:`spillover.build.matching`, rule in
:mod:`spillover.build.interfaces`); for each pair the first (smallest-area) coincidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ase import Atoms

from spillover.build.matching import check_bulks, check_limits, matches_at, surface_cell
from spillover.build.slabs import parse_facet
from spillover.errors import InputError
from spillover.sections.lattice_match import SCAN_FILMS, SCAN_SUPPORTS  # the default scan, named once



@dataclass
class ScanRow:
    """Smallest-area coincidence of one film facet on one support facet (None: none within the limits).

    Attributes
    ----------
    support, film
        The facets.
    area_A2
        Area of the coincidence cell, Å².
    substrate_matrix, film_matrix
        Supercells in the support's and the film's surface cells (canonical basis, rows matched).
    strain_percent
        ``f_i`` along the two supercell vectors.
    von_mises_percent
        von Mises strain of the film on the cell, percent.
    """

    support: str
    film: str
    area_A2: float | None
    substrate_matrix: list[list[int]] | None
    film_matrix: list[list[int]] | None
    strain_percent: list[float] | None
    von_mises_percent: float | None

    def to_dict(self) -> dict:
        """JSON-safe plain-type dictionary."""
        def rows(m):
            return None if m is None else [[int(x) for x in r] for r in m]

        return {"support": self.support, "film": self.film,
                "area_A2": None if self.area_A2 is None else float(self.area_A2),
                "substrate_matrix": rows(self.substrate_matrix), "film_matrix": rows(self.film_matrix),
                "strain_percent": None if self.strain_percent is None else [float(x) for x in self.strain_percent],
                "von_mises_percent": None if self.von_mises_percent is None else float(self.von_mises_percent)}


def _facets(names: Sequence[str] | str, field: str) -> list[str]:
    names = [names] if isinstance(names, str) else names
    if not isinstance(names, (list, tuple)) or not names or not all(isinstance(n, str) for n in names):
        raise InputError(field, f"must be a non-empty list of facet names, got {names!r}", "e.g. " + ", ".join(
            SCAN_FILMS if field == "films" else SCAN_SUPPORTS))
    for name in names:
        try:
            parse_facet(name)
        except InputError as err:
            raise InputError(field, err.problem, err.allowed) from None
    return list(names)


def lattice_scan(films: Sequence[str] = SCAN_FILMS, supports: Sequence[str] = SCAN_SUPPORTS, *,
                 bulks: dict[str, Atoms] | None = None, max_area: float = 120.0,
                 max_strain_percent: float = 6.0) -> list[ScanRow]:
    """Best coincidence cell of every film facet on every support facet.

    Parameters
    ----------
    films, supports
        Facet names (defaults :data:`SCAN_FILMS`, :data:`SCAN_SUPPORTS`).
    bulks
        Optional (relaxed) bulks by material name; missing ones come from the CIFs.
    max_area, max_strain_percent
        Search limits, as for :func:`spillover.build.interfaces.find_matches`.

    Returns
    -------
    list of ScanRow
        Support-major order; for each pair the first cell of the ranking of
        :mod:`spillover.build.interfaces` (smallest area, then von Mises), ranked at the CIF
        lattices and measured at the given ones; ``area_A2`` None where there is none.

    Raises
    ------
    InputError
        For bad facet names, bulks or limits.
    """
    films, supports = _facets(films, "films"), _facets(supports, "supports")
    check_limits(max_area, max_strain_percent)
    check_bulks(bulks)
    cells = {f: surface_cell(f, bulks) for f in dict.fromkeys([*supports, *films])}
    rows = []
    for support in supports:
        for film in films:
            found = matches_at(support, [film], max_area=max_area, max_strain_percent=max_strain_percent,
                               first=True, cells=cells)
            if not found:
                rows.append(ScanRow(support, film, None, None, None, None, None))
                continue
            m = found[0]
            rows.append(ScanRow(support, film, round(m.area, 4), [list(r) for r in m.cands[0].sub],
                                [list(r) for r in m.cands[0].film], [round(x, 4) for x in m.strains[0]],
                                round(m.von_mises[0], 4)))
    return rows


__all__ = ["SCAN_FILMS", "SCAN_SUPPORTS", "ScanRow", "lattice_scan"]
