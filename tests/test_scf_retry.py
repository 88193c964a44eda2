"""GPAW SCF non-convergence is retried with bounded, recorded changes: the ladder itself, a 2-atom Ru
cell at gpaw-test whose first SCF runs out of iterations, every retry exhausted, and a relaxation
whose SCF fails mid-run, is killed and resumes with the parameters that converged."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from pymatgen.io.ase import AseAtomsAdaptor

from spillover.analytic import PairMorse
from spillover.build.bulk import load_bulk
from spillover.calculators import ScfSettings, calculator_parameters, load_preset
from spillover.jobs import relax as relax_module
from spillover.jobs.relax import RelaxMaker, StaticMaker
from spillover.jobs.scf import ScfConvergenceFailed, ScfLadder
from spillover.schemas import content_hash

gpaw = pytest.importorskip("gpaw")

# A metal cell small enough for seconds per SCF: 12 SCF iterations converge it (GPAW 26, serial).
TINY = {"mode": {"ecut": 250}, "kpts": [1, 1, 1]}


def _ru2():
    return bulk("Ru", "hcp", a=2.706, c=4.282)


class _Bands:
    def get_number_of_bands(self) -> int:
        return 24


def test_ladder_tries_one_bounded_change_at_a_time():
    params = calculator_parameters(load_preset("gpaw-test"))
    ladder = ScfLadder(ScfSettings())
    steps = []
    while (found := ladder.next_change(params, _Bands())) is not None:
        change, params = found
        steps.append((change, params))
    assert [c for c, _ in steps] == [
        "mixer Mixer(beta=0.05, nmaxold=5, weight=50)", "mixer Mixer(beta=0.02, nmaxold=5, weight=50)",
        "nbands 24 -> 29", "occupations width 0.1 -> 0.2 eV", "maxiter 333 -> 666",
    ]
    # each change comes on top of the ones before it, as GPAW's own parameters
    assert steps[0][1]["mixer"] == gpaw.Mixer(beta=0.05, nmaxold=5, weight=50.0)
    final = steps[-1][1]
    assert final["mixer"]["beta"] == 0.02 and final["nbands"] == 29 and final["maxiter"] == 666
    assert final["occupations"] == {"name": "fermi-dirac", "width": 0.2}

    # caps and what is already set are respected; spin-polarised cells mix the difference (MixerDif)
    capped = {**calculator_parameters(load_preset("gpaw-production")), "maxiter": 700, "nbands": 40,
              "occupations": {"name": "fermi-dirac", "width": 0.2}}
    changes = []
    ladder = ScfLadder(ScfSettings(max_width_eV=0.2, max_maxiter=1000))
    while (found := ladder.next_change(capped)) is not None:
        changes.append(found[0])
        capped = found[1]
    assert changes == ["mixer MixerDif(beta=0.05, nmaxold=5, weight=50)",
                       "mixer MixerDif(beta=0.02, nmaxold=5, weight=50)", "nbands 40 -> 48", "maxiter 700 -> 1000"]
    assert capped["mixer"]["method"] == "difference"


@pytest.mark.gpaw
def test_first_attempt_fails_and_more_iterations_converge(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    atoms = _ru2()
    overrides = {"gpaw": {**TINY, "maxiter": 7}, "scf": {"ladder": ["maxiter"]}}
    doc = StaticMaker(preset="gpaw-test", preset_overrides=overrides).compute(AseAtomsAdaptor.get_structure(atoms))

    first, second = doc.scf_retries
    assert (first.change, first.converged, first.error) == (None, False, "KohnShamConvergenceError")
    assert (second.change, second.converged, second.error) == ("maxiter 7 -> 14", True, None)
    assert first.parameters["maxiter"] == 7 and second.parameters["maxiter"] == 14
    # the stored parameters and the content hash are those of the attempt that produced the number
    assert doc.parameters == second.parameters
    task = {"steps": 0, "fmax": 0.05, "relax_cell": False, "optimizer": "BFGS"}
    requested = calculator_parameters(load_preset("gpaw-test", overrides))
    assert doc.content_hash == content_hash(atoms, doc.parameters, task) != content_hash(atoms, requested, task)
    assert (tmp_path / "gpaw.txt").is_file() and (tmp_path / second.parameters["txt"]).is_file()

    direct = _ru2()
    direct.calc = gpaw.GPAW(**{**doc.parameters, "txt": None})
    assert direct.get_potential_energy() == pytest.approx(doc.energy_eV, abs=1e-5)
    assert doc.force_calls == 1 and doc.runs == 1


@pytest.mark.gpaw
@pytest.mark.parametrize(
    ("scf", "changes", "reason"),
    [
        ({"max_attempts": 3}, ["mixer Mixer(beta=0.05", "mixer Mixer(beta=0.02"], "scf.max_attempts (3) reached"),
        ({"ladder": ["smearing", "maxiter"], "max_maxiter": 3}, ["occupations width 0.1 -> 0.2 eV", "maxiter 2 -> 3"],
         "no change of scf.ladder ['smearing', 'maxiter'] is left"),
    ],
)
def test_every_retry_exhausted_fails_with_one_clear_message(tmp_path, monkeypatch, scf, changes, reason):
    monkeypatch.chdir(tmp_path)
    maker = StaticMaker(preset="gpaw-test", preset_overrides={"gpaw": {**TINY, "maxiter": 2}, "scf": scf})
    with pytest.raises(ScfConvergenceFailed) as err:
        maker.compute(AseAtomsAdaptor.get_structure(_ru2()), label="Ru2")
    message = str(err.value)
    assert "\n" not in message and message.startswith("Ru2 (preset gpaw-test): GPAW SCF did not converge")
    assert "(1) parameters in use: KohnShamConvergenceError" in message and message.endswith(reason)
    for k, change in enumerate(changes, start=2):
        assert f"({k}) {change}" in message
    assert [a["converged"] for a in err.value.attempts] == [False, False, False]


class _FakeGpaw(PairMorse):
    """Analytic forces behind GPAW's parameters: the SCF 'fails' off the input geometry below maxiter 10."""

    start: np.ndarray
    calls = 0
    die_after: int | None = None

    def __init__(self, params: dict) -> None:
        super().__init__(**{k: v for k, v in load_preset("analytic").analytic.items()})
        self.maxiter = params.get("maxiter", 333)

    def calculate(self, atoms=None, properties=("energy",), system_changes=None):
        type(self).calls += 1
        if self.die_after is not None and type(self).calls > self.die_after:
            raise KeyboardInterrupt  # stands in for SIGKILL
        if self.maxiter < 10 and not np.allclose(atoms.positions, self.start):
            raise gpaw.KohnShamConvergenceError
        super().calculate(atoms, properties, system_changes or ["positions"])

    def get_number_of_bands(self) -> int:
        return 10


def test_relaxation_keeps_the_parameters_that_converged_through_a_kill(tmp_path, monkeypatch):
    atoms = load_bulk("rutile")
    atoms.rattle(0.05, seed=1)
    _FakeGpaw.start = atoms.positions.copy()
    monkeypatch.setattr(relax_module, "make_calculator", lambda preset, a, stress: (
        _FakeGpaw(p := calculator_parameters(preset, a)), p))
    monkeypatch.setattr(relax_module, "gpaw_calculator", _FakeGpaw)
    maker = RelaxMaker(preset="gpaw-test", checkpoint_dir=str(tmp_path),
                       preset_overrides={"gpaw": {"maxiter": 7}, "scf": {"ladder": ["maxiter"]}})
    structure = AseAtomsAdaptor.get_structure(atoms)
    ref = maker.compute(structure)
    retries = [(a.change, a.converged, a.step) for a in ref.scf_retries]
    assert retries == [(None, False, 1), ("maxiter 7 -> 14", True, 1)]
    assert ref.parameters["maxiter"] == 14 and ref.n_ionic_steps > 5

    _FakeGpaw.calls, _FakeGpaw.die_after = 0, 6
    with pytest.raises(KeyboardInterrupt):
        maker.compute(structure)
    _FakeGpaw.die_after = None
    doc = maker.compute(structure)  # resumes with maxiter 14: no new failure, the record kept
    assert doc.runs == 2 and doc.run_history[1].start_step > 1
    assert [(a.change, a.converged) for a in doc.scf_retries] == [(None, False), ("maxiter 7 -> 14", True)]
    assert doc.parameters == ref.parameters and doc.content_hash == ref.content_hash
    assert doc.energy_eV == pytest.approx(ref.energy_eV, abs=1e-9)


def test_seeded_relaxation_stores_the_hash_of_the_parameters_that_converged(tmp_path, monkeypatch):
    atoms = load_bulk("rutile")
    atoms.rattle(0.05, seed=2)
    _FakeGpaw.start, _FakeGpaw.calls, _FakeGpaw.die_after = atoms.positions.copy(), 0, None
    monkeypatch.setattr(relax_module, "make_calculator", lambda preset, a, stress: (
        _FakeGpaw(p := calculator_parameters(preset, a)), p))
    monkeypatch.setattr(relax_module, "gpaw_calculator", _FakeGpaw)
    maker = RelaxMaker(preset="gpaw-test", checkpoint_dir=str(tmp_path), seeds=2,
                       preset_overrides={"gpaw": {"maxiter": 7}, "scf": {"ladder": ["maxiter"]}})
    structure = AseAtomsAdaptor.get_structure(atoms)
    doc = maker.compute(structure)
    assert len(doc.seeded_starts) == 3 and doc.converged
    assert [(a.change, a.converged) for a in doc.scf_retries] == [(None, False), ("maxiter 7 -> 14", True)]
    assert doc.parameters["maxiter"] == 14
    assert doc.content_hash == maker.content_hash(structure, doc.parameters) != maker.content_hash(structure)
