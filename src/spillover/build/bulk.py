"""Bulk crystals of the project, read from the CIF files in ``structures/``.

Each CIF holds the conventional cell at the experimental lattice parameters, with a
``# source: ...`` provenance comment on its first line.
"""

from __future__ import annotations

import os
from pathlib import Path

from ase import Atoms
from ase.io import read

from spillover.errors import InputError

#: Material name -> CIF file name inside :func:`structures_dir`.
BULKS: dict[str, str] = {
    "rutile": "rutile.cif",
    "anatase": "anatase.cif",
    "RuO2": "RuO2.cif",
    "Ru": "Ru.cif",
    "Ti": "Ti.cif",
}

#: Environment variable that overrides the structures directory.
STRUCTURES_ENV = "SPILLOVER_STRUCTURES_DIR"


def structures_dir() -> Path:
    """Return the directory that holds the bulk CIF files.

    Returns
    -------
    Path
        ``$SPILLOVER_STRUCTURES_DIR`` if that variable is set, otherwise the
        repository's ``structures/`` directory.

    Raises
    ------
    InputError
        If the directory does not exist.
    """
    env = os.environ.get(STRUCTURES_ENV)
    if env:
        path = Path(env).expanduser()
        field = STRUCTURES_ENV
    else:
        path = Path(__file__).resolve().parents[3] / "structures"
        field = "structures_dir"
    if not path.is_dir():
        raise InputError(field, f"structures directory {str(path)!r} does not exist",
                         "an existing directory with the bulk CIF files")
    return path


def load_bulk(name: str) -> Atoms:
    """Read the conventional bulk cell of a material.

    Parameters
    ----------
    name
        One of the keys of :data:`BULKS` (``rutile``, ``anatase``, ``RuO2``, ``Ru``, ``Ti``).

    Returns
    -------
    ase.Atoms
        Conventional cell at the experimental lattice, ``pbc`` all True,
        ``info["bulk"]`` set to ``name``.

    Raises
    ------
    InputError
        For an unknown name or a missing/unreadable CIF file.
    """
    if name not in BULKS:
        raise InputError("material", f"unknown material {name!r}", ", ".join(BULKS))
    path = structures_dir() / BULKS[name]
    if not path.is_file():
        raise InputError("material", f"CIF file {str(path)!r} for {name!r} is missing",
                         f"a CIF file named {BULKS[name]} in {str(path.parent)!r}")
    try:
        atoms = read(path, format="cif")
    except Exception as exc:  # noqa: BLE001 - any parse failure is bad input
        raise InputError("material", f"cannot read CIF file {str(path)!r}: {exc}") from exc
    atoms.pbc = True
    atoms.info = {"bulk": name, "source": str(path)}
    return atoms
