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
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from spillover.errors import InputError
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


class RelaxSettings(BaseModel):
    """How positions (and bulk cells) are relaxed with this preset."""

    model_config = ConfigDict(extra="forbid")

    optimizer: Literal[OPTIMIZERS] = Field("FIRE", description="ASE optimizer name.")  # type: ignore[valid-type]
    fmax: float = Field(0.05, gt=0, description="Force convergence threshold (eV/Å).")
    steps: int = Field(300, ge=0, description="Maximum optimizer steps.")
    bulk_cell: bool = Field(
        True, description="Relax the cell of bulk models (only at a converged cutoff, see docs/science.md, Pitfalls)."
    )


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

    n_images: int = Field(5, ge=1, description="Intermediate images between the two endpoints.")
    spring_constant: float = Field(0.1, gt=0, description="Spring constant k between images (eV/Å²).")
    fmax: float = Field(0.05, gt=0, description="Force threshold on every image, climbing image included (eV/Å).")
    steps: int = Field(300, ge=0, description="Maximum optimizer steps of the band.")
    optimizer: Literal[NEB_OPTIMIZERS] = Field("FIRE", description="ASE optimizer of the band.")  # type: ignore[valid-type]
    climb: bool = Field(True, description="Climbing image on the highest image (Henkelman 2000).")
    method: Literal[NEB_METHODS] = Field(  # type: ignore[valid-type]
        "improvedtangent", description="ase.mep.NEB tangent/spring method; improvedtangent is the standard."
    )


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
    hubbard_u: dict[str, float] | None = Field(
        None, description="Hubbard U (eV) on the d shell per element, e.g. {Ti: 4.0}; GPAW only."
    )
    dispersion: Literal["d3"] | None = Field(None, description="Dispersion correction; GPAW only.")


def preset_dirs() -> list[Path]:
    """Directories searched for presets, user directories first."""
    return [*get_settings().preset_path, BUILTIN_PRESET_DIR]


def available_presets() -> list[str]:
    """Names of every preset on the search path."""
    names = {p.stem for d in preset_dirs() if d.is_dir() for p in d.glob("*.yaml")}
    return sorted(names)


def _deep_merge(base: dict, update: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _read_raw(name: str) -> dict:
    for directory in preset_dirs():
        path = directory / f"{name}.yaml"
        if path.is_file():
            try:
                data = yaml.safe_load(path.read_text()) or {}
            except yaml.YAMLError as exc:
                raise InputError("preset", f"{path} is not valid YAML ({exc.__class__.__name__})") from None
            if not isinstance(data, dict):
                raise InputError("preset", f"{path} must hold a mapping")
            return data
    raise InputError("preset", f"unknown preset {name!r}", ", ".join(available_presets()))


def _raw_chain(name: str, seen: tuple[str, ...] = ()) -> dict:
    if name in seen:
        raise InputError("preset.parent", f"inheritance cycle {' -> '.join((*seen, name))}")
    raw = _read_raw(name)
    parent = raw.get("parent")
    if parent is None:
        return {**raw, "name": name}
    merged = _deep_merge(_raw_chain(str(parent), (*seen, name)), raw)
    merged["name"] = name
    merged["parent"] = parent
    return merged


def _gpaw_allowed_keys() -> set[str]:
    from gpaw.dft import Parameters

    return set(inspect.signature(Parameters.__init__).parameters) - {"self"} | set(GPAW_EXTRA_KEYS)


def _validate_calculator_keys(preset: Preset) -> None:
    if preset.calculator == "analytic":
        unknown = set(preset.analytic) - {"cutoff", "pairs"}
        if unknown:
            raise InputError(f"preset.analytic.{sorted(unknown)[0]}", "unknown key", "cutoff, pairs")
        for pair, p in (preset.analytic.get("pairs") or {}).items():
            if not isinstance(p, dict) or set(p) != {"D", "alpha", "r0"}:
                raise InputError(f"preset.analytic.pairs.{pair}", "needs exactly D, alpha and r0")
    elif preset.calculator == "chgnet":
        unknown = set(preset.chgnet) - set(CHGNET_KEYS)
        if unknown:
            raise InputError(f"preset.chgnet.{sorted(unknown)[0]}", "unknown CHGNet key", ", ".join(CHGNET_KEYS))
        if preset.hubbard_u or preset.dispersion:
            raise InputError("preset.hubbard_u/dispersion", "only available with calculator gpaw")
    else:
        allowed = _gpaw_allowed_keys()
        unknown = set(preset.gpaw) - allowed
        if unknown:
            raise InputError(f"preset.gpaw.{sorted(unknown)[0]}", "unknown GPAW parameter", ", ".join(sorted(allowed)))
        if "mode" not in preset.gpaw:
            raise InputError("preset.gpaw.mode", "missing", "e.g. {name: pw, ecut: 500}")


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
        allowed = None
        if err["type"] == "extra_forbidden":
            allowed = ", ".join(Preset.model_fields) if len(err["loc"]) == 1 else None
            raise InputError(f"preset.{where}", "unknown preset key", allowed) from None
        raise InputError(f"preset.{where}", err["msg"]) from None
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
        The structure to compute; decides the dipole correction of asymmetric slabs.

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
    mpi_command = os.environ.get(MPI_COMMAND_ENV)
    if mpi_command:
        return gpaw_in_mpi_ranks(params, mpi_command), params
    from gpaw import GPAW

    return GPAW(**params), params


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
