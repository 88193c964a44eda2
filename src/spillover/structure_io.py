"""Structure files in and out with what the project's models carry besides positions.

The models carry per-atom ``layer`` and ``part`` arrays and FixAtoms constraints. extxyz keeps
all three. An ASE trajectory keeps the constraints; the arrays travel in its ``info``
(:data:`ARRAYS_INFO_KEY`), because ASE's trajectory writer stores only its own per-atom arrays.
Other formats keep what they can: POSCAR keeps the fixed atoms, CIF positions only. Every write is
read back, and what the file lost is reported, never dropped silently.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from spillover.errors import InputError

if TYPE_CHECKING:
    from ase import Atoms

#: The per-atom arrays of a model (:mod:`spillover.build.layers`, :mod:`spillover.build.interfaces`).
PER_ATOM_ARRAYS = ("layer", "part")
#: Where a trajectory file carries :data:`PER_ATOM_ARRAYS`.
ARRAYS_INFO_KEY = "spillover_arrays"
EXAMPLES = "e.g. .extxyz or .traj (keep layers, parts and fixed atoms), .vasp, .cif"


def read_structure(path: Path, field: str) -> Atoms:
    """The last structure of a file ASE reads, with its layer/part arrays and constraints.

    Raises
    ------
    InputError
        A missing file, one ASE cannot read, or one with no atoms or no 3D cell.
    """
    from ase.io import read

    if not path.is_file():
        raise InputError(field, f"file {path} does not exist", "a structure file ASE reads")
    try:
        atoms = read(path)
    except Exception as exc:  # noqa: BLE001 - any parse failure is bad input
        raise InputError(field, f"cannot read {path.name} as a structure ({exc.__class__.__name__})",
                         EXAMPLES) from None
    if not hasattr(atoms, "get_positions"):  # read() of some formats gives other objects
        raise InputError(field, f"{path.name} holds no structure", EXAMPLES)
    if len(atoms) == 0:
        raise InputError(field, f"{path.name} holds no atoms")
    if atoms.cell.rank < 3:
        raise InputError(field, f"{path.name} has no 3D cell", "a periodic cell; put a molecule in a box first")
    return unpack_arrays(atoms)


def _kept(atoms: Atoms, back: Atoms) -> list[str]:
    """What ``atoms`` carries that ``back`` (it, read back from a file) lost."""
    from spillover.schemas import fixed_indices

    lost = [key for key in PER_ATOM_ARRAYS
            if key in atoms.arrays and (key not in back.arrays
                                        or not np.array_equal(atoms.arrays[key], back.arrays[key]))]
    if fixed_indices(atoms) != fixed_indices(back):
        lost.append("fixed atoms")
    return lost


def write_structure(atoms: Atoms, output: Path, field: str = "--output") -> list[str]:
    """Write ``atoms`` to ``output`` (format from the extension) and say what the file could not keep.

    Returns
    -------
    list of str
        What the file lost (``layer``, ``part``, ``fixed atoms``); empty when it kept everything.

    Raises
    ------
    InputError
        A missing directory, a directory given as file, an unknown or read-only format, a format
        that cannot hold this structure, or a file the system refuses.
    """
    return write_structures([atoms], output, field)


def check_output(output: Path, field: str = "--output") -> str:
    """The ASE format name of ``output``; raises InputError before anything is computed if it cannot be written."""
    from ase.io.formats import filetype, ioformats

    if not output.parent.is_dir():
        raise InputError(field, f"directory {output.parent} does not exist")
    if output.is_dir():
        raise InputError(field, f"{output} is a directory", "a file name, e.g. slab.extxyz")
    try:
        name = filetype(output, read=False)
        fmt = ioformats[name]
    except (KeyError, ValueError):
        raise InputError(field, f"unknown structure format for {output.name}", EXAMPLES) from None
    if not fmt.can_write:
        raise InputError(field, f"ASE cannot write {fmt.name} files", EXAMPLES)
    return name


def lost_note(output: Path, lost: list[str]) -> str | None:
    """One line saying what ``output`` could not keep, or None."""
    if not lost:
        return None
    return (f"note: {output.name} does not keep {', '.join(lost)}; .extxyz and .traj keep layers, parts and "
            "fixed atoms")


def unpack_arrays(atoms: Atoms) -> Atoms:
    """Move the :data:`PER_ATOM_ARRAYS` a trajectory frame carries in its ``info`` back into its arrays."""
    packed = atoms.info.pop(ARRAYS_INFO_KEY, None)
    if isinstance(packed, dict):
        for key in PER_ATOM_ARRAYS:
            values = packed.get(key)
            if values is not None and len(values) == len(atoms):
                atoms.arrays[key] = np.asarray(values, dtype=int)
    return atoms


def _energy(atoms: Atoms) -> float | None:
    try:
        return atoms.get_potential_energy() if atoms.calc is not None else None
    except Exception:  # noqa: BLE001 - a calculator without a stored energy
        return None


def _count(n: int) -> str:
    return "this structure" if n == 1 else f"{n} structures"


def write_structures(images: list[Atoms], output: Path, field: str = "--output") -> list[str]:
    """Write several structures as the frames of one file (as :func:`write_structure` writes one).

    Returns
    -------
    list of str
        What the file lost for any frame (``layer``, ``part``, ``fixed atoms``, ``energies``,
        ``frames`` when it holds fewer than written); empty when it kept everything.

    Raises
    ------
    InputError
        No structures, or any reason :func:`write_structure` raises.
    """
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import read, write

    if not images:
        raise InputError(field, "no structures to write")
    format_name = check_output(output, field)
    existed = output.exists()
    to_write = images
    if format_name == "traj":
        to_write = []
        for atoms in images:
            frame = atoms.copy()
            if atoms.calc is not None:  # the stored results (energy), bound to the copy
                frame.calc = SinglePointCalculator(frame, **atoms.calc.results)
            frame.info[ARRAYS_INFO_KEY] = {k: atoms.arrays[k].tolist() for k in PER_ATOM_ARRAYS if k in atoms.arrays}
            to_write.append(frame)
    try:
        write(output, to_write, format=format_name)
    except OSError as exc:
        raise InputError(field, f"cannot write {output}: {exc.strerror or exc.__class__.__name__}") from None
    except Exception as exc:  # noqa: BLE001 - a format that cannot hold these structures is a bad output
        if not existed:
            output.unlink(missing_ok=True)
        raise InputError(field, f"cannot write {_count(len(images))} as {output.suffix or output.name} "
                         f"({exc.__class__.__name__})", EXAMPLES) from None
    try:
        back = [unpack_arrays(a) for a in read(output, ":", format=format_name)]
    except Exception:  # noqa: BLE001 - a format ASE writes but cannot read back: nothing of the extras is known kept
        return [k for k in PER_ATOM_ARRAYS if any(k in a.arrays for a in images)] + ["fixed atoms", "energies"]
    lost: list[str] = []
    for atoms, frame in zip(images, back):
        lost += [k for k in _kept(atoms, frame) if k not in lost]
        if _energy(atoms) is not None and _energy(frame) is None and "energies" not in lost:
            lost.append("energies")
    if len(back) < len(images):
        lost.append("frames")
    order = [*PER_ATOM_ARRAYS, "fixed atoms", "energies", "frames"]
    return sorted(lost, key=order.index)
