"""Calculator presets: YAML files with ``parent:`` inheritance, resolved and validated.

A preset names one calculator and every setting that changes an energy. Presets live in
``src/spillover/presets/*.yaml`` and in the directories of ``SPILLOVER_PRESET_PATH``; a study
file or a single job may override any key (deep merge). The fully resolved preset is stored
with every result, so a number can always be traced to the exact parameters behind it.
"""

from __future__ import annotations

import copy
import functools
import inspect
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from spillover.errors import InputError, unknown_key
from spillover.settings import get_settings

if TYPE_CHECKING:
    from ase import Atoms
    from ase.calculators.calculator import Calculator

BUILTIN_PRESET_DIR = Path(__file__).parent / "presets"
OPTIMIZERS = ("FIRE", "BFGS", "LBFGS", "BFGSLineSearch", "LBFGSLineSearch", "MDMin")
CHGNET_KEYS = ("model_name", "use_device", "stress_weight")
# Keys GPAW's ASE calculator accepts besides the DFT parameters.
GPAW_EXTRA_KEYS = ("txt",)
# Set by queue jobs with several tasks (spillover.submit.mpi_command): GPAW then runs in MPI ranks.
MPI_COMMAND_ENV = "SPILLOVER_MPI_COMMAND"
#: Set with MPI_COMMAND_ENV by :func:`local_mpi_environment`: the ranks are this machine's, so a job may
#: start several sets of them (one per NEB image) where a queue job's ``srun`` could not.
MPI_LOCAL_RANKS_ENV = "SPILLOVER_MPI_LOCAL_RANKS"


class RelaxSettings(BaseModel):
    """How positions (and bulk cells) are relaxed with this preset."""

    model_config = ConfigDict(extra="forbid")

    optimizer: Literal[OPTIMIZERS] = Field("FIRE", description="ASE optimizer name.")  # type: ignore[valid-type]
    fmax: float = Field(0.05, gt=0, le=10, description="Force convergence threshold (eV/Å).")
    steps: int = Field(300, ge=0, le=100_000, description="Maximum optimizer steps.")
    bulk_cell: bool = Field(
        True, description="Relax the cell of bulk models (only at a converged cutoff, see docs/science.md, Pitfalls)."
    )
    cell_seeds: int = Field(
        0, ge=0, le=20, description="System cells only: once the relaxation converged, relax the cell again from "
        "this many seeded starts (seeds 1..n) and keep the lowest. A strained film can rest in a shallow "
        "metastable state that a relaxation from its symmetric start never leaves (docs/science.md).")
    cell_seed_displacement_A: float = Field(
        0.1, gt=0, le=1, description="How far every free atom of a seeded start moves, in a random direction (Å).")


class SlabSettings(BaseModel):
    """Settings that apply to slab and interface models only."""

    model_config = ConfigDict(extra="forbid")

    dipole_correction: bool = Field(
        False, description="Add a dipole layer along z for asymmetric slabs (GPAW dipolelayer='xy')."
    )


NEB_OPTIMIZERS = ("FIRE", "BFGS", "LBFGS", "MDMin")
NEB_METHODS = ("improvedtangent", "aseneb", "eb", "spline", "string")


class NebSettings(BaseModel):
    """Nudged-elastic-band settings of a preset (ase.mep.NEB); a study or job may override them."""

    model_config = ConfigDict(extra="forbid")

    n_images: int = Field(5, ge=1, le=64, description="Intermediate images between the two endpoints.")
    spring_constant: float = Field(0.1, gt=0, le=100, description="Spring constant k between images (eV/Å²).")
    fmax: float = Field(0.05, gt=0, le=10, description="Force threshold on every image, climbing image included (eV/Å).")
    steps: int = Field(300, ge=0, le=100_000, description="Maximum optimizer steps of the band.")
    optimizer: Literal[NEB_OPTIMIZERS] = Field("FIRE", description="ASE optimizer of the band.")  # type: ignore[valid-type]
    fallback_optimizer: Literal[NEB_OPTIMIZERS] | None = Field(  # type: ignore[valid-type]
        "FIRE", description="Optimizer that takes over a band that blows up under ``optimizer`` (see blowup_eV), "
        "from the band of lowest highest image so far, with a step budget of its own; it may be ``optimizer`` "
        "itself when fallback_maxstep is set (then only the step length changes); None: no fallback.",
    )
    fallback_maxstep: float | None = Field(
        None, gt=0, le=1, description="Largest atom move per step of the fallback optimizer (Å); None: its default "
        "(0.2 Å in ASE), and a band whose fallback is its own optimizer is not watched. FIRE on an analytic test "
        "band fell 5 eV and rose 3 eV again on its way to converging, so FIRE bands are watched only where a "
        "preset asks (gpaw-test).",
    )
    blowup_eV: float = Field(
        3.0, gt=0, le=100, description="A band blows up when its highest image rises more than this above the "
        "lowest highest image of the band so far (eV). Quasi-Newton steps on a band can run away; so can FIRE on a "
        "climbing image whose band has no minimum at its ends (measured: +68 eV on a DFT band from unrelaxed ends).",
    )
    climb: bool = Field(True, description="Climbing image on the highest image (Henkelman 2000).")
    ladder: Literal["restart", "corrected"] = Field(
        "restart", description="How a band started from another preset's band (the fidelity ladder) proceeds: "
        "'restart': this preset's optimizer from the start band's images; 'corrected': each step computes this "
        "preset at every image and relaxes the band on the start band's preset plus the difference measured there "
        "(spillover.jobs.corrected_band). On the 47-atom rutile hop of make bench-neb (2026-12-07) 'corrected' "
        "stalled after 9 steps and led the band below its ends, while 'restart' converged (README, the NEB economy).",
    )
    corrected_trust_A: float = Field(
        0.2, gt=0, le=2, description="Largest atom move of one corrected step (Å): the correction holds near the "
        "geometry it was fitted at.",
    )
    corrected_stall_steps: int = Field(
        4, ge=1, le=100, description="A corrected band whose fmax has not fallen below its best for this many steps "
        "in a row goes on under ``optimizer`` from where it is.",
    )
    seed_displacement_A: float = Field(
        0.0, ge=0, le=0.5, description="Length of a random displacement (Å) of every free atom of every "
        "intermediate image at the band's start (IDPP or start band; not on resuming a checkpoint), drawn with "
        "``seed``: it moves the band off the symmetric subspace of a symmetric hop, which a band started on it "
        "never leaves (forces keep the symmetry). 0: no displacement.",
    )
    seed: int = Field(0, ge=0, description="Random seed of ``seed_displacement_A``.")
    method: Literal[NEB_METHODS] = Field(  # type: ignore[valid-type]
        "improvedtangent", description="ase.mep.NEB tangent/spring method; improvedtangent is the standard."
    )


SCF_CHANGES = ("mixer", "nbands", "smearing", "maxiter")


class ScfSettings(BaseModel):
    """How a GPAW SCF cycle that does not converge is retried (:mod:`spillover.jobs.scf`).

    Each retry adds the next change of ``ladder`` to the parameters of the attempt before it; a
    change that would change nothing (a cap reached) is passed over. What every attempt used and
    whether it converged is stored with the result.
    """

    model_config = ConfigDict(extra="forbid")

    max_attempts: int = Field(6, ge=1, le=20, description="SCF attempts per geometry, the first included; 1: no retries.")
    ladder: list[Literal[SCF_CHANGES]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: ["mixer", "mixer", "nbands", "smearing", "maxiter"],
        description="Changes in the order they are tried, one per retry; each 'mixer' takes the next of mixer_betas.",
    )
    mixer_betas: list[Annotated[float, Field(gt=0, le=1)]] = Field(
        default_factory=lambda: [0.05, 0.02],
        description="Density-mixing betas of the 'mixer' changes (gpaw.Mixer, gpaw.MixerDif when spin-polarised).",
    )
    nbands_factor: float = Field(1.2, gt=1, description="'nbands': bands x this (rounded up).")
    width_factor: float = Field(2.0, gt=1, description="'smearing': occupations width x this, up to max_width_eV.")
    max_width_eV: float = Field(0.2, gt=0, description="Largest smearing width a retry sets (eV).")
    maxiter_factor: float = Field(2.0, gt=1, description="'maxiter': maxiter x this, up to max_maxiter.")
    max_maxiter: int = Field(1000, ge=1, description="Most SCF iterations a retry sets.")


class Preset(BaseModel):
    """A fully resolved calculator preset."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Preset name (file stem).")
    description: str = Field("", description="One line on what the preset is for.")
    parent: str | None = Field(None, description="Preset this one inherits from (already merged).")
    calculator: Literal["chgnet", "gpaw", "analytic"] = Field(description="Which calculator the preset drives.")
    chgnet: dict[str, Any] = Field(default_factory=dict, description="CHGNet model and device.")
    analytic: dict[str, Any] = Field(
        default_factory=dict, description="Morse pairs of spillover.analytic.PairMorse: cutoff and pairs (tests only)."
    )
    gpaw: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments of gpaw.GPAW.")
    relax: RelaxSettings = Field(default_factory=RelaxSettings)
    slab: SlabSettings = Field(default_factory=SlabSettings)
    neb: NebSettings = Field(default_factory=NebSettings)
    scf: ScfSettings = Field(default_factory=ScfSettings)
    hubbard_u: dict[str, float] | None = Field(
        None, description="Hubbard U (eV) on the d shell per element, e.g. {Ti: 4.0}; GPAW only."
    )
    dispersion: Literal["d3"] | None = Field(None, description="Dispersion correction; GPAW only.")
    replaces: str | None = Field(
        None, description="A user preset with the name of a built-in one must say so: replaces: <that name>."
    )


#: Preset names are file stems: letters, digits, '.', '_' and '-' (no path separators, no '..').
PRESET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_preset_name(name: str, field: str = "preset") -> str:
    """Raise InputError unless ``name`` is a preset name (never a path)."""
    if not isinstance(name, str) or not PRESET_NAME.match(name) or ".." in name:
        raise InputError(field, f"{str(name)[:80]!r} is not a preset name",
                         "letters, digits, '.', '_', '-'; presets load by name from the preset directories only")
    return name


def preset_dirs() -> list[Path]:
    """Directories searched for presets, user directories (``SPILLOVER_PRESET_PATH``) first."""
    return [*get_settings().preset_dirs(), BUILTIN_PRESET_DIR]


def available_presets() -> list[str]:
    """Names of every preset on the search path."""
    names = {p.stem for d in preset_dirs() if d.is_dir() for p in d.glob("*.yaml") if PRESET_NAME.match(p.stem)}
    return sorted(names)


def preset_listing() -> list[dict[str, str]]:
    """Every preset on the search path with its description, where it comes from, and why it is broken.

    One broken preset (bad YAML, an unknown key, a shadowed built-in) is listed with its reason
    instead of breaking the listing.
    """
    rows = []
    for name in available_presets():
        row = {"name": name, "description": "", "source": "", "problem": ""}
        try:
            path = preset_source(name)
            row["source"] = "built-in" if path.parent == BUILTIN_PRESET_DIR else str(path)
            preset = load_preset(name)
            row["description"] = preset.description
            if preset.replaces:
                row["source"] += f" (replaces the built-in {preset.replaces})"
        except InputError as exc:
            row["problem"] = str(exc)
        rows.append(row)
    return rows


def preset_source(name: str) -> Path:
    """The file preset ``name`` is read from: a user directory first, then the built-in ones.

    A user preset with a built-in preset's name is used only if it says ``replaces: <name>``;
    otherwise loading it is an error, so that a stray ``screen.yaml`` never changes a run silently.

    Raises
    ------
    InputError
        Not a preset name, no such preset, or a user preset shadowing a built-in one unannounced.
    """
    from spillover.yamlio import read_yaml

    check_preset_name(name)
    builtin = BUILTIN_PRESET_DIR / f"{name}.yaml"
    for directory in preset_dirs():
        path = directory / f"{name}.yaml"
        if not path.is_file():
            continue
        if directory != BUILTIN_PRESET_DIR and builtin.is_file():
            data = read_yaml(path, "preset")
            if not isinstance(data, dict) or data.get("replaces") != name:
                raise InputError("preset", f"user preset {path} has the name of a built-in preset and does not say "
                                 f"'replaces: {name}'", f"add 'replaces: {name}' to it, or rename it")
        return path
    raise InputError("preset", f"unknown preset {name!r}", ", ".join(available_presets()))


def _deep_merge(base: dict, update: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _read_raw(name: str, builtin: bool = False) -> dict:
    from spillover.yamlio import read_yaml

    path = BUILTIN_PRESET_DIR / f"{check_preset_name(name)}.yaml" if builtin else preset_source(name)
    data = read_yaml(path, "preset") or {}
    if not isinstance(data, dict):
        raise InputError("preset", f"{path} must hold a mapping")
    return data


def _raw_chain(name: str, seen: tuple[str, ...] = (), builtin: bool = False) -> dict:
    if (name, builtin) in seen:
        raise InputError("preset.parent", f"inheritance cycle {' -> '.join([*(n for n, _ in seen), name])}")
    raw = _read_raw(name, builtin)
    parent = raw.get("parent")
    if parent is None:
        return {**raw, "name": name}
    # a user preset that replaces a built-in one may build on it: `parent: screen` in its own screen.yaml
    parent_builtin = builtin or (parent == name and raw.get("replaces") == name)
    merged = _deep_merge(_raw_chain(str(parent), (*seen, (name, builtin)), parent_builtin), raw)
    merged["name"] = name
    merged["parent"] = parent
    merged["replaces"] = raw.get("replaces")  # a child does not replace what its parent replaced
    return merged


def _gpaw_allowed_keys() -> set[str]:
    from gpaw.dft import Parameters

    return set(inspect.signature(Parameters.__init__).parameters) - {"self"} | set(GPAW_EXTRA_KEYS)


def _validate_calculator_keys(preset: Preset) -> None:
    if preset.calculator == "analytic":
        unknown = set(preset.analytic) - {"cutoff", "pairs"}
        if unknown:
            raise InputError(f"preset.analytic.{sorted(unknown)[0]}", unknown_key(sorted(unknown)[0], ("cutoff", "pairs")),
                             "cutoff, pairs")
        for pair, p in (preset.analytic.get("pairs") or {}).items():
            if not isinstance(p, dict) or set(p) != {"D", "alpha", "r0"}:
                raise InputError(f"preset.analytic.pairs.{pair}", "needs exactly D, alpha and r0")
    elif preset.calculator == "chgnet":
        unknown = set(preset.chgnet) - set(CHGNET_KEYS)
        if unknown:
            raise InputError(f"preset.chgnet.{sorted(unknown)[0]}",
                             unknown_key(sorted(unknown)[0], CHGNET_KEYS, "unknown CHGNet key"), ", ".join(CHGNET_KEYS))
        if preset.hubbard_u or preset.dispersion:
            raise InputError("preset.hubbard_u/dispersion", "only available with calculator gpaw")
    else:
        allowed = _gpaw_allowed_keys()
        unknown = set(preset.gpaw) - allowed
        if unknown:
            raise InputError(f"preset.gpaw.{sorted(unknown)[0]}",
                             unknown_key(sorted(unknown)[0], allowed, "unknown GPAW parameter"), ", ".join(sorted(allowed)))
        if "mode" not in preset.gpaw:
            raise InputError("preset.gpaw.mode", "missing", "e.g. {name: pw, ecut: 500}")


def _keys_at(loc: tuple) -> str | None:
    """The keys allowed at ``loc`` (a pydantic error location) of a preset, or None below a model."""
    model: Any = Preset
    for part in loc:
        annotation = model.model_fields[part].annotation if part in model.model_fields else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        model = annotation
    return ", ".join(model.model_fields)


def load_preset(name: str, overrides: dict | None = None) -> Preset:
    """Resolve a preset through its parents, apply overrides and validate it.

    Parameters
    ----------
    name
        Preset name (a YAML file stem on the preset search path).
    overrides
        Nested mapping deep-merged on top of the resolved preset, e.g.
        ``{"gpaw": {"mode": {"ecut": 400}}, "relax": {"fmax": 0.03}}``.

    Returns
    -------
    Preset
        The validated preset.

    Raises
    ------
    InputError
        Unknown preset, unknown key, or a value outside its allowed range.
    """
    raw = _raw_chain(name)
    if overrides:
        if not isinstance(overrides, dict):
            raise InputError("preset_overrides", "must be a mapping of preset keys")
        raw = _deep_merge(raw, overrides)
    try:
        preset = Preset.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            keys = _keys_at(err["loc"][:-1])
            problem = unknown_key(str(err["loc"][-1]), keys.split(", ") if keys else [], "unknown preset key")
            raise InputError(f"preset.{where}", problem, keys) from None
        ops = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
        bounds = [f"{ops[k]} {v}" for k, v in (err.get("ctx") or {}).items() if k in ops]
        raise InputError(f"preset.{where}", err["msg"], " and ".join(bounds) or None) from None
    _validate_calculator_keys(preset)
    return preset


def is_asymmetric_slab(atoms: Atoms) -> bool:
    """True for slabs and interfaces whose two surfaces differ (fixed bottom or several parts)."""
    from ase.constraints import FixAtoms

    if "layer" not in atoms.arrays:
        return False
    has_fixed = any(isinstance(c, FixAtoms) and len(c.index) for c in atoms.constraints)
    several_parts = "part" in atoms.arrays and len(set(atoms.arrays["part"].tolist())) > 1
    return has_fixed or several_parts


def calculator_parameters(preset: Preset, atoms: Atoms | None = None) -> dict[str, Any]:
    """The exact keyword arguments the calculator is built with for these atoms.

    Parameters
    ----------
    preset
        Resolved preset.
    atoms
        The structure to compute; decides the dipole correction of asymmetric slabs, and a GPAW
        preset without ``spinpol`` gets ``magmoms`` of zeros where the atoms carry initial moments.

    Returns
    -------
    dict
        Plain, JSON-safe keyword arguments.
    """
    if preset.calculator == "chgnet":
        return {"model_name": "0.3.0", "use_device": "cpu", **preset.chgnet}
    if preset.calculator == "analytic":
        return {"cutoff": 6.0, **copy.deepcopy(preset.analytic)}
    params = copy.deepcopy(preset.gpaw)
    if preset.hubbard_u:
        setups = params.get("setups") if isinstance(params.get("setups"), dict) else {}
        params["setups"] = {**setups, **{el: f":d,{u}" for el, u in preset.hubbard_u.items()}}
    if preset.dispersion == "d3":
        params["extensions"] = [*params.get("extensions", []), {"name": "d3", "xc": params.get("xc", "PBE")}]
    if atoms is not None and not params.get("spinpol") and atoms.get_initial_magnetic_moments().any():
        # GPAW turns spin polarisation on whenever the atoms carry initial moments, spinpol=False or
        # not; zero moments keep a spin-paired preset spin-paired (vacancy cells carry moments).
        params["magmoms"] = [0.0] * len(atoms)
    if atoms is not None and preset.slab.dipole_correction and is_asymmetric_slab(atoms):
        params["poissonsolver"] = {**params.get("poissonsolver", {}), "dipolelayer": "xy"}
    return params


@functools.lru_cache(maxsize=4)
def _chgnet_model(model_name: str, use_device: str):
    import torch
    from chgnet.model import CHGNet

    # Models of ~100 atoms gain nothing from intra-op threads, and several jobs of one node (or the
    # test suite) sharing cores slow down several-fold when each spawns one thread per core.
    # OMP_NUM_THREADS, when set, is the user's choice and torch already follows it.
    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(1)

    return CHGNet.load(model_name=model_name, use_device=use_device, verbose=False)


@functools.lru_cache(maxsize=1)
def _chgnet_energy_forces_class() -> type:
    from chgnet.model.dynamics import CHGNetCalculator

    class ChgnetEnergyForces(CHGNetCalculator):
        """CHGNet asked for energy and forces only: what a fixed-cell step needs.

        CHGNet's calculator predicts energy, forces, stress and magnetic moments on every call, and
        atomate2's trajectory observer asks for each property a calculator implements; without
        stress the model skips its cell derivative.
        """

        implemented_properties = ["energy", "free_energy", "forces"]

        def calculate(self, atoms=None, properties=None, system_changes=None, task="ef") -> None:
            super().calculate(atoms, properties, system_changes, task="ef")

    return ChgnetEnergyForces


def make_calculator(preset: Preset, atoms: Atoms | None = None, stress: bool = True) -> tuple[Calculator, dict[str, Any]]:
    """Build the ASE calculator of a preset for a structure.

    For GPAW with a dipole correction the slab must be non-periodic along z, so this sets
    ``atoms.pbc[2] = False`` in that case.

    Parameters
    ----------
    preset
        The resolved preset.
    atoms
        The structure (decides the dipole correction).
    stress
        Whether the stress is needed (cell relaxations); CHGNet without it computes energy and forces
        only, the same numbers at a fraction of the cost.

    Returns
    -------
    tuple
        The calculator and the keyword arguments it was built with.
    """
    params = calculator_parameters(preset, atoms)
    if preset.calculator == "analytic":
        from spillover.analytic import PairMorse

        return PairMorse(**params), params
    if preset.calculator == "chgnet":
        from chgnet.model.dynamics import CHGNetCalculator

        model = _chgnet_model(params["model_name"], params["use_device"])
        extra = {k: v for k, v in params.items() if k not in ("model_name", "use_device")}
        cls = CHGNetCalculator if stress else _chgnet_energy_forces_class()
        return cls(model=model, use_device=params["use_device"], **extra), params
    if atoms is not None and "dipolelayer" in params.get("poissonsolver", {}):
        atoms.pbc = [True, True, False]
    return gpaw_calculator(params), params


def gpaw_calculator(params: dict[str, Any]) -> Calculator:
    """GPAW built with exactly these keyword arguments: in MPI ranks when ``SPILLOVER_MPI_COMMAND`` is set.

    Used by :func:`make_calculator` and by the SCF retries of :mod:`spillover.jobs.scf`, which
    rebuild GPAW with changed parameters.
    """
    mpi_command = os.environ.get(MPI_COMMAND_ENV)
    if mpi_command:
        return gpaw_in_mpi_ranks(params, mpi_command)
    from gpaw import GPAW

    return GPAW(**params)


def gpaw_in_mpi_ranks(params: dict[str, Any], mpi_command: str) -> Calculator:
    """GPAW running in MPI ranks behind ASE's subprocess calculator.

    The ranks start as ``<mpi_command> python -m gpaw python -m ase.calculators.subprocesscalculator``
    (``mpi_command`` is e.g. ``srun --ntasks=64``, exported by a queue job as
    ``SPILLOVER_MPI_COMMAND``). The optimizer and the database writes stay in the serial job; GPAW's
    ``parallel`` keyword splits k-points, domains and bands over the ranks. GPAW must be built with
    MPI (``mpic++`` on ``PATH`` when it compiles). :func:`close_calculator` ends the ranks; they are
    also ended when the Python process exits.
    """
    import atexit
    import shlex
    import sys

    from ase.calculators.subprocesscalculator import MPICommand, NamedPackedCalculator, PythonSubProcessCalculator

    argv = [*shlex.split(mpi_command), sys.executable, "-m", "gpaw", "python",
            "-m", "ase.calculators.subprocesscalculator", "standard"]
    calc = PythonSubProcessCalculator(NamedPackedCalculator("gpaw", params), MPICommand(argv)).__enter__()
    atexit.register(close_calculator, calc)
    return calc


def local_mpi_environment(ranks: int, field: str = "--mpi") -> dict[str, str]:
    """The environment under which GPAW of this process runs in ``ranks`` MPI ranks on this machine.

    The same path as a queue job's (:data:`MPI_COMMAND_ENV`), with ``mpiexec -n N``, and
    :data:`MPI_LOCAL_RANKS_ENV`. Open MPI also gets ``--oversubscribe`` (it counts physical cores,
    and a 2-vCPU machine may have one), ranks that yield the core while they wait (the ranks of an
    idle NEB image must not spin against the busy ones) and, run as root (containers), the two
    variables it asks for; every rank has one OpenMP thread.

    Raises
    ------
    InputError
        No ``mpiexec`` on ``PATH``.
    """
    import shutil
    import subprocess

    if shutil.which("mpiexec") is None:
        raise InputError(field, "no mpiexec on PATH", "install MPI (Debian: openmpi-bin), or 1 rank")
    command = f"mpiexec -n {ranks}"
    env = {"OMP_NUM_THREADS": "1", MPI_LOCAL_RANKS_ENV: str(ranks)}
    version = subprocess.run(["mpiexec", "--version"], capture_output=True, text=True, timeout=60).stdout.lower()
    if "open mpi" in version or "open-mpi" in version or "openrte" in version:
        command += " --oversubscribe"
        env["OMPI_MCA_mpi_yield_when_idle"] = "1"
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    return {MPI_COMMAND_ENV: command, **env}


def close_calculator(calc: Calculator) -> None:
    """End the MPI ranks behind a calculator of :func:`gpaw_in_mpi_ranks`; nothing for any other.

    Safe to call more than once.
    """
    if getattr(calc, "protocol", None) is not None and hasattr(calc, "mpi_command"):
        calc.__exit__(None, None, None)


def get_calculator(preset: str, atoms: Atoms | None = None, **overrides: Any) -> Calculator:
    """Shortcut: the calculator of preset ``preset`` with top-level ``overrides`` merged in.

    Examples
    --------
    >>> calc = get_calculator("gpaw-test", gpaw={"mode": {"ecut": 400}})  # doctest: +SKIP
    """
    return make_calculator(load_preset(preset, overrides or None), atoms)[0]
