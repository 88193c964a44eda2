"""A band whose interior falls below both its ends: the state it found, relaxed, and the two hops through it.

A hop's endpoints are relaxed vacancies, yet its band can pass a state lower than both (on the DFT hop
of the NEB economy an image lay 0.06 eV below the ends; README). Such a band describes two elementary
hops, and one climbing image cannot converge both humps of it. Here the lowest interior image is relaxed
at the band's preset; if it stays below both ends it is an intermediate state, and a band is computed
from each end to it. The hop's saddle is then the highest point of its route through the intermediate,
each hump the highest image of a converged band spanning it: the two new bands', or the split band's own
climbing image for the side it converged on where that route is lower (BandSplit.finish; docs/science.md,
"Vacancy migration").
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pymatgen.io.ase import AseAtomsAdaptor

from spillover.schemas import calc_atoms
from spillover.schemas.hop_network import BandSplit


def lowest_interior(neb: Any) -> tuple[int, float]:
    """Index of the lowest intermediate image of a band and its energy above the lower end (eV)."""
    energies = neb.energies_eV
    k = int(np.argmin(energies[1:-1])) + 1
    return k, float(energies[k] - min(energies[0], energies[-1]))


def band_image(neb: Any, k: int):
    """Image ``k`` of a stored band as a structure, its fixed atoms kept (selective dynamics)."""
    from ase import Atoms
    from ase.constraints import FixAtoms

    atoms = Atoms(neb.symbols, positions=np.asarray(neb.image_positions_A[k]), cell=neb.cell_A, pbc=neb.pbc)
    atoms.set_constraint(FixAtoms(indices=neb.fixed_indices) if neb.fixed_indices else None)
    return atoms


def split_bands(items: list[tuple[Any, dict[str, Any]]], below_eV: float, workers: int) -> list[BandSplit | None]:
    """Split every band of ``items`` that holds a state more than ``below_eV`` below both its ends.

    Parameters
    ----------
    items
        (band document, the band's task for :func:`spillover.jobs.hop_network.run_band`) pairs.
    below_eV
        How far below the lower end the lowest interior image must lie (eV).
    workers
        Processes for the relaxations and the bands.

    Returns
    -------
    list
        Per item: None where the band holds no such state, else a :class:`BandSplit`; its ``bands``
        are empty, and ``reason`` says why, where the relaxed state did not stay below both ends.
    """
    from spillover.jobs.funnel import relax_candidate
    from spillover.jobs.hop_network import run_band
    from spillover.workers import map_tasks

    found = []
    for i, (neb, task) in enumerate(items):
        k, rel = lowest_interior(neb)
        if rel < -below_eV:
            found.append((i, neb, task, k, rel))
    relaxations = map_tasks(relax_candidate, [
        {"label": f"{task['label']} intermediate (image {k})", "preset": task["preset"],
         "preset_overrides": task["preset_overrides"], "atoms": band_image(neb, k), "kind": "defect",
         "checkpoint_dir": task["checkpoint_dir"], "metadata": task["metadata"]}
        for _, neb, task, k, _ in found], workers)
    splits: dict[int, BandSplit] = {}
    bands = []
    for (i, neb, task, k, rel), calc in zip(found, relaxations):
        lower = min(neb.energies_eV[0], neb.energies_eV[-1])
        energy = float(calc.energy_eV)
        split = BandSplit(image=k, image_rel_eV=rel, intermediate_energy_eV=energy,
                          intermediate_converged=bool(calc.converged), relax_force_calls=int(calc.force_calls or 0))
        if not calc.converged:
            split.reason = "the intermediate state's relaxation did not converge"
        elif energy >= lower - below_eV:
            split.reason = (f"the relaxed state lies {energy - lower:+.3f} eV from the lower end, not below "
                            f"-{below_eV:g} eV: it went back towards an end")
        else:
            middle = AseAtomsAdaptor.get_structure(calc_atoms(calc)).as_dict()
            for part, (a, b) in enumerate(((task["initial"], middle), (middle, task["final"])), start=1):
                via = f" via intermediate ({part}/2)"
                hop = {**task["hop"], "label": task["hop"].get("label", "") + via, "split_part": part}
                bands.append((i, {**task, "initial": a, "final": b, "label": task["label"] + via, "hop": hop}))
        splits[i] = split
    for (i, _), doc in zip(bands, map_tasks(run_band, [t for _, t in bands], workers)):
        splits[i].bands.append(doc)
    for i, split in splits.items():
        if split.bands:
            split.finish(items[i][0])
    return [splits.get(i) for i in range(len(items))]


__all__ = ["band_image", "lowest_interior", "split_bands"]
