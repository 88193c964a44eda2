"""Speed figures of the calculators behind the presets (``make bench``).

Prints wall times and ratios; targets live here, never in unit tests (machines are shared and noisy).
Measured: CHGNet model load, one CHGNet force call on a 108-atom Ru/r-TiO2(110) interface and on
the 6-atom rutile cell, one gpaw-test single point on rutile, and the whole lattice-match chain of
the tiny test study. Run on an idle machine: the figures are wall times.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(fn, repeat: int = 1) -> float:
    """Best wall time of ``repeat`` calls, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    from spillover.build.bulk import load_bulk
    from spillover.build.interfaces import make_interface
    from spillover.calculators import _chgnet_model, load_preset, make_calculator

    screen, gpaw_test = load_preset("screen"), load_preset("gpaw-test")
    with contextlib.redirect_stdout(io.StringIO()):
        t_load = timed(lambda: _chgnet_model("0.3.0", "cpu"))
    rutile = load_bulk("rutile")
    interface, _ = make_interface("rutile-110", ["Ru-0001"])
    # the main study's r-TiO2(110)/RuO2/Ru cell: 7 support layers, 4 Ru layers, 7.5 Å vacuum per side (15 Å between images)
    cell, _ = make_interface("rutile-110", ["RuO2-110", "Ru-0001"], support_layers=7, film_layers=[1, 4], vacuum=7.5,
                             fixed_layers=2)

    def force_call(atoms, preset, stress=True):
        atoms = atoms.copy()
        with contextlib.redirect_stdout(io.StringIO()):
            atoms.calc = make_calculator(preset, atoms, stress=stress)[0]

        def call():
            atoms.rattle(1e-4)  # a new geometry: ASE calculators cache results for unchanged atoms
            return atoms.get_forces()

        return call

    t_chgnet_small = timed(force_call(rutile, screen), repeat=3)
    t_chgnet_big = timed(force_call(interface, screen), repeat=3)
    t_cell_all = timed(force_call(cell, screen, stress=True), repeat=3)
    t_cell_ef = timed(force_call(cell, screen, stress=False), repeat=3)
    with tempfile.TemporaryDirectory() as tmp:
        cwd = os.getcwd()
        os.chdir(tmp)
        try:
            t_gpaw = timed(force_call(rutile, gpaw_test))
        finally:
            os.chdir(cwd)
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "spillover.cli", "run", str(ROOT / "tests/data/tiny_study.yaml"), "--db", f"{tmp}/db",
             "--scratch", f"{tmp}/scratch"],
            check=True, capture_output=True,
        )
        t_chain = time.perf_counter() - start

    print(f"{'figure':58s} {'seconds':>9s}")
    print(f"{'CHGNet model load':58s} {t_load:9.2f}")
    print(f"{'CHGNet force call, rutile (6 atoms)':58s} {t_chgnet_small:9.3f}")
    print(f"{'CHGNet force call, Ru/r-TiO2(110) (' + str(len(interface)) + ' atoms)':58s} {t_chgnet_big:9.3f}")
    print(f"{'CHGNet step, main-study r-TiO2/RuO2/Ru cell (' + str(len(cell)) + ' atoms), e+f+s+m':58s} {t_cell_all:9.3f}")
    print(f"{'CHGNet step, same cell, energy and forces only':58s} {t_cell_ef:9.3f}")
    print(f"{'gpaw-test single point, rutile (6 atoms)':58s} {t_gpaw:9.2f}")
    print(f"{'tiny study end to end (2 bulks, cell, scan; CLI)':58s} {t_chain:9.2f}")
    print()
    print(f"ratio gpaw-test / CHGNet, rutile force call: {t_gpaw / t_chgnet_small:8.0f}x")
    print(f"ratio CHGNet all properties / energy and forces, {len(cell)}-atom cell: {t_cell_all / t_cell_ef:5.1f}x")
    print(f"CHGNet cost per atom, 108 vs 6 atoms:        {t_chgnet_big / len(interface) * 1e3:6.2f} vs "
          f"{t_chgnet_small / len(rutile) * 1e3:6.2f} ms/atom")


if __name__ == "__main__":
    main()
