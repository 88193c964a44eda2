"""The command line follows the conventions of the field: --version, -h, defaults in every --help, empty filters."""

from __future__ import annotations

import re
from importlib.metadata import version

import pytest

from conftest import TINY_STUDY, run_cli, spillover


def _commands():
    """(path, click command) of every leaf command."""
    from typer.main import get_command

    from spillover.cli import app

    def walk(command, path):
        subs = getattr(command, "commands", None)
        if subs:
            for name, sub in subs.items():
                yield from walk(sub, [*path, name])
        else:
            yield path, command

    yield from walk(get_command(app), [])


def test_version_and_short_help():
    code, out, _ = run_cli("--version")
    assert code == 0 and out.strip() == f"spillover {version('spillover')}"
    code, out, _ = run_cli("-h")
    assert code == 0 and "Usage: spillover" in out and "relax" in out
    code, out, _ = run_cli("table", "oxidation", "-h")
    assert code == 0 and "-T, --temperature" in out and "-p, --pressure" in out


@pytest.mark.parametrize("path", [p for p, _ in _commands()], ids=lambda p: " ".join(p))
def test_every_help_shows_its_defaults(path):
    import click

    command = dict((tuple(p), c) for p, c in _commands())[tuple(path)]
    code, out, err = run_cli(*path, "--help")
    assert code == 0, err
    text = "".join(out.split())  # no whitespace: help lines wrap, also after hyphens
    ctx = click.Context(command, info_name=path[-1])
    for param in command.params:
        if param.param_type_name != "option" or param.default in (None, False) or param.name == "help":
            continue
        flags, help_text = param.get_help_record(ctx)
        assert "[default: " in help_text, (param.name, param.default)
        assert "".join(help_text.split()) in text, (param.name, help_text, out)
    # a "[default: ...]" written in a help text itself is printed, not taken for markup
    for param in command.params:
        written = re.search(r"\[default: [^\]]+\]", getattr(param, "help", None) or "")
        if written:
            assert "".join(written.group(0).split()) in text, (param.name, out)


def test_a_filter_matching_nothing_is_an_empty_table(tmp_path):
    db = tmp_path / "db"
    run = spillover("run", str(TINY_STUDY), "--preset", "analytic", "--db", str(db), "--scratch",
                    str(tmp_path / "s"), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    result = spillover("table", "lattice-match", "--db", str(db), "--preset", "gpaw-production")
    assert result.returncode == 0, result.stderr
    assert re.match(r"^\|\s*system\s*\|", result.stdout) and "rutile-110" not in result.stdout
    assert result.stderr.strip() == "no stored rows match --preset gpaw-production"
    # nothing of a kind stored at all, no filter: still the one-line error that says what to run
    missing = spillover("table", "barriers", "--db", str(db))
    assert missing.returncode == 2 and "spillover run" in missing.stderr


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"relax": {"fmaxx": 0.1}}, "preset.relax.fmaxx: unknown preset key (did you mean 'fmax'?)"),
    ({"chgnet": {"model_nam": "0.3.0"}}, "preset.chgnet.model_nam: unknown CHGNet key (did you mean 'model_name'?)"),
    ({"relx": {"fmax": 0.1}}, "preset.relx: unknown preset key (did you mean 'relax'?)"),
])
def test_an_unknown_key_is_named_with_the_closest_allowed_one(tmp_path, overrides, expected):
    import yaml

    data = yaml.safe_load(TINY_STUDY.read_text())
    data["preset_overrides"] = overrides
    study = tmp_path / "study.yaml"
    study.write_text(yaml.safe_dump(data))
    code, out, err = run_cli("run", str(study), "--dry-run", "--db", str(tmp_path / "db"))
    assert code == 2 and err.startswith(f"spillover: error: {expected}"), err
    assert not (tmp_path / "db").exists()


@pytest.mark.parametrize("text", ["2,2", "2x2", "2,2,1"])
def test_repeat_as_ase_writes_it(text):
    code, out, err = run_cli("build", "slab", "rutile-110", "--repeat", text, "--json")
    assert code == 0, err
    assert '"natoms": 72' in out  # 18 atoms x 2 x 2
