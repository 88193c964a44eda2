"""The results database from Python (notebooks): the tables, stored structures and selections as objects.

::

    from spillover import api
    api.table("oxidation", db="spillover-db", T=600)   # the rows of 'spillover table oxidation --format json'
    api.results("doc_type=calculation", "natoms>50")    # 'spillover results' rows, all of them
    atoms = api.structure("8b8cd7b8")                   # ase Atoms with layer/part arrays, fixed atoms

Heavy libraries (pandas, ase, pymatgen, jobflow) are imported on the first call.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spillover.errors import InputError

if TYPE_CHECKING:
    import pandas
    from ase import Atoms

#: ``spillover table NAME`` -> (row function, the module constant of the keys its ``--format json`` prints,
#: or None for whole rows); the constants are the ones the table commands use.
TABLES: dict[str, tuple[str, str | None]] = {
    "lattice-match": ("spillover.analysis.lattice_match:lattice_match_rows", None),
    "lattice-scan": ("spillover.analysis.lattice_match:stored_scan_rows", None),
    "oxidation": ("spillover.analysis.oxidation:oxidation_rows", None),
    "o2-reference": ("spillover.analysis.oxidation:o2_reference_rows", None),
    "mu-profile": ("spillover.analysis.mu_profile:profile_rows", "PROFILE_JSON_KEYS"),
    "transfer": ("spillover.analysis.mu_profile:transfer_rows", "TRANSFER_JSON_KEYS"),
    "barriers": ("spillover.analysis.barriers:barrier_rows", None),
    "hop-paths": ("spillover.analysis.barriers:hop_path_rows", "PATH_JSON_KEYS"),
    "fidelity": ("spillover.analysis.fidelity:fidelity_rows", "FIDELITY_JSON_KEYS"),
}
#: Filter names of the CLI that the row functions call otherwise.
FILTER_ALIASES = {"p": "p_bar"}


def _store(db: str | Path | None) -> Any:
    from spillover.store import connect

    return connect(db, create=False)


def _row_function(name: str):
    if name not in TABLES:
        raise InputError("name", f"unknown table {name!r}", ", ".join(TABLES))
    module, _, function = TABLES[name][0].partition(":")
    return getattr(importlib.import_module(module), function)


def table(name: str, db: str | Path | None = None, **filters: Any) -> pandas.DataFrame:
    """One table of ``spillover table NAME`` as a DataFrame, its columns those of ``--format json``.

    Parameters
    ----------
    name
        A ``spillover table`` name: lattice-match, lattice-scan, oxidation, o2-reference, mu-profile,
        transfer, barriers, hop-paths, fidelity.
    db
        Database directory or JobStore config file [default: $SPILLOVER_DB or ./spillover-db].
    **filters
        The table's filters, e.g. ``preset="screen"``, ``system="rutile-110/Ru-0001"``, ``run_id=...``;
        for oxidation also ``T``, ``p`` (bar), ``support``, ``reference``.

    Returns
    -------
    pandas.DataFrame
        One row per table row; empty (no columns) when nothing is stored.

    Raises
    ------
    InputError
        An unknown table name or filter (the allowed ones named), a value outside what the CLI allows
        (``T``, ``p``, ``support``, ``reference`` of the oxidation table), or no database at ``db``.
    """
    import pandas as pd

    function = _row_function(name)
    allowed = [p for p in inspect.signature(function).parameters if p != "store"]
    kwargs = {FILTER_ALIASES.get(k, k): v for k, v in filters.items()}
    for key in kwargs:
        if key not in allowed:
            raise InputError(key, f"not a filter of table {name}", ", ".join(allowed))
    if kwargs.get("preset") is not None:
        from spillover.commands.options import check_preset_name

        check_preset_name("preset", kwargs["preset"])
    if name == "oxidation":
        from spillover.commands.oxidation import check_filters

        check_filters(kwargs.get("T", 300.0), kwargs.get("p_bar", 1.0), kwargs.get("support"),
                      kwargs.get("reference", "stored"), fields=("T", "p", "support", "reference"))
    rows = function(_store(db), **kwargs)
    if name == "hop-paths":
        from spillover.analysis.barriers import path_json

        rows = [path_json(r) for r in rows]
    elif TABLES[name][1] is not None:
        keys = getattr(importlib.import_module(function.__module__), TABLES[name][1])
        rows = [{k: r[k] for k in keys} for r in rows]
    return pd.DataFrame(rows)


def results(*selection: str, db: str | Path | None = None) -> pandas.DataFrame:
    """The rows of ``spillover results SELECTION... --limit 0 --json``, newest first, as a DataFrame.

    Parameters
    ----------
    *selection
        Conditions as for ``spillover results``, e.g. ``"preset=screen"``, ``"natoms>50"``, ``"converged=true"``.
    db
        Database directory or JobStore config file [default: $SPILLOVER_DB or ./spillover-db].

    Raises
    ------
    InputError
        A bad condition (unknown key, value of the wrong kind) or no database at ``db``.
    """
    import pandas as pd

    from spillover.analysis.listing import document_rows
    from spillover.analysis.selection import parse_selection, select

    conditions = parse_selection(list(selection))
    rows = select(document_rows(_store(db)), conditions)
    return pd.DataFrame(rows)


def structure(job_id: str, db: str | Path | None = None) -> Atoms:
    """The structure of a stored calculation or system cell, with its ``layer``/``part`` arrays and fixed atoms.

    A calculation's structure carries its energy (a SinglePointCalculator) and, in ``info``, its job id,
    label, preset and the other key-value pairs ``spillover export`` writes.

    Parameters
    ----------
    job_id
        The job uuid or its first 8+ characters.
    db
        Database directory or JobStore config file [default: $SPILLOVER_DB or ./spillover-db].

    Raises
    ------
    InputError
        An unknown or ambiguous id, or a job with no single structure (an NEB band: 'spillover export').
    """
    from spillover.analysis.listing import find_job
    from spillover.export import frames

    doc = find_job(_store(db), job_id, "job_id")
    doc_type = (doc.get("output") or {}).get("doc_type")
    if doc_type not in ("calculation", "system-cell"):
        raise InputError("job_id", f"job {doc['uuid'][:8]} is a {doc_type or 'job without output'} document, "
                         "not one structure", "a calculation or system cell; 'spillover export' writes bands and funnels")
    return frames(doc)[0]
