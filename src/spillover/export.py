"""Stored results as structure files: one frame per calculation, a NEB band as its images in order.

Every frame carries its energy (a SinglePointCalculator: the energy is all a stored document
holds, no forces; NEB images also get the forces of their band's checkpoint when it still holds
that band, for ``ase nebplot``) and, in ``atoms.info``, the key-value pairs that say where it comes from
(:data:`FRAME_KEYS`). Structure files are written through :mod:`spillover.structure_io`, which keeps
layers, parts and fixed atoms where the format can; an ASE database gets one row per frame.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from spillover.errors import InputError

if TYPE_CHECKING:
    from ase import Atoms

#: Key-value pairs of a frame (``atoms.info``, ASE database rows), when the document has them.
FRAME_KEYS = ("job_id", "system", "preset", "analysis", "label", "kind", "converged", "doc_type", "site")
#: Keys that tell apart the frames of one job: NEB image, funnel survivor, band of a hop network.
FRAME_INDEX_KEYS = ("image", "survivor", "band")
#: Document types with structures, and what :func:`frames` makes of them.
WITH_STRUCTURES = {
    "calculation": "its final structure",
    "system-cell": "the cell (no energy)",
    "funnel": "its final relaxations (survivors), lowest first",
    "neb": "the band's images in order, endpoints included",
    "hop-network": "every computed band's images, band after band",
}
SELECTION_HELP = "job ids (8+ characters) or key=value conditions, e.g. doc_type=calculation preset=screen"


def _site(metadata: dict[str, Any]) -> str | None:
    """The site a calculation is of, from its ``metadata`` (``site`` there or one level down; funnel first)."""
    if isinstance(metadata.get("site"), str):
        return metadata["site"]
    sections = sorted((v for k, v in metadata.items() if isinstance(v, dict)), key=lambda v: "candidate" not in v)
    return next((s["site"] for s in sections if isinstance(s.get("site"), str)), None)


def _with_energy(atoms: Atoms, energy: float | None, calculator: str | None) -> Atoms:
    from ase.calculators.singlepoint import SinglePointCalculator

    if energy is not None:
        atoms.calc = SinglePointCalculator(atoms, energy=float(energy))
        if calculator:
            atoms.calc.name = calculator  # what 'ase db' shows in its calculator column
    return atoms


def _info(atoms: Atoms, values: dict[str, Any]) -> Atoms:
    atoms.info.update({k: v for k, v in values.items() if v is not None and v != ""})
    return atoms


def _calc_frame(out: dict[str, Any], base: dict[str, Any], **index: int) -> Atoms:
    from spillover.schemas.calc import calc_atoms

    atoms = _with_energy(calc_atoms(out), out.get("energy_eV"), out.get("calculator"))
    site = _site(out.get("metadata") or {})
    return _info(atoms, {**base, "label": out.get("label") or out.get("system"), "kind": out.get("kind"),
                         "converged": out.get("converged"), "site": site, **index})


def _band_forces(neb: dict[str, Any]) -> list | None:
    """The forces of the band's images from its checkpoint (``band.traj``), if that still holds this very band.

    The database stores no forces; the checkpoint of the band's job folder does, and is used only when
    its positions and energies are those stored (else it belongs to another run, or is gone).
    """
    import numpy as np
    from ase.io import read

    path = Path(str(neb.get("checkpoint_dir") or "")) / "band.traj"
    if not neb.get("checkpoint_dir") or not path.is_file():
        return None
    try:
        band = read(path, ":")
        stored = np.asarray(neb["image_positions_A"], dtype=float)
        if len(band) != len(stored) or any(
            len(a) != len(p) or np.abs(a.positions - p).max() > 1e-6 or abs(a.get_potential_energy() - e) > 1e-6
            for a, p, e in zip(band, stored, neb["energies_eV"])
        ):
            return None
        return [a.get_forces(apply_constraint=False) for a in band]
    except Exception:  # noqa: BLE001 - an unreadable checkpoint has no forces to offer
        return None


def _neb_frames(neb: dict[str, Any], base: dict[str, Any], notes: list[str], **index: int) -> list[Atoms]:
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.constraints import FixAtoms

    forces = _band_forces(neb)
    if forces is None:
        notes.append(f"band {neb.get('label')!r}: energies only (the database stores no forces and its checkpoint "
                     "is gone or changed); 'ase nebplot' needs forces, 'spillover plot neb JOB_ID' draws the band")
    images = []
    for i, (positions, energy) in enumerate(zip(neb["image_positions_A"], neb["energies_eV"])):
        atoms = Atoms(symbols=neb["symbols"], positions=positions, cell=neb["cell_A"], pbc=neb["pbc"])
        if neb.get("fixed_indices"):
            atoms.set_constraint(FixAtoms(indices=neb["fixed_indices"]))
        _with_energy(atoms, energy, neb.get("calculator"))
        if forces is not None:
            atoms.calc = SinglePointCalculator(atoms, energy=float(energy), forces=forces[i])
            atoms.calc.name = neb.get("calculator") or atoms.calc.name
        images.append(_info(atoms, {**base, "label": neb.get("label"), "kind": neb.get("region"),
                                    "converged": neb.get("converged"), **index, "image": i}))
    return images


def frames(doc: dict[str, Any], notes: list[str] | None = None) -> list[Atoms]:
    """The structures of one stored job document (see :data:`WITH_STRUCTURES`); empty if it has none.

    Parameters
    ----------
    doc
        A whole job document (``uuid``, ``metadata``, ``output``).
    notes
        Gets a line for each NEB band whose forces could not be found (its images carry energies only).
    """
    notes = [] if notes is None else notes
    out = doc.get("output") if isinstance(doc.get("output"), dict) else {}
    meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
    doc_type = out.get("doc_type")
    base = {"job_id": doc["uuid"], "system": meta.get("system") or out.get("system"),
            "preset": out.get("preset") or meta.get("preset"), "analysis": meta.get("analysis"), "doc_type": doc_type}
    if doc_type in ("calculation", "system-cell"):
        return [_calc_frame(out, base)]
    if doc_type == "funnel":
        return [_calc_frame(s, base, survivor=i) for i, s in enumerate(out.get("survivors") or [])]
    if doc_type == "neb":
        return _neb_frames(out, base, notes)
    if doc_type == "hop-network":
        bands = [e["neb"] for e in out.get("edges") or [] if e.get("neb")]
        return [a for b, neb in enumerate(bands) for a in _neb_frames(neb, base, notes, band=b)]
    return []


def _ase_value(value: Any) -> Any:
    """A value an ASE database takes: str, int, float or bool (numpy scalars made plain).

    ASE refuses a string that reads as a number or a boolean; such a value is stored as that number.
    """
    import numpy as np
    from ase.db.core import str_represents

    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str):
        for kind in (bool, int, float):
            if str_represents(value, kind):
                return (value.lower() == "true") if kind is bool else kind(value)
    return value


def key_value_pairs(atoms: Atoms) -> dict[str, Any]:
    """The ASE-database key-value pairs of a frame (:data:`FRAME_KEYS` and its index keys that it has)."""
    keys = FRAME_KEYS + FRAME_INDEX_KEYS
    return {k: _ase_value(atoms.info[k]) for k in keys if atoms.info.get(k) is not None}


def _identity(values: dict[str, Any]) -> tuple:
    return tuple(values.get(k) for k in ("job_id", *FRAME_INDEX_KEYS))


def write_db(images: list[Atoms], output: Path, field: str = "--output") -> tuple[int, int]:
    """Append ``images`` to the ASE database ``output`` (created if missing), one row each.

    A frame already there (same job id and frame index keys) is not written again, so exporting
    the same selection twice adds nothing. Layers and parts go to each row's ``data``; tags are the layers.

    Returns
    -------
    tuple of int
        Rows written, frames skipped because already there.

    Raises
    ------
    InputError
        A file that is not an ASE database, or one the system refuses.
    """
    import sqlite3

    from ase.db import connect

    from spillover.structure_io import PER_ATOM_ARRAYS

    if not output.parent.is_dir():
        raise InputError(field, f"directory {output.parent} does not exist")
    if output.is_dir():
        raise InputError(field, f"{output} is a directory", "a file name, e.g. results.db")
    written = skipped = 0
    try:
        db = connect(output, type="db", append=True)
        with db:
            present = {_identity(row.key_value_pairs) for row in db.select()}
            for atoms in images:
                values = key_value_pairs(atoms)
                if _identity(values) in present:
                    skipped += 1
                    continue
                data = {k: atoms.arrays[k].tolist() for k in PER_ATOM_ARRAYS if k in atoms.arrays}
                db.write(atoms, key_value_pairs=values, data=data)
                present.add(_identity(values))
                written += 1
    except sqlite3.DatabaseError as exc:
        raise InputError(field, f"{output.name} is not an ASE database ({exc})",
                         "a new file name or an ASE database (.db)") from None
    except OSError as exc:
        raise InputError(field, f"cannot write {output}: {exc.strerror or exc.__class__.__name__}") from None
    return written, skipped


def parse_items(items: list[str] | tuple[str, ...], field: str = "SELECTION") -> tuple[list[str], list]:
    """``ID|SELECTION...`` as (job ids, conditions): one of the two is empty. Checked before any database is read.

    Raises
    ------
    InputError
        Nothing given, ids mixed with conditions, or a bad condition.
    """
    from spillover.analysis.selection import OPERATORS, parse_selection

    if not items:
        raise InputError(field, "nothing selected", SELECTION_HELP)
    is_condition = [any(op in item for op in OPERATORS) for item in items]
    if not any(is_condition):
        return list(items), []
    if not all(is_condition):
        raise InputError(field, "job ids mixed with key=value conditions", "either job ids or conditions")
    return [], parse_selection(items)


def selected_documents(store: Any, items: list[str] | tuple[str, ...], field: str = "SELECTION") -> list[dict]:
    """The whole job documents ``items`` name: job ids (in the order given), or a selection (oldest first).

    Raises
    ------
    InputError
        As :func:`parse_items`; an unknown or ambiguous id, or a selection that matches nothing.
    """
    from spillover.analysis.listing import document_rows, find_job
    from spillover.analysis.selection import select, sort_rows

    ids, conditions = parse_items(items, field)
    if ids:
        docs = [find_job(store, item, "ID") for item in ids]
        return list({d["uuid"]: d for d in docs}.values())
    rows = sort_rows(select(document_rows(store), conditions), "completed_at")
    if not rows:
        raise InputError(field, f"no stored result matches {' '.join(items)[:200]!r}", "see 'spillover results'")
    order = {r["job_id"]: i for i, r in enumerate(rows)}
    newest: dict[str, dict] = {}
    for doc in store.query({"uuid": {"$in": list(order)}}):
        kept = newest.get(doc["uuid"])
        if kept is None or (doc.get("index") or 0) > (kept.get("index") or 0):
            newest[doc["uuid"]] = doc
    return sorted(newest.values(), key=lambda d: order[d["uuid"]])


def export(docs: list[dict], output: Path, field: str = "--output") -> dict[str, Any]:
    """Write the structures of ``docs`` to ``output``: an ASE database (.db) or a structure file.

    Returns
    -------
    dict
        ``frames`` (written), ``jobs`` (with structures), ``skipped_jobs`` and ``skipped_types`` (documents
        without structures, left out), ``notes`` (bands without forces), ``lost`` (what the file could
        not keep) and, for .db, ``already_there``.

    Raises
    ------
    InputError
        None of ``docs`` holds a structure, or the file cannot be written.
    """
    from spillover.structure_io import check_output, write_structures

    is_db = output.suffix.lower() == ".db"
    if not is_db:
        check_output(output, field)
    images, jobs, skipped, notes = [], 0, [], []
    for doc in docs:
        found = frames(doc, notes)
        images += found
        jobs += bool(found)
        if not found:
            skipped.append(str((doc.get("output") or {}).get("doc_type") or "no output"))
    if not images:
        raise InputError("SELECTION", f"the {len(docs)} selected results hold no structures "
                         f"(document types: {', '.join(sorted(set(skipped)))})",
                         ", ".join(WITH_STRUCTURES))
    report: dict[str, Any] = {"frames": len(images), "jobs": jobs, "skipped_types": sorted(set(skipped)),
                              "skipped_jobs": len(skipped), "notes": notes}
    if is_db:
        written, there = write_db(images, output, field)
        report.update(frames=written, already_there=there, lost=[])
    else:
        report["lost"] = write_structures(images, output, field)
    return report
