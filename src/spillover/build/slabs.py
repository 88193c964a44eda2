"""Surface slabs with a layer index on every atom.

Oxide slabs (r-TiO2(110), RuO2(110), a-TiO2(101), other facets) are cut with pymatgen's
:class:`~pymatgen.core.surface.SlabGenerator`, keeping the termination that is
stoichiometric, symmetric and non-polar and breaks the fewest M-O bonds; hcp(0001) metal
slabs come from :func:`ase.build.hcp0001`.  A layer is a group of cation planes less than
1.2 Å apart with the O atoms nearest to them in z (see :mod:`spillover.build.layers`); the
slab is cut with exactly the requested number of layers, trimming whole bottom layers from
a thicker cut when needed.
"""

from __future__ import annotations

import re

import numpy as np
from ase import Atoms
from ase.build import hcp0001
from ase.constraints import FixAtoms
from ase.geometry import minkowski_reduce
from pymatgen.core import Composition, Structure
from pymatgen.core.surface import SlabGenerator
from pymatgen.io.ase import AseAtomsAdaptor
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from spillover.build.bulk import BULKS, load_bulk
from spillover.build.layers import assign_layers, flips_z, keep_top_layers
from spillover.errors import InputError
from spillover.sections.base import LAYERS, REPEAT, VACUUM, Bound

#: The facets the project uses.
SLAB_NAMES = ("rutile-110", "anatase-101", "RuO2-110", "Ru-0001")

HCP = frozenset({"Ru", "Ti"})
_INDEX = re.compile(r"^(-?\d)+$")
_DIGIT = re.compile(r"-?\d")
#: Largest |Miller index|: low-index facets only (cutting a (975) slab takes a minute, and no model needs one).
MAX_MILLER = 3


def parse_facet(name: str) -> tuple[str, tuple[int, ...]]:
    """Split a facet name ``'<bulk>-<miller digits>'``.

    Parameters
    ----------
    name
        E.g. ``'rutile-110'``, ``'Ru-0001'`` (Miller-Bravais, 4 digits, for hcp) or
        ``'Ru-001'``; a digit may carry a minus sign (``'rutile-1-10'``).

    Returns
    -------
    tuple
        ``(bulk, miller)``, e.g. ``('rutile', (1, 1, 0))``, ``('Ru', (0, 0, 0, 1))``.

    Raises
    ------
    InputError
        Unknown bulk, malformed name, all-zero index, wrong number of digits, an index
        larger than :data:`MAX_MILLER` in magnitude, or an hcp 4-index with ``i != -(h + k)``.
    """
    allowed = "'<bulk>-<hkl>' with bulk in " + ", ".join(BULKS) + ", e.g. " + ", ".join(SLAB_NAMES)
    if not isinstance(name, str) or "-" not in name:
        raise InputError("facet", f"malformed facet name {name!r}", allowed)
    bulk, index = name.split("-", 1)
    if bulk not in BULKS:
        raise InputError("facet", f"unknown bulk {bulk!r} in facet {name!r}", ", ".join(BULKS))
    if not _INDEX.match(index):
        raise InputError("facet", f"malformed Miller index {index!r} in {name!r}", allowed)
    miller = tuple(int(d) for d in _DIGIT.findall(index))
    ndig = (3, 4) if bulk in HCP else (3,)
    if len(miller) not in ndig:
        raise InputError("facet", f"{name!r} has {len(miller)} Miller digits",
                         " or ".join(map(str, ndig)) + f" digits for {bulk}")
    if not any(miller):
        raise InputError("facet", f"impossible Miller index {index!r} (all zero)", allowed)
    if max(abs(d) for d in miller) > MAX_MILLER:
        raise InputError("facet", f"Miller index {index!r} of {name!r} is not low-index",
                         f"indices -{MAX_MILLER}..{MAX_MILLER}, e.g. " + ", ".join(SLAB_NAMES))
    if len(miller) == 4 and miller[2] != -(miller[0] + miller[1]):
        raise InputError("facet", f"impossible Miller index {index!r}: i != -(h+k)",
                         "Miller-Bravais (h, k, i, l) with i = -(h+k), e.g. 0001, 10-10")
    return bulk, miller


def _check_args(layers: int, vacuum: float, repeat: tuple[int, int], fixed_layers: int) -> None:
    """The ranges of :mod:`spillover.sections.base`: layers 1..20, vacuum 0 < x <= 50 Å per side, repeats 1..10."""
    LAYERS.check(layers, "layers")
    VACUUM.check(vacuum, "vacuum")
    try:
        rx, ry = repeat
    except (TypeError, ValueError):
        raise InputError("repeat", f"must be two integers, got {repeat!r}", f"(nx, ny), each {REPEAT.text}") from None
    for r in (rx, ry):
        if not REPEAT.contains(r):
            raise InputError("repeat", f"entries must be integers in {REPEAT.text}, got {repeat!r}",
                             f"(nx, ny), each {REPEAT.text}")
    Bound(0, layers - 1, integer=True).check(fixed_layers, "fixed_layers")


def bulk_structure(material: str, bulk: Atoms | None = None) -> Structure:
    """Conventional standard pymatgen structure of ``material`` (or of a given bulk).

    Raises
    ------
    InputError
        If ``bulk`` does not have the composition of ``material``.
    """
    ref = load_bulk(material)
    if bulk is None:
        atoms = ref
    else:
        if not isinstance(bulk, Atoms):
            raise InputError("bulk", f"must be an ase.Atoms, got {type(bulk).__name__}")
        want = Composition(ref.get_chemical_formula()).reduced_formula
        got = Composition(bulk.get_chemical_formula()).reduced_formula if len(bulk) else "(empty)"
        if want != got:
            raise InputError("bulk", f"composition {got} does not match {material} ({want})", str(want))
        atoms = bulk.copy()
        atoms.pbc = True
    structure = AseAtomsAdaptor.get_structure(atoms)
    from spillover.build.symmetry import SYMPREC

    return SpacegroupAnalyzer(structure, symprec=SYMPREC).get_conventional_standard_structure()


def _to_atoms_z_up(slab: Structure) -> Atoms:
    """Slab structure -> Atoms with a along x, normal along +z, top surface at max z."""
    m = slab.lattice.matrix.copy()
    a1, a2, c = m
    if np.dot(np.cross(a1, a2), c) < 0:
        a1, a2 = a2, a1
    e1 = a1 / np.linalg.norm(a1)
    e3 = np.cross(a1, a2)
    e3 /= np.linalg.norm(e3)
    e2 = np.cross(e3, e1)
    rot = np.array([e1, e2, e3])
    pos = slab.cart_coords @ rot.T
    atoms = Atoms([s.specie.symbol for s in slab], positions=pos,
                  cell=[a1 @ rot.T, a2 @ rot.T, [0.0, 0.0, float(np.dot(c, e3))]], pbc=True)
    rcell, _ = minkowski_reduce(atoms.cell[:], pbc=[True, True, False])
    if np.cross(rcell[0], rcell[1])[2] < 0:
        rcell[[0, 1]] = rcell[[1, 0]]
    atoms.set_cell(rcell, scale_atoms=False)
    atoms.wrap()
    return atoms


def _is_polar(slab, oxi: dict[str, float], tol: float = 1e-3) -> bool:
    """Dipole per area along the normal with formal charges ``oxi`` (pymatgen's criterion)."""
    if not oxi:
        return False
    q = np.array([oxi.get(site.specie.symbol, 0.0) for site in slab])
    h = slab.cart_coords @ slab.normal
    return bool(abs(np.sum(q * (h - h.mean()))) / slab.surface_area > tol)


def _oxide_slab(name: str, structure: Structure, miller: tuple[int, int, int],
                layers: int) -> tuple[Atoms, np.ndarray]:
    """Cut ``layers`` stoichiometric, symmetric, non-polar layers with SlabGenerator."""
    symbols = sorted({s.symbol for s in structure.species})
    cations = [s for s in symbols if s != "O"]
    bonds = None
    if "O" in symbols:
        dmat = structure.distance_matrix
        spec = np.array([s.specie.symbol for s in structure])
        mo = dmat[np.ix_(spec != "O", spec == "O")]
        cutoff = 1.15 * float(mo[mo > 0.1].min())
        bonds = {(c, "O"): cutoff for c in cations}
    formula = structure.composition.reduced_formula
    guesses = structure.composition.oxi_state_guesses()
    oxi = {str(k): float(v) for k, v in guesses[0].items()} if guesses else {}
    for extra in (0, 1, 2):
        gen = SlabGenerator(structure, miller, min_slab_size=layers + extra, min_vacuum_size=layers + 2,
                            in_unit_planes=True, center_slab=True, primitive=True, lll_reduce=False,
                            reorient_lattice=True)
        slabs = gen.get_slabs(bonds=bonds, max_broken_bonds=10**6, symmetrize=False)
        ok = [s for s in slabs if s.composition.reduced_formula == formula
              and s.is_symmetric() and not _is_polar(s, oxi)]
        if not ok:
            raise InputError("facet", f"{name!r} has no stoichiometric, symmetric, non-polar termination",
                             ", ".join(SLAB_NAMES))
        slab = ok[0]  # get_slabs sorts by the number of broken bonds
        atoms = _to_atoms_z_up(slab.get_orthogonal_c_slab())
        layer = assign_layers(atoms)
        nfound = int(layer.max())
        if nfound < layers:
            continue
        if nfound > layers:
            atoms, layer = keep_top_layers(atoms, layer, layers)
        if Composition(atoms.get_chemical_formula()).reduced_formula != formula:
            continue
        return atoms, layer
    raise InputError("facet", f"could not cut exactly {layers} stoichiometric layers of {name!r}",
                     ", ".join(SLAB_NAMES))


def _hcp_basal(structure: Structure, layers: int) -> tuple[Atoms, np.ndarray]:
    """hcp(0001) slab from ase.build.hcp0001 at the lattice of ``structure``."""
    a, _, c = structure.lattice.abc
    symbol = structure[0].specie.symbol
    atoms = hcp0001(symbol, size=(1, 1, layers), a=a, c=c, vacuum=1.0, orthogonal=False)
    return atoms, assign_layers(atoms)


def make_slab(name: str, *, bulk: Atoms | None = None, repeat: tuple[int, int] = (1, 1), layers: int = 3,
              vacuum: float = 6.0, fixed_layers: int = 0) -> Atoms:
    """Build a slab with a layer index on every atom.

    Parameters
    ----------
    name
        Facet, ``'<bulk>-<hkl>'``: one of :data:`SLAB_NAMES` or another facet of a known bulk.
    bulk
        Optional (e.g. relaxed) bulk to cut from instead of the CIF; must have the
        material's composition.
    repeat
        In-plane repetition of the primitive surface cell.
    layers
        Number of layers: O-M2O2-O trilayers for rutile-type (110), saw-tooth Ti2O4 layers
        for a-TiO2(101), atomic layers for hcp(0001); in general cation planes less than
        1.2 Å apart with their nearest O.
    vacuum
        Vacuum on each side of the slab along z in Å, as ASE's ``vacuum`` (> 0; the periodic images
        are ``2 * vacuum`` apart; 6 Å or more per side for production).
    fixed_layers
        Number of bottom layers held by :class:`~ase.constraints.FixAtoms`.

    Returns
    -------
    ase.Atoms
        z along the surface normal, c perpendicular to the surface, pbc all True,
        ``arrays["layer"]`` (1 = top), ``info["slab"]`` with the build parameters.

    Raises
    ------
    InputError
        For a bad facet name, a bulk of the wrong composition, a facet without a
        symmetric stoichiometric termination, or out-of-range numbers.
    """
    material, miller = parse_facet(name)
    _check_args(layers, vacuum, repeat, fixed_layers)
    structure = bulk_structure(material, bulk)
    hkl = (miller[0], miller[1], miller[3]) if len(miller) == 4 else miller
    if material in HCP and hkl[0] == 0 and hkl[1] == 0:
        atoms, layer = _hcp_basal(structure, layers)
    else:
        atoms, layer = _oxide_slab(name, structure, hkl, layers)
        if layers > 1 and not flips_z(atoms):
            raise InputError("facet", f"{name!r} with {layers} layers is not symmetric", ", ".join(SLAB_NAMES))
    order = np.lexsort((-atoms.positions[:, 2], layer))
    atoms, layer = atoms[order], layer[order]
    z = atoms.positions[:, 2]
    cell = atoms.cell[:].copy()
    cell[2] = [0.0, 0.0, float(z.max() - z.min() + 2.0 * vacuum)]
    atoms.set_cell(cell, scale_atoms=False)
    atoms.translate([0.0, 0.0, vacuum - z.min()])
    atoms.pbc = True
    atoms.set_tags(layer)
    atoms.arrays["layer"] = layer.astype(int)
    atoms = atoms.repeat((int(repeat[0]), int(repeat[1]), 1))
    atoms.wrap()
    lay = atoms.arrays["layer"]
    atoms.set_constraint(FixAtoms(indices=np.flatnonzero(lay > layers - fixed_layers)) if fixed_layers else None)
    atoms.info = {"slab": {"name": name, "miller": list(miller), "layers": int(layers),
                           "repeat": [int(repeat[0]), int(repeat[1])], "vacuum": float(vacuum),
                           "fixed_layers": int(fixed_layers)}}
    return atoms


__all__ = ["SLAB_NAMES", "HCP", "parse_facet", "make_slab", "bulk_structure"]
