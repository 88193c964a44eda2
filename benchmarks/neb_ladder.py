"""The NEB economy: DFT force calls of (a) a plain IDPP CI-NEB, (b) the project's ladder, (c) AIDNEB.

One vacancy hop of a rutile supercell (default 2x2x2, 47 atoms, the 2.53 Å [110] hop) at a DFT preset
(default ``gpaw-test``), all bands between the same endpoints (the screen band's, relaxed at the DFT preset once and shared by
every DFT band) and at the same fmax: (a) IDPP start, climbing image, from scratch; (b) the
ladder: a screen (CHGNet) band first, then the DFT climbing-image band started from it (``--ladders``:
(b) ``restart``, the DFT optimizer from its images; (b') ``corrected``, corrected steps on CHGNet); (c)
ase-gpatom's AIDNEB (Gaussian-process surrogate) where ase-gpatom is installed. The ladders run first,
then the plain band. Prints force calls, optimizer steps, barriers and wall times, row by row, and the ratio of
DFT band calls (a)/(b) and (a)/(c)::

    python benchmarks/neb_ladder.py                           # 2x2x2, [110] hop, 2 images, gpaw-test
    python benchmarks/neb_ladder.py --seed-displacement 0 --optimizer BFGS   # the unseeded rows
    python benchmarks/neb_ladder.py --work /tmp/neb-bench     # resumable: a stopped run goes on from there
    python benchmarks/neb_ladder.py --cell 1 1 3 --hop 001 --ecut 300 --kpts 2 2 1

Every band checkpoints each step under ``--work`` (the project's NEB checkpoint): a run stopped part
way continues where it was when started again with the same ``--work``, and the force calls and wall
time of the earlier part are counted. The [001] hop (2.96 Å) needs at least 3 cells along c: in a
2x2x2 cell both images of the neighbour are 2.96 Å away, so the hop has no single direction.

Preset: ``gpaw-test`` (plane waves, 350 eV), chosen by measurement on this cell's 1x1x3 cousin
(17 atoms, k-mesh 2x2x1, serial, 2026-12-03, 2-core Xeon): 2.8 s per SCF step in plane waves against
25 s in LCAO dzp (``gpaw-test-lcao``), whose density and potential-matrix integrals dominate with
k-points; the 2x2x2 cell (k 1x1x2, 2 ranks over k-points) runs at about 5 s per SCF step.

Outer atoms: by default the atoms farther than 4.0 Å from the hop's midpoint (22 of 47) are held at
their bulk positions (``--free-radius``). With every atom free, at the Gamma point, the two
symmetry-equivalent ends relaxed 0.28 eV apart and one was still sliding after 100 BFGS steps (a
collective drift of the whole cell), and no DFT band converged in two tries.

Measured (2026-12-07, 2-core EPYC, 2 ranks, 300 eV, Gamma point, 22 atoms held, unseeded:
``--seed-displacement 0``): the screen band 104 CHGNet calls (E_a 1.490 eV); the ends 48 DFT calls
together. Under BFGS (``--optimizer BFGS``, the gpaw presets' optimizer since): (b) 36 DFT band calls,
17 steps; (a) 32 calls, 15 steps; E_a 1.196 eV both, converged; (a)/(b) 0.89. Under FIRE (the 2026-12-03
run gave the same calls): (b) the restart ladder 80 DFT band calls, 39 steps; (a) the plain band 90
calls, 44 steps; E_a 1.196 eV both. So the optimizer cuts the calls 2.8x and the ladder does not: its
start lies 0.63 eV above the DFT saddle, IDPP's 0.07 eV. Seeded (0.05 Å, the gpaw presets' default
since), the BFGS ladder band left the symmetric subspace that the unseeded bands keep, and its climbing
image fell to about 0.72 eV (README, the NEB economy). (b')
the corrected ladder stalled after 9 corrected steps (20 DFT calls) with fmax 0.3-0.4 eV/Å, the band
leaving the symmetric subspace that (a) and (b) keep, and FIRE after it had not converged in 76 more
calls when stopped (README, the NEB economy). (c): ase-gpatom 1.0.0, the only
release on PyPI, installs, but its AIDNEB stops on its first training step (TypeError: aidmin.py
calls Database.add with forces, which that release's Database.add does not take; with that call
adapted, its GPCalculator passes with_stress, which AIDModel.calculate does not take: the release is
inconsistent in itself); the script reports such a failure as a line and goes on. Measured earlier on a 5-atom cell (1 image, fmax 0.1 eV/Å,
gpaw-test at 250 eV, k 1x1x2): the IDPP band stopped after 7 calls on the mirror plane of the
symmetric hop (6.06 eV), the ladder needed 13 calls and found the 1.06 eV saddle; that cell shows the
mechanism, not the saving.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from pymatgen.io.ase import AseAtomsAdaptor

from ase.calculators.calculator import all_changes
from ase.constraints import FixAtoms
from ase.geometry import get_distances

from spillover.build.barriers import bulk_host, hop_between, hop_endpoints
from spillover.calculators import close_calculator, local_mpi_environment, make_calculator
from spillover.errors import InputError
from spillover.jobs.neb import CountingCalculator, NebMaker


def find_hop(host, direction: str, cutoff: float):
    """The first hop from the first O of the host along ``[direction]``."""
    oxygen = [k for k in range(len(host)) if host.numbers[k] == 8]
    for k in oxygen[1:]:
        try:
            hop = hop_between(host, oxygen[0], k, cutoff=cutoff, region="custom")
        except InputError:
            continue
        if hop.direction == f"[{direction}]":
            return hop
    raise SystemExit(f"no [{direction}] hop within {cutoff} Å in this cell")


def hold_outer_atoms(host, hop, radius: float) -> int:
    """Fix the host atoms farther than ``radius`` (Å, minimum image) from the hop's midpoint.

    The midpoint is a fixed point of the operation that swaps the two sites of a symmetric hop,
    so the held region is the same for both endpoints. Returns the number of atoms held.
    """
    midpoint = host.positions[hop.from_index] + 0.5 * np.asarray(hop.vector_A)
    _, distances = get_distances([midpoint], host.positions, cell=host.cell, pbc=True)
    held = [int(k) for k in np.flatnonzero(distances[0] > radius) if k not in (hop.from_index, hop.to_index)]
    host.set_constraint(FixAtoms(indices=held) if held else None)
    return len(held)


LADDER_ROWS = {"restart": "(b) ladder: screen band, CI-NEB restarted",
               "corrected": "(b') ladder: screen band, corrected steps"}


class CallCap(RuntimeError):
    """The surrogate NEB reached its cap of DFT calls."""


def aidneb_band(initial, final, preset, n_images: int, fmax: float, cap: int, work: Path) -> dict:
    """ase-gpatom's AIDNEB (Gaussian-process surrogate NEB) between the same endpoints, same DFT preset.

    AIDNEB has no step limit of its own; it is stopped after ``cap`` DFT calls on the band (the
    calls the plain band needed), which then counts as not converged.
    """
    import sys

    import ase.mep.neb
    from ase.io import read, write

    sys.modules.setdefault("ase.neb", ase.mep.neb)  # ase-gpatom 1.0.0 imports the module path of ASE < 3.23
    from gpatom.aidneb import AIDNEB

    class Capped(CountingCalculator):
        def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
            if self.calls >= cap:
                raise CallCap(cap)
            super().calculate(atoms, properties, system_changes)

    ends = []
    for name, structure in (("initial", initial), ("final", final)):
        atoms = AseAtomsAdaptor.get_atoms(structure)
        write(work / f"aid-{name}.traj", atoms)
        ends.append(str(work / f"aid-{name}.traj"))
    gpaw = {**preset.gpaw, "symmetry": "off", "txt": str(work / "aidneb-gpaw.txt")}
    calc, _ = make_calculator(preset.model_copy(update={"gpaw": gpaw}), AseAtomsAdaptor.get_atoms(initial),
                              stress=False)
    counter = Capped(calc)
    converged = True
    neb = AIDNEB(start=ends[0], end=ends[1], calculator=counter, n_images=n_images + 2, mic=True,
                 interpolation="idpp", trajectory=str(work / "aidneb.traj"),
                 trainingset=str(work / "aidneb-observations.traj"), trajectory_surrogate=str(work / "aidneb-s.traj"))
    try:
        neb.run(fmax=fmax, unc_convergence=0.025)
    except CallCap:
        converged = False
    finally:
        close_calculator(calc)
    observed = read(work / "aidneb-observations.traj", ":")
    e0 = observed[0].get_potential_energy()
    # the last DFT point is the saddle AIDNEB converged on; unconverged: the highest point seen
    top = observed[-1] if converged else max(observed[2:], key=lambda a: a.get_potential_energy(), default=observed[0])
    return {"band_calls": counter.calls, "endpoint_calls": 2, "Ea": top.get_potential_energy() - e0,
            "converged": converged, "steps": neb.step}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", nargs=3, type=int, default=[2, 2, 2], help="rutile supercell")
    parser.add_argument("--hop", default="110", help="hop direction: 110, or 001 with 3+ cells along c")
    parser.add_argument("--images", type=int, default=2,
                        help="intermediate images, the same for every band (even: no image on the mirror plane)")
    parser.add_argument("--preset", default="gpaw-test")
    parser.add_argument("--ecut", type=float, default=None, help="plane-wave cutoff (plane-wave presets only)")
    parser.add_argument("--kpts", nargs=3, type=int, default=None, help="k-mesh (default: the preset's density)")
    parser.add_argument("--fmax", type=float, default=0.05)
    parser.add_argument("--steps", type=int, default=300, help="optimizer steps of each band")
    parser.add_argument("--ranks", type=int, default=2, help="MPI ranks of GPAW (1: in this process)")
    parser.add_argument("--single-point-ends", action="store_true",
                        help="DFT single points at the screen endpoints instead of relaxing them: the DFT band is then "
                             "ill-posed (its images can fall below the endpoints); for timing the SCF only")
    parser.add_argument("--free-radius", type=float, default=4.0,
                        help="atoms farther than this from the hop's midpoint (Å) are held at their bulk positions in "
                             "every band and endpoint (0: none held; 4.0 frees 26 of the 48 sites of 2x2x2)")
    parser.add_argument("--ladders", nargs="+", choices=sorted(LADDER_ROWS), default=["restart"],
                        help="ladder rows: (b) restart, the DFT optimizer restarted from the screen band (the default "
                             "ladder); (b') corrected, corrected steps on CHGNet (neb.ladder: corrected; on this hop "
                             "it stalled and its FIRE continuation had not converged in 76 calls)")
    parser.add_argument("--optimizer", default=None, choices=["FIRE", "BFGS", "LBFGS", "MDMin"],
                        help="optimizer of every DFT band (default: the preset's neb.optimizer)")
    parser.add_argument("--seed-displacement", type=float, default=None, metavar="A",
                        help="random start displacement of every band's free atoms (Å; neb.seed_displacement_A; "
                        "default: each preset's, 0.05 at screen and gpaw-test, 0 at analytic)")
    parser.add_argument("--no-aidneb", action="store_true", help="skip ase-gpatom's AIDNEB (c)")
    parser.add_argument("--work", type=Path, default=None,
                        help="work and checkpoint directory; a stopped run resumes from it (default: a new temp dir)")
    args = parser.parse_args()

    host = bulk_host("rutile", supercell=tuple(args.cell), cutoff=3.0)
    hop = find_hop(host, args.hop, 3.0)
    held = hold_outer_atoms(host, hop, args.free_radius) if args.free_radius > 0 else 0
    initial, final = (AseAtomsAdaptor.get_structure(a) for a in hop_endpoints(host, hop))
    work = args.work or Path(tempfile.mkdtemp(prefix="neb-ladder-"))
    work.mkdir(parents=True, exist_ok=True)
    os.chdir(work)
    rows: list[tuple] = []

    def report(*row) -> None:
        rows.append(row)
        name, calls, ends_calls, steps, ea, conv, wall = row
        print(f"| {name} | {calls} | {ends_calls} | {steps} | {ea:.3f} | {conv} | {wall:.0f} |", flush=True)

    seeded = {} if args.seed_displacement is None else {"neb": {"seed_displacement_A": args.seed_displacement}}
    screen = NebMaker(preset_overrides=seeded, n_images=args.images, fmax=args.fmax, steps=args.steps,
                      checkpoint_dir=str(work)).compute(initial, final, hop=hop.to_dict())
    screen_wall = screen.wall_time_s  # over every run of the band, like the DFT bands' wall times
    # every DFT band gets the screen band's endpoints, so they differ only in how they start
    ends = [screen.image_positions_A[0], screen.image_positions_A[-1]]
    structures = []
    for structure, positions in zip((initial, final), ends):
        atoms = AseAtomsAdaptor.get_atoms(structure)
        atoms.set_positions(positions, apply_constraint=False)
        structures.append(AseAtomsAdaptor.get_structure(atoms))
    gpaw: dict = {}
    if args.ecut is not None:
        gpaw["mode"] = {"ecut": args.ecut}
    if args.kpts is not None:
        gpaw["kpts"] = list(args.kpts)
    overrides = {"gpaw": gpaw} if gpaw else {}
    overrides.update(seeded)
    if args.ranks > 1:
        os.environ.update(local_mpi_environment(args.ranks))
    print(f"hop {hop.label}, {len(host) - 1} atoms ({held} held beyond {args.free_radius} Å), {args.images} images, "
          f"{args.preset} {overrides or ''}, "
          f"{args.optimizer or 'preset optimizer'}, fmax {args.fmax} eV/Å, {args.ranks} MPI rank(s); work dir {work}")
    print(f"screen band (CHGNet): {screen.band_force_calls} calls, E_a {screen.Ea_forward_eV:.3f} eV, "
          f"converged {screen.converged}, {screen_wall:.0f} s (counted in the ladder's wall time)")
    print("| band | DFT band calls | DFT endpoint calls | steps | E_a fwd (eV) | converged | wall (s) |")
    print("|---|---|---|---|---|---|---|", flush=True)
    dft = NebMaker(preset=args.preset, preset_overrides=overrides, n_images=args.images, fmax=args.fmax,
                   steps=args.steps, optimizer=args.optimizer, relax_endpoints=not args.single_point_ends,
                   checkpoint_dir=str(work))
    for mode in args.ladders:
        rung = NebMaker(preset=args.preset, preset_overrides={**overrides, "neb": {**overrides.get("neb", {}), "ladder": mode}},
                        n_images=args.images, fmax=args.fmax, steps=args.steps, optimizer=args.optimizer,
                        relax_endpoints=not args.single_point_ends, checkpoint_dir=str(work))
        warm = rung.compute(*structures, hop=hop.to_dict(), start_band=screen.model_dump(),
                            start_band_source="screen band")
        name = LADDER_ROWS[mode]
        report(name, warm.band_force_calls, warm.endpoint_force_calls, warm.optimizer_steps, warm.Ea_forward_eV,
               warm.converged, warm.wall_time_s + screen_wall)
        if warm.ladder == "corrected":
            print(f"  {name.split()[0]}: {warm.corrected_steps} corrected steps, {warm.surrogate_force_calls} CHGNet "
                  f"calls, stalled {warm.corrected_stalled}", flush=True)
    cold = dft.compute(*structures, hop=hop.to_dict())
    report("(a) plain: IDPP, CI-NEB", cold.band_force_calls, cold.endpoint_force_calls, cold.optimizer_steps,
                 cold.Ea_forward_eV, cold.converged, cold.wall_time_s)
    if not args.no_aidneb:
        if importlib.util.find_spec("gpatom") is None:
            print("(c) skipped: ase-gpatom is not installed (pip install ase-gpatom)")
        else:
            start = time.perf_counter()
            try:
                aid = aidneb_band(*structures, dft.resolved_preset(), args.images, args.fmax,
                                  max(cold.band_force_calls, 1), work)
            except Exception as exc:  # a third-party surrogate: its failure is a result, not a crash
                print(f"(c) AIDNEB (ase-gpatom) failed: {type(exc).__name__}: {exc}")
            else:
                report("(c) AIDNEB (ase-gpatom)", aid["band_calls"], aid["endpoint_calls"], aid["steps"],
                       aid["Ea"], aid["converged"], time.perf_counter() - start)
    plain = next(row[1] for row in rows if row[0].startswith("(a)"))
    for name, calls, *_ in (row for row in rows if not row[0].startswith("(a)")):
        print(f"DFT band calls, (a) / {name.split()[0]}: {plain / max(calls, 1):.2f}")


if __name__ == "__main__":
    main()
