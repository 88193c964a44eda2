"""The study file: the main study validates; every malformed one names its field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from spillover.errors import InputError
from spillover.study import build_flow, load_study, preflight

ROOT = Path(__file__).resolve().parents[1]
MAIN = ROOT / "workflows" / "ru_tio2_spillover.yaml"


def test_main_study_validates_and_builds_a_flow():
    study = load_study(MAIN)
    assert study.bulks == ["rutile", "anatase", "RuO2", "Ru"]
    assert [s.label for s in study.interfaces] == [
        "rutile-110/Ru-0001", "anatase-101/Ru-0001", "rutile-110/RuO2-110", "rutile-110/RuO2-110/Ru-0001",
    ]
    flow = build_flow(study, "screen", run_id="abc")
    names = [job.name for job in flow.jobs]
    assert names[:4] == ["relax bulk rutile", "relax bulk anatase", "relax bulk RuO2", "relax bulk Ru"]
    assert len(names) == 8
    assert all(job.metadata["run_id"] == "abc" and job.metadata["preset"] == "screen" for job in flow.jobs)
    # interface jobs take their lattices from the relaxation jobs, not from the CIFs
    ruo2_job = flow.jobs[6]
    refs = {r.uuid for r in ruo2_job.input_references}
    assert refs == {flow.jobs[0].uuid, flow.jobs[2].uuid}


def _write(tmp_path: Path, data) -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def _base() -> dict:
    return yaml.safe_load(MAIN.read_text())


@pytest.mark.parametrize(
    ("change", "field", "fragment"),
    [
        (lambda d: d.update(bulks=["rutile", "brookite"]), "bulks[1]", "'anatase'"),
        (lambda d: d["interfaces"][0].update(support="rutile-111"), "interfaces[0].support", "'anatase-101'"),
        (lambda d: d["interfaces"][1].update(films=["RuO2-110"]), "interfaces[1]", "allowed"),
        (lambda d: d.update(bulks=["rutile", "Ru"]), "study", "needs bulk"),
        (lambda d: d["interface_model"].update(vacuum=-1.0), "interface_model.vacuum", "greater than or equal to 0"),
        (lambda d: d["interface_model"].update(support_layers=0), "interface_model.support_layers", "greater than or equal to 1"),
        (lambda d: d.update(analyses=["everything"]), "analyses[0]", "'lattice-match'"),
        (lambda d: d.update(colour="blue"), "colour", "unknown key"),
        (lambda d: d.pop("name"), "name", "missing"),
    ],
)
def test_bad_study_names_field(tmp_path, change, field, fragment):
    data = _base()
    change(data)
    with pytest.raises(InputError) as err:
        load_study(_write(tmp_path, data))
    assert err.value.field == field
    assert fragment in str(err.value)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_study(tmp_path / "nope.yaml")
    with pytest.raises(InputError, match="not valid YAML at line"):
        load_study(_write(tmp_path, "name: x\nbulks: [rutile\n"))
    with pytest.raises(InputError, match="mapping"):
        load_study(_write(tmp_path, "- just\n- a list\n"))


def test_preflight_catches_unknown_preset_and_impossible_match():
    study = load_study(MAIN)
    with pytest.raises(InputError) as err:
        preflight(study, "dft-magic")
    assert err.value.field == "preset"
    tight = study.model_copy(update={"lattice_match": study.lattice_match.model_copy(update={"max_strain_percent": 0.01})})
    with pytest.raises(InputError) as err:
        preflight(tight, "screen")
    assert err.value.field == "max_strain_percent"
