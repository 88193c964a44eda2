"""``spillover table barriers``, ``table hop-paths``, ``plot neb``, ``plot barriers``, ``plot hop-path`` and ``neb``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from spillover.commands.options import (
    DbOption,
    FormatOption,
    JsonOption,
    PlotOutput,
    PresetFilter,
    SystemFilter,
    check_choice,
    check_directory,
    check_plot_output,
    check_preset_name,
    check_range,
    no_rows,
    print_table,
    run_one_job,
)
from spillover.errors import InputError
from spillover.sections.base import BAND_STEPS, CUTOFF, FMAX, IMAGES

NO_RESULTS = ("--db", "no NEB results stored", "run 'spillover run STUDY --only barriers' first")
NO_PATHS = ("--db", "no hop network stored", "run 'spillover run STUDY --only barriers' first")


def register(app: typer.Typer, table_app: typer.Typer, plot_app: typer.Typer) -> None:
    """Add the barrier commands to the CLI."""

    @table_app.command("barriers")
    def table_barriers(db: DbOption = None, fmt: FormatOption = "md", preset: PresetFilter = None,
                       system: SystemFilter = None) -> None:
        """Table 3: every hop of each network (kind, layers), barriers, dE, images, convergence, why skipped, job ids."""
        check_preset_name("--preset", preset)

        from spillover.analysis.barriers import COLUMNS, barrier_rows
        from spillover.analysis.tables import FORMATS
        from spillover.store import connect

        check_choice("--format", fmt, FORMATS)
        print_table(barrier_rows(connect(db, create=False), preset=preset, system=system), COLUMNS, fmt, NO_RESULTS,
                    preset=preset, system=system)

    @table_app.command("hop-paths")
    def table_hop_paths(db: DbOption = None, fmt: FormatOption = "md", preset: PresetFilter = None,
                        system: SystemFilter = None) -> None:
        """Best vacancy path from each support layer to the interface: E_eff, rate at the study's T, the hops."""
        check_preset_name("--preset", preset)

        from spillover.analysis.barriers import PATH_COLUMNS, hop_path_rows, path_json
        from spillover.analysis.tables import FORMATS
        from spillover.store import connect

        check_choice("--format", fmt, FORMATS)
        rows = hop_path_rows(connect(db, create=False), preset=preset, system=system)
        if fmt == "json":
            rows = [path_json(r) for r in rows]
            if not rows:
                no_rows(NO_PATHS, PATH_COLUMNS, fmt, preset=preset, system=system)
            typer.echo(json.dumps(rows, indent=2))
            return
        print_table(rows, PATH_COLUMNS, fmt, NO_PATHS, preset=preset, system=system)

    @plot_app.command("hop-path")
    def plot_hop_path(output: PlotOutput, db: DbOption = None, preset: PresetFilter = None,
                      system: SystemFilter = None) -> None:
        """Energy along the best vacancy path of each system (deep layers), side by side; svg/pdf also write a png."""
        check_preset_name("--preset", preset)

        from spillover.analysis.barriers import hop_path_rows, plot_hop_path
        from spillover.store import connect

        check_plot_output(output)
        rows = [r for r in hop_path_rows(connect(db, create=False), preset=preset, system=system) if r["levels_eV"]]
        if not rows:
            if system is not None:
                raise InputError("--system", f"no hop path stored for {system!r}",
                                 "a system of 'spillover table hop-paths'")
            raise InputError(*NO_PATHS)
        if preset is None and len({r["preset"] for r in rows}) > 1:
            raise InputError("--preset", "results of several presets are stored",
                             ", ".join(sorted({r["preset"] for r in rows})))
        plot_hop_path(rows, output)
        typer.echo(str(output))

    @plot_app.command("neb")
    def plot_neb(
        job_id: Annotated[str, typer.Argument(
            metavar="JOB_ID", help="NEB or hop-network job uuid (or its first 8+ characters).")],
        output: PlotOutput,
        hop: Annotated[Optional[str], typer.Option(
            help="Hop label of a band inside a hop network, as 'spillover table barriers' prints it "
                 "(or a part of it that only one computed band has).")] = None,
        db: DbOption = None,
    ) -> None:
        """Energy along the path of one NEB (its own job, or a band of a hop network), with the spline."""
        from spillover.analysis.barriers import band_document, plot_neb
        from spillover.store import connect

        check_plot_output(output)
        uuid, band = band_document(connect(db, create=False), job_id, hop)
        plot_neb(band, output, job_id=uuid)
        typer.echo(str(output))

    @plot_app.command("barriers")
    def plot_barriers(output: PlotOutput, db: DbOption = None, preset: PresetFilter = None) -> None:
        """Forward barrier of every computed hop versus where it runs (film, across the interface, layer k), per system."""
        check_preset_name("--preset", preset)

        from spillover.analysis.barriers import barrier_rows, plot_barriers
        from spillover.store import connect

        check_plot_output(output)
        rows = barrier_rows(connect(db, create=False), preset=preset)
        if not rows:
            raise InputError(*NO_RESULTS)
        if preset is None and len({r["preset"] for r in rows}) > 1:
            presets = ", ".join(sorted({r["preset"] for r in rows}))
            raise InputError("--preset", "results of several presets are stored", presets)
        plot_barriers(rows, output)
        typer.echo(str(output))

    @app.command("neb")
    def neb(
        initial: Annotated[Path, typer.Argument(help="Initial structure (any ASE-readable file).")],
        final: Annotated[Path, typer.Argument(help="Final structure: same atoms, same order.")],
        preset: Annotated[str, typer.Option(help="Calculator preset.")] = "screen",
        images: Annotated[Optional[int], typer.Option(
            help=f"Intermediate images ({IMAGES.text}) [default: the preset's].")] = None,
        cutoff: Annotated[float, typer.Option(
            help=f"Refuse endpoints in which an atom moves farther ({CUTOFF.text}).")] = 3.5,
        fmax: Annotated[Optional[float], typer.Option(
            help=f"Force threshold ({FMAX.text}) [default: the preset's].")] = None,
        steps: Annotated[Optional[int], typer.Option(
            help=f"Most optimizer steps ({BAND_STEPS.text}) [default: the preset's].")] = None,
        relax: Annotated[bool, typer.Option(help="Relax the endpoints first.")] = True,
        db: DbOption = None,
        as_json: JsonOption = False,
        scratch: Annotated[
            Optional[Path], typer.Option(help="Job folder and checkpoints [default: $SPILLOVER_SCRATCH].")
        ] = None,
    ) -> None:
        """One climbing-image NEB between two structure files, stored in the database (resumable)."""
        check_preset_name("--preset", preset)
        for option, value, bound in (("--images", images, IMAGES), ("--cutoff", cutoff, CUTOFF),
                                     ("--fmax", fmax, FMAX), ("--steps", steps, BAND_STEPS)):
            if value is not None:
                check_range(option, value, bound)
        check_directory("--scratch", scratch)
        from spillover.structure_io import read_structure

        a0, a1 = read_structure(initial, "INITIAL"), read_structure(final, "FINAL")

        from spillover.build.barriers import check_endpoints

        check_endpoints(a0, a1, cutoff)
        from pymatgen.io.ase import AseAtomsAdaptor

        from spillover.jobs.neb import CHECKPOINT_SUBDIR, NebMaker
        from spillover.settings import get_settings

        root = (scratch or get_settings().scratch).resolve()
        maker = NebMaker(
            preset=preset, n_images=images, fmax=fmax, steps=steps, relax_endpoints=relax, max_hop_A=cutoff,
            checkpoint_dir=str(root / CHECKPOINT_SUBDIR),
        )
        maker.resolved_preset()  # a bad preset or setting fails before anything is written
        job = maker.make(AseAtomsAdaptor.get_structure(a0), AseAtomsAdaptor.get_structure(a1),
                         hop={"label": f"{initial.name} -> {final.name}", "region": "custom"})
        out = run_one_job(job, db, root, "NEB").output
        if as_json:
            keys = ("Ea_forward_eV", "Ea_reverse_eV", "dE_eV", "n_images", "converged", "force_calls",
                    "optimizer_steps", "wall_time_s", "preset")
            typer.echo(json.dumps({"job_id": job.uuid, **{k: getattr(out, k) for k in keys}}))
            return
        typer.echo(f"job {job.uuid}: E_a fwd {out.Ea_forward_eV:.3f} eV, E_a rev {out.Ea_reverse_eV:.3f} eV, "
                   f"dE {out.dE_eV:+.3f} eV, converged {out.converged}, {out.force_calls} force calls")
