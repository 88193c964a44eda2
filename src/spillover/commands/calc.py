"""``spillover relax`` and ``spillover static``: one calculation on one structure, stored like a study's.

The structure comes from any file ASE reads (extxyz and traj keep layers, parts and fixed atoms) or
from a stored calculation (its job id). The calculation is a :class:`~spillover.jobs.relax.RelaxMaker`
job run by jobflow into the results database: content-hashed and reused, checkpointed and resumed,
GPAW in MPI ranks through the queue jobs' path (``--mpi N``).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from spillover.commands.options import (
    DbOption,
    JsonOption,
    MpiOption,
    check_directory,
    check_preset_name,
    check_range,
    run_one_job,
)
from spillover.errors import InputError
from spillover.sections.base import FMAX, RANKS, STEPS, Bound, check_overrides

#: A job uuid or a prefix of one (what ``spillover results`` prints).
JOB_ID = re.compile(r"^[0-9a-f]{8}[0-9a-f-]{0,28}$")
#: ``--set`` keys: dotted preset keys (``gpaw.mode.ecut``, ``relax.fmax``).
SET_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,4}$")
SET_TEXT = "KEY=VALUE with a dotted preset key and a YAML value, e.g. gpaw.mode.ecut=400 or gpaw.kpts=[1,1,1]"

FileArgument = Annotated[str, typer.Argument(
    metavar="FILE", help="Structure file ASE reads (extxyz/traj keep layers, parts, fixed atoms), or a stored job id.")]
PresetOption = Annotated[str, typer.Option(help="Calculator preset (see 'spillover presets').")]
SetOption = Annotated[Optional[list[str]], typer.Option(
    "--set", help="Override a preset key, KEY=VALUE (YAML value), e.g. gpaw.mode.ecut=400; repeatable.")]
FixedLayersOption = Annotated[Optional[int], typer.Option(
    help="Hold the bottom N layers (of the support, in an interface) fixed [default: keep the file's constraints].")]
ScratchOption = Annotated[Optional[Path], typer.Option(
    help="Job folders and checkpoints [default: $SPILLOVER_SCRATCH].")]
OutputOption = Annotated[Optional[Path], typer.Option(
    "--output", "-o", help="Write the final structure here (.extxyz/.traj keep layers, parts, fixed atoms).")]


def parse_assignments(items: list[str]) -> dict[str, Any]:
    """Preset overrides from ``--set KEY=VALUE`` items (values read as YAML), nested by the dots of KEY.

    Raises
    ------
    InputError
        An item without ``=``, a key that is not a dotted name, a value that is not YAML, a key set twice,
        or overrides beyond the bounds of a study's ``preset_overrides``.
    """
    from spillover.yamlio import parse_yaml

    overrides: dict[str, Any] = {}
    seen: set[str] = set()
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not SET_KEY.match(key):
            raise InputError("--set", f"{item[:80]!r} is not KEY=VALUE", SET_TEXT)
        if key in seen or any(key.startswith(f"{s}.") or s.startswith(f"{key}.") for s in seen):
            raise InputError(f"--set {key}", "set twice (or together with a key inside it)")
        seen.add(key)
        value = parse_yaml(text, f"the value of {key}", f"--set {key}")
        *parents, leaf = key.split(".")
        node = overrides
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return check_overrides(overrides, "--set")


def _set_field(field: str, keys: list[str]) -> str:
    """``--set KEY`` for a preset error inside one of the ``--set`` keys, else the preset's own field."""
    path = field.removeprefix("preset.")
    for key in keys:
        if path == key or path.startswith(f"{key}.") or key.startswith(f"{path}."):
            return f"--set {path}"
    return field


#: Preset sections that belong to one calculator only.
CALCULATOR_SECTIONS = ("chgnet", "gpaw", "analytic")


def _resolve(preset: str, assignments: list[str], keys: list[str]):
    """The preset with the ``--set`` overrides, and the overrides; errors name the ``--set`` key."""
    from spillover.calculators import load_preset

    try:
        overrides = parse_assignments(assignments)
        resolved = load_preset(preset, overrides or None)
    except InputError as exc:
        raise InputError(_set_field(exc.field, keys), exc.problem, exc.allowed) from None
    for section in CALCULATOR_SECTIONS:
        if section in overrides and section != resolved.calculator:
            key = next(k for k in keys if k.split(".")[0] == section)
            raise InputError(f"--set {key}", f"preset {preset} runs {resolved.calculator}; {section} keys do not apply",
                             f"{resolved.calculator}.*, relax.*, scf.* or another preset")
    return resolved, overrides


def _stored_atoms(source: str, db: str | None):
    """The final structure of a stored calculation (job uuid or unique prefix), its label and kind."""
    from spillover.schemas.calc import calc_atoms
    from spillover.store import connect

    store = connect(db, create=False)
    uuids = {d["uuid"] for d in store.query({"output.doc_type": "calculation"}, properties=["uuid"])
             if d["uuid"].startswith(source)}
    if not uuids:
        raise InputError("FILE", f"no file {source!r} and no stored calculation with that id",
                         "a structure file ASE reads, or a job id from 'spillover results'")
    if len(uuids) > 1:
        raise InputError("FILE", f"{source!r} matches {len(uuids)} stored calculations", "a longer prefix")
    doc = store.query_one({"uuid": uuids.pop()}, properties=["output"], sort={"completed_at": -1})
    output = doc["output"]
    return calc_atoms(output), output.get("label") or source, output.get("kind") or "bulk"


def _source_atoms(source: str, db: str | None):
    """The structure to compute, its label and its model kind."""
    from spillover.structure_io import read_structure

    path = Path(source)
    if not path.exists() and JOB_ID.match(source):
        return _stored_atoms(source, db)
    atoms = read_structure(path, "FILE")
    parts = set(atoms.arrays["part"].tolist()) if "part" in atoms.arrays else set()
    kind = "interface" if len(parts) > 1 else "slab" if "layer" in atoms.arrays else "bulk"
    return atoms, path.stem, kind


def fix_bottom_layers(atoms, n: int) -> None:
    """Hold the bottom ``n`` layers fixed (of the support, part 0, in an interface); 0 frees every atom.

    Layers are the file's ``layer`` array (1 = top), else :func:`~spillover.build.layers.assign_layers`.

    Raises
    ------
    InputError
        ``n`` not below the number of layers.
    """
    import numpy as np
    from ase.constraints import FixAtoms

    from spillover.build.layers import assign_layers

    layer = atoms.arrays["layer"] if "layer" in atoms.arrays else assign_layers(atoms)
    part = atoms.arrays["part"] if "part" in atoms.arrays else np.zeros(len(atoms), dtype=int)
    support = part == 0
    count = int(layer[support].max())
    check_range("--fixed-layers", n, Bound(0, count - 1, integer=True))
    fixed = np.flatnonzero(support & (layer > count - n))
    atoms.set_constraint(FixAtoms(indices=fixed) if len(fixed) else None)


def _summary(task: str, label: str, natoms: int, out: Any, job_id: str, job_dir: Path) -> list[str]:
    if out.reused_from_job_id:
        head = f"{task} {label} ({natoms} atoms) at {out.preset}: stored result of job {out.reused_from_job_id} reused, nothing computed"
    elif task == "static":
        head = f"static {label} ({natoms} atoms) at {out.preset}"
    else:
        state = "converged" if out.converged else f"NOT converged (fmax {out.fmax_target_eV_per_A:g} eV/Å)"
        head = f"relax {label} ({natoms} atoms, {len(out.fixed_indices)} fixed) at {out.preset}: {state} in {out.n_ionic_steps} steps"
    return [
        head,
        f"  energy      {out.energy_eV:.6f} eV",
        f"  max force   {out.max_force_eV_per_A:.4f} eV/Å (free atoms)",
        f"  wall time   {out.wall_time_s:.1f} s, {out.force_calls} force calls"
        + (f" (of job {out.reused_from_job_id})" if out.reused_from_job_id else ""),
        f"  job id      {job_id}",
        f"  job folder  {job_dir}",
    ]


def run_calculation(task: str, source: str, *, preset: str, assignments: list[str], fixed_layers: int | None,
                    fmax: float | None, steps: int | None, cell: bool, mpi: int, db: str | None,
                    scratch: Path | None, output: Path | None, as_json: bool) -> None:
    """Check every input, then run one relaxation or single point as a jobflow job and report it."""
    check_preset_name("--preset", preset)
    check_range("--mpi", mpi, RANKS)
    if fmax is not None:
        check_range("--fmax", fmax, FMAX)
    if steps is not None:
        check_range("--steps", steps, STEPS)
    check_directory("--scratch", scratch)
    from spillover.structure_io import check_output

    if output is not None:
        check_output(output)
    keys = [a.partition("=")[0].strip() for a in assignments]
    resolved, overrides = _resolve(preset, assignments, keys)
    if mpi > 1 and resolved.calculator != "gpaw":
        raise InputError("--mpi", f"preset {preset} runs {resolved.calculator}, which does not use MPI ranks",
                         "1, or a GPAW preset")
    atoms, label, kind = _source_atoms(source, db)
    if fixed_layers is not None:
        fix_bottom_layers(atoms, fixed_layers)

    from pymatgen.io.ase import AseAtomsAdaptor

    from spillover.calculators import local_mpi_environment
    from spillover.jobs.checkpoint import CHECKPOINT_SUBDIR
    from spillover.jobs.relax import RelaxMaker, StaticMaker
    from spillover.settings import get_settings

    if mpi > 1:
        os.environ.update(local_mpi_environment(mpi))
    root = (scratch or get_settings().scratch).resolve()
    common = {"preset": preset, "preset_overrides": overrides, "checkpoint_dir": str(root / CHECKPOINT_SUBDIR)}
    if task == "static":
        maker = StaticMaker(**common)
    else:
        maker = RelaxMaker(name="relax", fmax=fmax, steps=steps, relax_cell=cell, **common)
    structure = AseAtomsAdaptor.get_structure(atoms)
    metadata = {"source": source, "command": f"spillover {task}"}
    job = maker.make(structure, label=label, kind=kind, metadata=metadata)
    job.name = f"{task} {label}"
    response = run_one_job(job, db, root, task)
    out, job_dir = response.output, Path(response.job_dir)

    lost: list[str] = []
    if output is not None:
        from spillover.schemas.calc import calc_atoms
        from spillover.structure_io import write_structure

        lost = write_structure(calc_atoms(out), output)
    if as_json:
        keys_out = ("task", "label", "natoms", "preset", "calculator", "energy_eV", "max_force_eV_per_A",
                    "fmax_target_eV_per_A", "converged", "n_ionic_steps", "force_calls", "wall_time_s",
                    "content_hash", "reused_from_job_id", "fixed_indices")
        report = {"job_id": job.uuid, **{k: getattr(out, k) for k in keys_out}, "job_dir": str(job_dir),
                  "output": str(output) if output is not None else None, "output_lost": lost}
        typer.echo(json.dumps(report))
        return
    lines = _summary(task, label, len(atoms), out, job.uuid, job_dir)
    if output is not None:
        lines.append(f"  written     {output}" + (f" (without {', '.join(lost)})" if lost else ""))
    typer.echo("\n".join(lines))


def register(app: typer.Typer, table_app: typer.Typer, plot_app: typer.Typer) -> None:
    """Add ``relax`` and ``static`` to the CLI."""

    @app.command("relax")
    def relax(
        source: FileArgument,
        preset: PresetOption = "screen",
        assignments: SetOption = None,
        fixed_layers: FixedLayersOption = None,
        fmax: Annotated[Optional[float], typer.Option(help=f"Force threshold ({FMAX.text}) [default: the preset's].")] = None,
        steps: Annotated[Optional[int], typer.Option(help=f"Most optimizer steps ({STEPS.text}) [default: the preset's].")] = None,
        cell: Annotated[bool, typer.Option("--cell", help="Relax the cell too (bulk at a converged cutoff only).")] = False,
        mpi: MpiOption = 1,
        db: DbOption = None,
        scratch: ScratchOption = None,
        output: OutputOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Relax one structure with a preset: stored, reused if already stored, resumed after a kill."""
        run_calculation("relax", source, preset=preset, assignments=assignments or [], fixed_layers=fixed_layers,
                        fmax=fmax, steps=steps, cell=cell, mpi=mpi, db=db, scratch=scratch, output=output,
                        as_json=as_json)

    @app.command("static")
    def static(
        source: FileArgument,
        preset: PresetOption = "screen",
        assignments: SetOption = None,
        fixed_layers: FixedLayersOption = None,
        mpi: MpiOption = 1,
        db: DbOption = None,
        scratch: ScratchOption = None,
        output: OutputOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Single point (energy and forces) of one structure with a preset, stored like a study's."""
        run_calculation("static", source, preset=preset, assignments=assignments or [], fixed_layers=fixed_layers,
                        fmax=None, steps=None, cell=False, mpi=mpi, db=db, scratch=scratch, output=output,
                        as_json=as_json)
