"""Which ASE optimizer the screen preset should use, measured on the study's own relaxations.

Takes the final-stage relaxations of the funnels stored in a database (``--db``, e.g. one left by
``benchmarks/engine.py``; their input is the loose stage's end) and relaxes each again from that
input with FIRE, BFGS, BFGSLineSearch and PreconLBFGS (ASE's), CHGNet energy and forces only, to the
screen preset's fmax. Prints force calls, steps, wall time and the final energy relative to FIRE's
per optimizer. Run on an idle machine: ``python benchmarks/optimizers.py --db DB [--limit N]``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time

OPTIMIZERS = ("FIRE", "BFGS", "BFGSLineSearch", "PreconLBFGS")


def _optimizer(name: str, atoms):
    from ase import optimize
    from ase.optimize.precon import PreconLBFGS

    if name == "PreconLBFGS":
        return PreconLBFGS(atoms, logfile=None)
    return getattr(optimize, name)(atoms, logfile=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--limit", type=int, default=4, help="relaxations taken (the first N final stages)")
    args = parser.parse_args()

    from spillover.calculators import load_preset, make_calculator
    from spillover.schemas import calc_atoms
    from spillover.store import connect

    store = connect(args.db, create=False)
    preset = load_preset("screen")
    starts = []
    for d in store.query({"output.doc_type": "funnel", "output.reused_from_job_id": None}, properties=["output"]):
        starts += [calc_atoms(s, "input_structure") for s in d["output"]["survivors"]]
    starts = starts[: args.limit]
    totals = {name: {"calls": 0, "steps": 0, "wall": 0.0, "dE": [], "unconverged": 0} for name in OPTIMIZERS}
    for k, start in enumerate(starts):
        ref = None
        for name in OPTIMIZERS:
            atoms = start.copy()
            with contextlib.redirect_stdout(io.StringIO()):
                calc, _ = make_calculator(preset, atoms, stress=False)
            calls = {"n": 0}
            inner = calc.calculate

            def counted(*a, _inner=inner, **kw):
                calls["n"] += 1
                return _inner(*a, **kw)

            calc.calculate = counted
            atoms.calc = calc
            opt = _optimizer(name, atoms)
            began = time.perf_counter()
            converged = opt.run(fmax=preset.relax.fmax, steps=preset.relax.steps)
            wall = time.perf_counter() - began
            energy = atoms.get_potential_energy()
            ref = energy if ref is None else ref
            t = totals[name]
            t["calls"] += calls["n"]
            t["steps"] += opt.nsteps
            t["wall"] += wall
            t["dE"].append(energy - ref)
            t["unconverged"] += 0 if converged else 1
            print(f"relaxation {k} ({len(atoms)} atoms) {name:15s} {calls['n']:4d} calls {opt.nsteps:4d} steps "
                  f"{wall:7.1f} s  E - E(FIRE) {energy - ref:+.4f} eV{'' if converged else '  NOT CONVERGED'}")
    print(f"\n{len(starts)} relaxations, screen preset (fmax {preset.relax.fmax} eV/Å, at most {preset.relax.steps} steps)")
    fire = totals["FIRE"]
    for name, t in totals.items():
        print(f"{name:15s} {t['calls']:5d} force calls ({t['calls'] / max(fire['calls'], 1):.2f}x FIRE), "
              f"{t['wall']:7.1f} s, E - E(FIRE) {min(t['dE']):+.4f} .. {max(t['dE']):+.4f} eV, "
              f"{t['unconverged']} unconverged")


if __name__ == "__main__":
    main()
