"""The screening engine against the one-by-one way, measured side by side in one run (``make bench-engine``).

1. ``spillover run benchmarks/engine_study.yaml`` at screen into a fresh database with ``--workers``
   (wall time, peak memory, force calls of every stored calculation and funnel stage).
2. The same command again: wall time and the number of calculations it computed (must be 0).
3. The one-by-one way on the same candidates: each relaxed to the preset's fmax with plain ASE FIRE
   in this one process, one after another. Relaxing all of them takes hours, so a seeded random
   subset of ``--sample`` candidates per funnel is relaxed and its force calls and wall time scaled
   to the funnel's candidate count (printed as such).

Prints the figures, the ratios (one-by-one / engine) of force calls and of wall time, and whether any
sampled candidate relaxed one by one ends below its funnel's survivor (one the funnel missed).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT / "benchmarks" / "engine_study.yaml"


def _run(db: Path, scratch: Path, workers: int) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "spillover.cli", "run", str(STUDY), "--db", str(db), "--scratch",
                          str(scratch), "--workers", str(workers)], capture_output=True, text=True, check=True)
    return time.perf_counter() - start, out.stdout


def _calls(store, run_id: str) -> tuple[int, int]:
    """Force calls and newly computed calculations (not reused) of one run."""
    calls = computed = 0
    for d in store.query({"metadata.run_id": run_id}, properties=["output"]):
        out = d.get("output") or {}
        if out.get("reused_from_job_id") or out.get("doc_type") not in ("calculation", "funnel"):
            continue
        computed += 1
        calls += int(out.get("force_calls") or 0)
    return calls, computed


def one_by_one(store, sample: int, seed: int) -> dict[str, float]:
    """Plain ASE FIRE on a seeded subset of every funnel's candidates, scaled to all of them."""
    from ase.optimize import FIRE

    from spillover.build.oxidation import find_sites
    from spillover.calculators import load_preset, make_calculator
    from spillover.jobs.oxidation import _configurations, _host

    preset = load_preset("screen")
    rng = random.Random(seed)
    totals = {"candidates": 0, "relaxed": 0, "force_calls": 0.0, "wall_s": 0.0, "unconverged": 0,
              "below_survivor": 0, "largest_gain_eV": float("-inf")}
    for d in store.query({"output.doc_type": "funnel", "output.reused_from_job_id": None}, properties=["output"]):
        funnel = d["output"]
        meta = funnel["survivors"][0]["metadata"]["oxidation"]
        clean = store.query_one({"uuid": meta["clean_job_id"]}, properties=["output"])["output"]
        host = _host(clean)
        confs = _configurations(host, meta["placement"], meta["n_O"], find_sites(host, meta["placement"]))
        picks = rng.sample(range(len(confs)), min(sample, len(confs)))
        calls = wall = 0.0
        for i in picks:
            atoms = confs[i].atoms.copy()
            with contextlib.redirect_stdout(io.StringIO()):
                calc, _ = make_calculator(preset, atoms, stress=False)
            atoms.calc = calc
            start = time.perf_counter()
            opt = FIRE(atoms, logfile=None)
            converged = opt.run(fmax=preset.relax.fmax, steps=preset.relax.steps)
            wall += time.perf_counter() - start
            calls += opt.nsteps + 1
            totals["unconverged"] += 0 if converged else 1
            # a sampled candidate that ends lower than the funnel's survivor is one the funnel missed
            gain = funnel["survivors"][0]["energy_eV"] - atoms.get_potential_energy()
            totals["below_survivor"] += int(converged and gain > 0.01)
            totals["largest_gain_eV"] = max(totals["largest_gain_eV"], gain)
        scale = len(confs) / len(picks)
        totals["candidates"] += len(confs)
        totals["relaxed"] += len(picks)
        totals["force_calls"] += calls * scale
        totals["wall_s"] += wall * scale
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--sample", type=int, default=2, help="candidates relaxed one by one per funnel")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from spillover.store import connect

    with tempfile.TemporaryDirectory() as tmp:
        db, scratch = Path(tmp) / "db", Path(tmp) / "scratch"
        wall1, out1 = _run(db, scratch, args.workers)
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        wall2, out2 = _run(db, scratch, args.workers)
        runs = [re.search(r"^run (\w+), preset", o, re.M).group(1) for o in (out1, out2)]
        store = connect(str(db), create=False)
        calls1, computed1 = _calls(store, runs[0])
        calls2, computed2 = _calls(store, runs[1])
        print(out1.strip())
        print(f"\nengine: {wall1:.0f} s wall on {args.workers} workers, {calls1} force calls, "
              f"{computed1} calculations, peak memory {peak_mb:.0f} MB (largest process)")
        print(f"rerun:  {wall2:.0f} s wall, {computed2} calculations computed, {calls2} force calls")
        ref = one_by_one(store, args.sample, args.seed)
        print(f"one by one (plain ASE FIRE, 1 process): {ref['relaxed']} of {ref['candidates']} candidates relaxed, "
              f"{ref['unconverged']} of them unconverged at the preset's step limit; scaled to all: "
              f"{ref['force_calls']:.0f} force calls, {ref['wall_s']:.0f} s")
        print(f"sampled candidates ending more than 0.01 eV below their funnel's survivor: {ref['below_survivor']} "
              f"(largest E(survivor) - E(sampled): {ref['largest_gain_eV']:+.3f} eV)")
        print(f"ratio one-by-one / engine: force calls {ref['force_calls'] / max(calls1, 1):.1f}x, "
              f"wall time {ref['wall_s'] / wall1:.1f}x")


if __name__ == "__main__":
    main()
