"""GPAW modes for a system cell: plane waves versus LCAO (dzp, szp) on a ~100-atom interface cell.

Decides the mode of the ``gpaw-test`` preset for system cells by measurement. One O-binding
difference is computed in each mode: the lattice O of support layer 1 against that of layer 2 of the
Ru/r-TiO2(110) cell (``benchmarks/data/ru-rtio2-110-cell.extxyz``, 102 atoms, relaxed at ``screen``
by the hop-network study, job 09edc8aa), so with E_b = E(cell) - E(cell - O) - 1/2 E(O2),

    dE_b = E_b(L1) - E_b(L2) = E(cell - O_L2) - E(cell - O_L1)

needs two single points per mode and no O2 or clean-cell energy. Both vacancy cells keep the
screen geometry of the clean cell (no relaxation: the modes see the same atoms). Each mode is
``gpaw-test`` (plane waves) or ``gpaw-test-lcao`` (the same settings in LCAO, dzp or szp); GPAW
runs in ``--ranks`` MPI ranks through the project's own MPI path
(``SPILLOVER_MPI_COMMAND``). Prints, per mode: SCF steps, seconds per SCF step and the time of each
single point (set-up plus SCF loop), all as GPAW itself reports them in its text output, and dE_b
with its difference from plane waves. With ``--work DIR`` the GPAW outputs go to DIR, and a single
point whose output there has converged is read back instead of computed, so the modes can be run in
separate invocations (e.g. plane waves at another rank count) and tabulated together::

    python benchmarks/gpaw_modes.py                      # vacuum 7.5 Å per side (15 Å between images)
    python benchmarks/gpaw_modes.py --modes lcao-szp --ranks 1
    python benchmarks/gpaw_modes.py --work /tmp/modes --modes lcao-szp lcao-dzp pw

Measured 2026-12-03 (2-core Xeon, 2 MPI ranks, GPAW 26.7 with ScaLAPACK, 7.5 Å of vacuum per side)::

    | mode     | SCF steps (L1, L2) | s per SCF step | wall per single point (s) | dE_b L1-L2 (eV) | vs pw (eV) |
    | lcao-szp | 56, 52             | 16.1           | 898, 863                  | +0.680          | -0.082     |
    | lcao-dzp | 48, 46             | 30.3           | 1418, 1460                | +0.732          | -0.030     |
    | pw       | 45, 50             | 19.7           | 957, 1042                 | +0.762          | +0.000     |

CHGNet (screen) on the same two geometries: +1.403 eV. Plane waves under 2 ranks need GPAW built
with ScaLAPACK at the Gamma point (scripts/gpaw_siteconfig.py); without it both PPCG and Davidson
stop in gpaw/core/matrix.py before their first iteration.
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
from pathlib import Path

from ase.io import read

from spillover.build.mu_profile import cell_vacancy_sites, without_atom
from spillover.calculators import close_calculator, load_preset, local_mpi_environment, make_calculator

HERE = Path(__file__).parent
# mode -> (preset, overrides): the two test presets differ only in mode and basis
MODES = {
    "pw": ("gpaw-test", {}),
    "lcao-dzp": ("gpaw-test-lcao", {}),
    "lcao-szp": ("gpaw-test-lcao", {"gpaw": {"basis": "szp(dzp)"}}),
}
CONVERGED = re.compile(r"^Converged in (\d+) steps")
SCF_LOOP = re.compile(r"^SCF loop duration: ([\d.]+) s \(([\d.]+) s/step\)")
INIT = re.compile(r"^Initialization done in: ([\d.]+) s")
EXTRAPOLATED = re.compile(r"^\s*Extrapolated:\s+(-?[\d.]+)")


def converged_output(txt: Path) -> dict | None:
    """Energy and timing of a finished GPAW single point from its text output; None if it has not converged.

    GPAW writes the SCF steps, the SCF loop's duration and seconds per step, the set-up time and the
    energy (extrapolated to zero smearing, what ASE's ``get_potential_energy`` returns) itself, so a
    single point that finished in an earlier run of this script is read back instead of computed.
    """
    if not txt.exists():
        return None
    found: dict = {}
    for line in txt.read_text().splitlines():
        if m := INIT.match(line):
            found["init_s"] = float(m.group(1))
        elif m := CONVERGED.match(line):
            found["steps"] = int(m.group(1))
        elif m := SCF_LOOP.match(line):
            found["scf_s"], found["per_step"] = float(m.group(1)), float(m.group(2))
        elif (m := EXTRAPOLATED.match(line)) and "steps" in found:
            found["energy"] = float(m.group(1))
    if not {"steps", "scf_s", "energy"} <= found.keys():
        return None
    found["wall"] = found.get("init_s", 0.0) + found["scf_s"]
    return found


def single_point(atoms, mode: str, work: Path, tag: str) -> dict:
    """Energy of ``atoms`` at the preset of ``MODES[mode]``, with its SCF timing (read from ``work`` if done)."""
    name, overrides = MODES[mode]
    txt = work / f"{mode}-{tag}.txt"
    if (done := converged_output(txt)) is not None:
        return done
    preset = load_preset(name, {**overrides, "gpaw": {**overrides.get("gpaw", {}), "txt": str(txt)}})
    atoms = atoms.copy()
    calc, _ = make_calculator(preset, atoms)
    atoms.calc = calc
    try:
        atoms.get_potential_energy()
    finally:
        close_calculator(calc)
    done = converged_output(txt)
    if done is None:
        raise RuntimeError(f"{txt}: GPAW returned an energy but its output has no converged SCF summary")
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", type=Path, default=HERE / "data" / "ru-rtio2-110-cell.extxyz")
    parser.add_argument("--vacuum", type=float, default=7.5, help="vacuum on each side (Å)")
    parser.add_argument("--ranks", type=int, default=2, help="MPI ranks of GPAW (1: in this process)")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument("--work", type=Path, default=None,
                        help="folder of GPAW outputs; converged single points found there are read, not rerun")
    args = parser.parse_args()

    cell = read(args.cell)
    cell.center(vacuum=args.vacuum, axis=2)
    sites = cell_vacancy_sites(cell, 2)
    chosen = {layer: next(s for s in sites if s.region == "support" and s.layer == layer) for layer in (1, 2)}
    if args.ranks > 1:
        os.environ.update(local_mpi_environment(args.ranks))
    work = args.work or Path(tempfile.mkdtemp(prefix="gpaw-modes-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"{cell.get_chemical_formula()} ({len(cell)} atoms), cell {cell.cell.lengths().round(2).tolist()} Å, "
          f"vacancies {chosen[1].site} and {chosen[2].site}, {args.ranks} MPI rank(s); GPAW output in {work}")
    rows = []
    for mode in args.modes:
        result = {layer: single_point(without_atom(cell, s.index), mode, work, f"L{layer}")
                  for layer, s in chosen.items()}
        rows.append((mode, result))
        print(f"  {mode}: done in {sum(r['wall'] for r in result.values()):.0f} s", flush=True)
    ref = next((r for m, r in rows if m == "pw"), None)
    print()
    print("| mode | SCF steps (L1, L2) | s per SCF step | wall per single point (s) | dE_b L1-L2 (eV) | vs pw (eV) |")
    print("|---|---|---|---|---|---|")
    for mode, r in rows:
        d_eb = r[2]["energy"] - r[1]["energy"]
        vs = f"{d_eb - (ref[2]['energy'] - ref[1]['energy']):+.3f}" if ref is not None else "-"
        per = [x["per_step"] for x in r.values() if x["per_step"] is not None]
        print(f"| {mode} | {r[1]['steps']}, {r[2]['steps']} | {sum(per) / len(per):.1f} | "
              f"{r[1]['wall']:.0f}, {r[2]['wall']:.0f} | {d_eb:+.3f} | {vs} |")


if __name__ == "__main__":
    main()
