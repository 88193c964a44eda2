"""The NEB fidelity ladder: force calls of a DFT band started from IDPP versus from the screen band.

One r-TiO2 vacancy hop is computed three times: at ``screen`` (CHGNet) from IDPP, then at a GPAW
preset twice with the same endpoints (the screen band's, as single points or relaxed): once from
IDPP, once from the screen band. Prints force calls, optimizer steps, barriers and wall times.
Too slow for the test suite (tens of GPAW calls on 17 atoms); run on an idle machine::

    python benchmarks/neb_ladder.py                    # [001] hop, 1x1x3 cell (17 atoms), gpaw-test
    python benchmarks/neb_ladder.py --cell 1 1 1 --hop 110 --ecut 250 --kpts 1 1 2   # 5 atoms, 1-2 min

The GPAW settings default to the gpaw-test preset with a reduced k-mesh (``--kpts``) and cutoff
(``--ecut``); ``--relax`` relaxes the DFT endpoints first (shared by both DFT bands).

Measured (2 shared cores, OMP_NUM_THREADS=1), the 5-atom line above, 1 image, fmax 0.1 eV/Å:

    band                            band calls  endpoint calls  steps  E_a fwd (eV)  converged
    screen from IDPP                        75              56     74         3.306  True
    gpaw-test from the screen band          13               2     12         1.058  True
    gpaw-test from IDPP                      7               2      6         6.064  True

The IDPP band is cheaper there only because it stops on the wrong stationary point: the hop is
symmetric (reverse-equivalent), so the single IDPP image sits on the mirror plane of the path and the
climbing image cannot leave it (6.06 eV); the screen band has already left the plane and DFT refines
it to a 1.06 eV saddle. A 5-atom cell with one O vacancy is no model of anything; it shows the
mechanism, not the saving, which needs the 17-atom default (not measured here: too slow on the
shared 2-core machine). With ``--images 2`` on the 5-atom cell neither the screen band (300 steps)
nor the DFT band (60 steps) converges.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from pymatgen.io.ase import AseAtomsAdaptor

from spillover.build.barriers import bulk_host, hop_between, hop_endpoints
from spillover.errors import InputError
from spillover.jobs.neb import NebMaker


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", nargs=3, type=int, default=[1, 1, 3], help="rutile supercell")
    parser.add_argument("--hop", default="001", help="hop direction: 001 or 110")
    parser.add_argument("--images", type=int, default=1)
    parser.add_argument("--preset", default="gpaw-test")
    parser.add_argument("--ecut", type=float, default=300.0)
    parser.add_argument("--kpts", nargs=3, type=int, default=[2, 2, 1])
    parser.add_argument("--fmax", type=float, default=0.1)
    parser.add_argument("--relax", action="store_true", help="relax the DFT endpoints (else single points)")
    args = parser.parse_args()

    host = bulk_host("rutile", supercell=tuple(args.cell), cutoff=3.0)
    hop = find_hop(host, args.hop, 3.0)
    initial, final = (AseAtomsAdaptor.get_structure(a) for a in hop_endpoints(host, hop))
    work = Path(tempfile.mkdtemp(prefix="neb-ladder-"))
    os.chdir(work)
    rows = []

    start = time.perf_counter()
    screen = NebMaker(n_images=args.images, checkpoint_dir=str(work)).compute(initial, final, hop=hop.to_dict())
    rows.append(("screen from IDPP", screen, time.perf_counter() - start))
    # both DFT bands get the screen band's endpoints, so they differ only in their start band
    ends = [screen.image_positions_A[0], screen.image_positions_A[-1]]
    structures = []
    for structure, positions in zip((initial, final), ends):
        atoms = AseAtomsAdaptor.get_atoms(structure)
        atoms.set_positions(positions, apply_constraint=False)
        structures.append(AseAtomsAdaptor.get_structure(atoms))
    overrides = {"gpaw": {"mode": {"ecut": args.ecut}, "kpts": list(args.kpts)}}
    dft = NebMaker(preset=args.preset, preset_overrides=overrides, n_images=args.images, fmax=args.fmax,
                   relax_endpoints=args.relax, checkpoint_dir=str(work))
    start = time.perf_counter()
    warm = dft.compute(*structures, hop=hop.to_dict(), start_band=screen.model_dump(), start_band_source="screen band")
    rows.append((f"{args.preset} from the screen band", warm, time.perf_counter() - start))
    start = time.perf_counter()
    cold = dft.compute(*structures, hop=hop.to_dict())
    rows.append((f"{args.preset} from IDPP", cold, time.perf_counter() - start))

    print(f"hop {hop.label}, {len(host) - 1} atoms, {args.images} image(s), GPAW ecut {args.ecut} eV, "
          f"k {args.kpts}, fmax {args.fmax} eV/Å; work dir {work}")
    print(f"{'band':32s} {'band calls':>10s} {'endpoint calls':>14s} {'steps':>6s} {'E_a fwd':>8s} "
          f"{'conv':>5s} {'wall (s)':>9s}")
    for name, doc, wall in rows:
        print(f"{name:32s} {doc.band_force_calls:10d} {doc.endpoint_force_calls:14d} {doc.optimizer_steps:6d} "
              f"{doc.Ea_forward_eV:8.3f} {str(doc.converged):>5s} {wall:9.1f}")
    print(f"\nDFT band force calls, screen start / IDPP start: {warm.band_force_calls} / {cold.band_force_calls}")


if __name__ == "__main__":
    main()
