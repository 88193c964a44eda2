"""The study file: the main study validates; every malformed one names its field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from spillover.analyses import ANALYSES
from spillover.errors import InputError
from spillover.study import Study, load_study

ROOT = Path(__file__).resolve().parents[1]
MAIN = ROOT / "workflows" / "ru_tio2_spillover.yaml"


def test_main_study_has_the_like_for_like_thick_systems():
    study = load_study(MAIN)
    assert [s.label for s in study.systems] == [
        "rutile-110/Ru-0001", "rutile-110/RuO2-110/Ru-0001", "rutile-110/RuO2-110",
        "anatase-101/Ru-0001", "anatase-101/RuO2-110/Ru-0001", "anatase-101/RuO2-110",
    ]
    assert study.cell.support_layers >= 7 and study.cell.fixed_layers == 2
    assert study.cell.support_layers - study.cell.fixed_layers >= 5
    assert study.cell.film_layers["Ru-0001"] >= 4 and study.cell.vacuum >= 7.5


def test_every_registered_analysis_is_a_study_section():
    for analysis in ANALYSES.values():
        assert Study.model_fields[analysis.section].annotation is analysis.settings


def _write(tmp_path: Path, data) -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def _base() -> dict:
    return yaml.safe_load(MAIN.read_text())


@pytest.mark.parametrize(
    ("change", "field", "fragment"),
    [
        (lambda d: d["systems"][0].update(support="rutile-111"), "systems[0].support", "'anatase-101'"),
        (lambda d: d["systems"][1].update(films=["Ru-0001", "RuO2-110"]), "systems[1]", "allowed"),
        (lambda d: d["systems"].append(dict(d["systems"][0])), "study", "listed twice"),
        (lambda d: d["cell"].update(vacuum=-1.0), "cell.vacuum", "greater than 0"),
        (lambda d: d["cell"].update(support_layers=1), "cell.support_layers", "greater than or equal to 2"),
        (lambda d: d["cell"].update(fixed_layers=7), "cell", "must be below support_layers"),
        (lambda d: d["oxidation"].update(systems=["rutile-110/RuO2-110"]), "oxidation.systems", "no outer Ru-0001"),
        (lambda d: d.update(analyses=["everything"]), "analyses[0]", "'lattice-match'"),
        (lambda d: d.update(colour="blue"), "colour", "unknown key"),
        (lambda d: d.update(bulks=["rutile"]), "bulks", "unknown key"),
        (lambda d: d.update(preset="../../x/evil"), "preset", "pattern"),
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
        load_study(_write(tmp_path, "name: x\nsystems: [rutile\n"))
    with pytest.raises(InputError, match="mapping"):
        load_study(_write(tmp_path, "- just\n- a list\n"))
