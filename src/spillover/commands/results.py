"""``spillover results``, ``spillover show`` and ``spillover export``: find, open and export stored results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from spillover.analysis.selection import allowed_keys
from spillover.commands.options import DbOption, JsonOption, check_directory, check_range
from spillover.sections.base import LIMIT

SELECTION_HELP = (
    "ASE-db-style conditions, all of which must hold: key=value, key!=value, key<value, key<=value, key>value, "
    f"key>=value (quote < and > in the shell; several may be joined by commas). Keys: {allowed_keys()}. "
    "Numbers compare as numbers, converged=true/false; job_id=PREFIX matches the start of the id; * in a text "
    "value matches any text (name='relax*')."
)
#: Default columns of the table (selection keys) and the headers of the table.
DEFAULT_COLUMNS = ("completed", "name", "label", "preset", "energy", "fmax", "job_id")
HEADERS = {"completed_at": "completed", "name": "job", "label": "model", "energy_eV": "energy (eV)",
           "max_force_eV_per_A": "fmax (eV/Å)", "job_id": "job id"}

IdArgument = Annotated[str, typer.Argument(metavar="ID", help="Job uuid or its first 8+ characters (see 'spillover results').")]
ScratchOption = Annotated[Optional[Path], typer.Option(
    help="Scratch root the job ran under [default: $SPILLOVER_SCRATCH, else ./spillover-scratch].")]


def _cell(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    if key == "label" and not value:
        value = row.get("system")
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key == "energy_eV":
        return f"{value:.4f}"
    if key == "max_force_eV_per_A":
        return f"{value:.3f}"
    if key == "job_id":
        return str(value)[:8]
    if key == "completed_at":
        return str(value)[:19].replace("T", " ")
    return str(value)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _title(shown: int, matched: int, selection: list[str], sort: str) -> str:
    what = f"{matched} stored results match {' '.join(selection)}" if selection else f"{matched} stored results"
    if not matched:
        return what
    order = "newest first" if sort == "-completed" else f"sorted by {sort}"
    more = f"; the first {shown} shown, --limit 0 shows all" if shown < matched else ""
    return f"{what} ({order}{more})"


def _pairs(doc: dict[str, Any], scratch: Path) -> list[tuple[str, str]]:
    """The lines of ``spillover show``: (label, text), only those the document has."""
    from spillover.analysis.listing import computed_from, row_of

    out = doc.get("output") if isinstance(doc.get("output"), dict) else {}
    row = row_of(doc)
    pairs = [("job", row["name"]), ("job id", row["job_id"]), ("completed", _cell(row, "completed_at")),
             ("document", ", ".join(x for x in (row["doc_type"] or "no output", row["task"], row["kind"]) if x)),
             ("label", row["label"]), ("system", row["system"]),
             ("atoms", " ".join(x for x in (str(row["natoms"] or ""), row["formula"] and f"({row['formula']})") if x)),
             ("study", ", ".join(x for x in (row["study"], row["run_id"] and f"run {row['run_id']}",
                                            row["analysis"] and f"analysis {row['analysis']}") if x)),
             ("preset", row["preset"] + (f", calculator {row['calculator']}" if row["calculator"] else ""))]
    if out.get("energy_eV") is not None:
        pairs.append(("energy", f"{out['energy_eV']:.6f} eV"
                      + (f" ({out['energy_per_atom_eV']:.6f} eV/atom)" if out.get("energy_per_atom_eV") is not None else "")))
    if out.get("Ea_forward_eV") is not None:
        pairs.append(("barrier", f"E_a forward {out['Ea_forward_eV']:.4f} eV, reverse {out['Ea_reverse_eV']:.4f} eV, "
                      f"dE {out['dE_eV']:+.4f} eV, {out.get('n_images')} images"))
    if out.get("max_force_eV_per_A") is not None:
        target = f" (target {out['fmax_target_eV_per_A']:g})" if out.get("fmax_target_eV_per_A") is not None else ""
        pairs.append(("max force", f"{out['max_force_eV_per_A']:.4f} eV/Å{target}"))
    if out.get("converged") is not None:
        pairs.append(("converged", "yes" if out["converged"] else "NO"))
    steps = out.get("n_ionic_steps", out.get("optimizer_steps"))
    cost = [f"{steps} steps" if steps is not None else "",
            f"{out['force_calls']} force calls" if out.get("force_calls") is not None else "",
            f"{out['runs']} runs" if (out.get("runs") or 1) > 1 else "",
            f"{out['wall_time_s']:.1f} s" if out.get("wall_time_s") is not None else ""]
    pairs.append(("cost", ", ".join(c for c in cost if c)))
    if out.get("survivors") is not None:
        pairs.append(("survivors", f"{len(out['survivors'])} final relaxations of {len(out.get('candidates') or [])} "
                      "candidates ('spillover export' writes them)"))
    versions = out.get("versions") or {}
    pairs.append(("versions", ", ".join(f"{k} {v}" for k, v in versions.items() if v != "not installed")))
    if out.get("content_hash"):
        pairs.append(("content hash", out["content_hash"][:16]))
    if out.get("reused_from_job_id"):
        pairs.append(("reused from", f"{out['reused_from_job_id']} (a stored result with the same content hash)"))
    sources = computed_from(doc)
    for i, (path, uuid) in enumerate(sources[:12]):
        pairs.append(("computed from" if i == 0 else "", f"{uuid}  {path}"))
    if len(sources) > 12:
        pairs.append(("", f"... and {len(sources) - 12} more ('spillover show ID --json' lists all)"))
    if out.get("checkpoint_dir"):
        pairs.append(("checkpoint", str(out["checkpoint_dir"])))
    pairs.append(("job folder", _folder_note(row["run_id"], scratch)))
    return [(k, v) for k, v in pairs if v]


def _folder_note(run_id: str, scratch: Path) -> str:
    """Where the job folder may lie: the database records no folder, so none is named (never guessed)."""
    run_dir = scratch / run_id if run_id else None
    if run_dir is not None and run_dir.is_dir():
        return f"not recorded in the database; the job folders of run {run_id} are below {run_dir}"
    return f"not recorded in the database; local job folders are below the scratch root {scratch}"


def register(app: typer.Typer, table_app: typer.Typer, plot_app: typer.Typer) -> None:
    """Add ``results``, ``show`` and ``export`` to the CLI."""

    @app.command("results")
    def results(
        selection: Annotated[Optional[list[str]], typer.Argument(metavar="SELECTION", help=SELECTION_HELP)] = None,
        columns: Annotated[Optional[str], typer.Option(
            help=f"Columns, comma-separated selection keys [default: {','.join(DEFAULT_COLUMNS)}].")] = None,
        sort: Annotated[str, typer.Option(help="Sort by KEY, or -KEY for descending (any selection key).")] = "-completed",
        limit: Annotated[int, typer.Option(
            help=f"Show at most N results after selecting and sorting (default 50; 0 = all; {LIMIT.text}).")] = 50,
        as_json: Annotated[bool, typer.Option("--json", help="Print the rows as one JSON list.")] = False,
        db: DbOption = None,
    ) -> None:
        """List what is stored (job, model, preset, energy, fmax, job id), newest first; select like 'ase db'."""
        from spillover.analysis.selection import column_keys, parse_selection, select, sort_key, sort_rows

        check_range("--limit", limit, LIMIT)
        conditions = parse_selection(selection or [])
        keys = column_keys(columns, DEFAULT_COLUMNS)
        by, descending = sort_key(sort)

        from spillover.analysis.listing import document_rows
        from spillover.store import connect

        matched = sort_rows(select(document_rows(connect(db, create=False)), conditions), by, descending)
        rows = matched[:limit] if limit else matched
        if as_json:
            typer.echo(json.dumps([{k: r[k] for k in keys} for r in rows] if columns else rows))
            return
        from rich.console import Console
        from rich.table import Table

        table = Table(title=_title(len(rows), len(matched), selection or [], sort))
        for key in keys:
            table.add_column(HEADERS.get(key, key))
        for r in rows:
            table.add_row(*(_cell(r, k) for k in keys))
        Console(width=160).print(table)

    @app.command("show")
    def show(
        job_id: IdArgument,
        db: DbOption = None,
        as_json: JsonOption = False,
        full: Annotated[bool, typer.Option("--full", help="With --json: the structures too.")] = False,
        scratch: ScratchOption = None,
    ) -> None:
        """One stored result in full: job, preset, energy, forces, cost, versions, the jobs it was computed from."""
        check_directory("--scratch", scratch)
        from spillover.analysis.listing import computed_from, find_job, without_structures
        from spillover.settings import get_settings
        from spillover.store import connect

        doc = find_job(connect(db, create=False), job_id)
        root = (scratch or get_settings().scratch).resolve()
        if as_json:
            output = doc.get("output")
            report = {"job_id": doc["uuid"], "name": doc.get("name", ""), "index": doc.get("index"),
                      "completed_at": str(doc.get("completed_at", "")), "metadata": doc.get("metadata") or {},
                      "output": output if full else without_structures(output),
                      "computed_from": [{"field": p, "job_id": u} for p, u in computed_from(doc)],
                      "job_folder": None, "scratch": str(root)}
            typer.echo(json.dumps(report, default=str))
            return
        pairs = _pairs(doc, root)
        width = max(len(k) for k, _ in pairs)
        typer.echo("\n".join(f"{k:<{width}}  {v}" for k, v in pairs))

    @app.command("export")
    def export(
        items: Annotated[list[str], typer.Argument(
            metavar="ID|SELECTION", help="Job ids (8+ characters, in this order) or a selection as for "
            "'spillover results' (oldest first).")],
        output: Annotated[Path, typer.Option(
            "--output", "-o", help="File to write, format from the extension: .extxyz or .traj (layers, parts, fixed "
            "atoms and energies kept), .cif (positions only), .db (an ASE database: rows are appended, and a frame "
            "already there, same job id and frame, is not written again; other formats are replaced).")],
        db: DbOption = None,
    ) -> None:
        """Write the structures of stored results: one frame per calculation, a NEB band as its images in order."""
        from spillover.export import export as write
        from spillover.export import parse_items, selected_documents
        from spillover.store import connect
        from spillover.structure_io import check_output, lost_note

        parse_items(items)  # bad input is reported before the database is read
        if output.suffix.lower() != ".db":
            check_output(output)
        report = write(selected_documents(connect(db, create=False), items), output)
        if report["skipped_jobs"]:
            typer.echo(f"note: {report['skipped_jobs']} selected results hold no structures and were left out "
                       f"({', '.join(report['skipped_types'])})", err=True)
        for line in report["notes"][:2]:
            typer.echo(f"note: {line}", err=True)
        if len(report["notes"]) > 2:
            typer.echo(f"note: and {len(report['notes']) - 2} more bands with energies only", err=True)
        note = lost_note(output, report["lost"])
        if note:
            typer.echo(note, err=True)
        there = f"; {_count(report['already_there'], 'frame')} already there, not written again" \
            if report.get("already_there") else ""
        typer.echo(f"{output}: {_count(report['frames'], 'frame')} from {_count(report['jobs'], 'job')}{there}")
