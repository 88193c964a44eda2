"""Presets load by name from the preset directories only; user presets never shadow built-ins unannounced."""

from __future__ import annotations

import json

import pytest

from spillover.calculators import load_preset, preset_listing
from spillover.errors import InputError


@pytest.fixture
def user_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SPILLOVER_PRESET_PATH", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("name", ["../../x/evil", "/etc/passwd", "a/b", "..", "screen.yaml/..", "", "x" * 65])
def test_a_preset_name_is_never_a_path(name, tmp_path):
    (tmp_path / "evil.yaml").write_text("calculator: chgnet\n")
    with pytest.raises(InputError) as err:
        load_preset(name)
    assert err.value.field == "preset" and "not a preset name" in str(err.value)


def test_preset_path_from_the_environment(tmp_path, monkeypatch):
    (tmp_path / "site.yaml").write_text("parent: analytic\ndescription: site\n")
    for value in (str(tmp_path), json.dumps([str(tmp_path)]), f"{tmp_path}:"):
        monkeypatch.setenv("SPILLOVER_PRESET_PATH", value)
        assert load_preset("site").description == "site"
    for value, fragment in (("/no/such/dir", "not a directory"), ("[1, 2]", "list of directory paths"),
                            ("[not json", "JSON")):
        monkeypatch.setenv("SPILLOVER_PRESET_PATH", value)
        with pytest.raises(InputError, match=fragment) as err:
            load_preset("screen")
        assert err.value.field == "SPILLOVER_PRESET_PATH"


def test_a_broken_user_preset_is_listed_with_its_reason(user_dir):
    (user_dir / "broken.yaml").write_text("parent: [\n")
    (user_dir / "typo.yaml").write_text("parent: analytic\nrelx: {fmax: 0.1}\n")
    rows = {r["name"]: r for r in preset_listing()}
    assert "not valid YAML" in rows["broken"]["problem"] and "relx" in rows["typo"]["problem"]
    assert rows["screen"]["problem"] == "" and rows["screen"]["source"] == "built-in"


def test_a_user_preset_with_a_builtin_name_must_say_it_replaces_it(user_dir):
    (user_dir / "screen.yaml").write_text("parent: screen\ndescription: my screen\nrelax: {fmax: 0.02}\n")
    with pytest.raises(InputError, match="replaces: screen"):
        load_preset("screen")
    assert "replaces: screen" in {r["name"]: r for r in preset_listing()}["screen"]["problem"]
    (user_dir / "screen.yaml").write_text("parent: screen\nreplaces: screen\ndescription: my screen\nrelax: {fmax: 0.02}\n")
    mine = load_preset("screen")
    assert mine.relax.fmax == 0.02 and mine.calculator == "chgnet" and mine.replaces == "screen"
    assert "replaces the built-in screen" in {r["name"]: r for r in preset_listing()}["screen"]["source"]
