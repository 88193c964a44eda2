"""Bulk relaxations every analysis starts from."""

from __future__ import annotations

from jobflow import Job

from spillover.build.bulk import load_bulk
from spillover.calculators import load_preset
from spillover.jobs.relax import RelaxMaker


def bulk_relax_jobs(bulks: list[str], preset: str, preset_overrides: dict | None = None) -> dict[str, Job]:
    """One relaxation job per bulk, at the experimental lattice from structures/.

    The cell is relaxed only where the preset allows it (``relax.bulk_cell``): at an
    unconverged plane-wave cutoff the Pulay stress would collapse the cell (SCIENCE.md).

    Parameters
    ----------
    bulks
        Bulk names (keys of :data:`spillover.build.bulk.BULKS`).
    preset
        Calculator preset.
    preset_overrides
        Overrides deep-merged into the preset.

    Returns
    -------
    dict
        Bulk name -> relaxation job (its output is a :class:`~spillover.schemas.CalcDoc`).
    """
    from pymatgen.io.ase import AseAtomsAdaptor

    resolved = load_preset(preset, preset_overrides or None)
    jobs = {}
    for name in bulks:
        maker = RelaxMaker(
            name=f"relax bulk {name}",
            preset=preset,
            preset_overrides=preset_overrides or {},
            relax_cell=resolved.relax.bulk_cell,
        )
        structure = AseAtomsAdaptor.get_structure(load_bulk(name))
        jobs[name] = maker.make(structure, label=name, kind="bulk")
    return jobs
