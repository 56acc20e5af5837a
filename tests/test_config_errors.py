"""Configs written by people: every problem is reported with its path, all at once, exit 1, no traceback."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import tiny_config_dict

from ser_framework.config import load_config, read_yaml
from ser_framework.errors import ConfigError


@pytest.fixture
def good_yaml(tmp_path):
    (tmp_path / "data").mkdir()
    return yaml.safe_dump(tiny_config_dict(tmp_path / "data", tmp_path / "runs"), sort_keys=False)


def _write(tmp_path, text, name="exp.yaml"):
    path = tmp_path / name
    path.write_text(text) if isinstance(text, str) else path.write_bytes(text)
    return path


def _problems(path, overrides=()):
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides=overrides)
    return dict(info.value.problems), str(info.value)


def _cli(*args):
    from ser_frontends.cli.main import cli

    return CliRunner().invoke(cli, list(args))


def test_good_config_is_valid(tmp_path, good_yaml):
    config, _ = load_config(_write(tmp_path, good_yaml))
    assert config["classifier"]["name"] == "logistic_regression"


def test_malformed_yaml_names_line_and_column(tmp_path, good_yaml):
    path = _write(tmp_path, good_yaml + "evaluation: {protocol: [holdout\n")
    problems, text = _problems(path)
    assert "not valid YAML (line" in text and "column" in text


def test_python_tags_are_refused_and_never_run(tmp_path, good_yaml):
    marker = tmp_path / "pwned"
    path = _write(tmp_path, good_yaml + f"name: !!python/object/apply:os.system ['touch {marker}']\n")
    _, text = _problems(path)
    assert "the tag !!python/object/apply:os.system is not allowed" in text
    assert not marker.exists()
    for tag in ("!!python/name:os.system", "!!python/object:collections.OrderedDict {}"):
        _, text = _problems(_write(tmp_path, good_yaml + f"name: {tag}\n"))
        assert "is not allowed" in text


def test_yaml_scientific_notation_strings_become_numbers(tmp_path, good_yaml):
    raw = yaml.safe_load(good_yaml)
    raw["classifier"] = {"name": "logistic_regression", "params": {"C": "1e-3", "max_iter": "1e3"}}
    text = yaml.safe_dump(raw).replace("'1e-3'", "1e-3").replace("'1e3'", "1e3")
    assert yaml.safe_load(text)["classifier"]["params"]["max_iter"] == "1e3"  # what YAML does
    config, _ = load_config(_write(tmp_path, text))
    assert config["classifier"]["params"] == {"C": 0.001, "max_iter": 1000, "class_weight": "balanced"}


def test_all_problems_reported_at_once_with_paths(tmp_path, good_yaml):
    raw = yaml.safe_load(good_yaml)
    raw["seed"] = "abc"                                              # wrong type
    raw["colour"] = "blue"                                           # unknown top-level key
    raw["classifier"] = {"name": "svmm"}                             # unknown plugin
    raw["features"] = [{"name": "mfcc", "params": {"n_mfcc": "many", "window": 3}}]  # bad value + unknown param
    raw["evaluation"]["n_splits"] = 1.5                              # not an integer
    raw["extraction"]["cache"] = "yes please"                        # not a bool
    raw["plugins_dir"] = 5                                           # wrong type, must not crash
    problems, text = _problems(_write(tmp_path, yaml.safe_dump(raw)))
    assert "seed" in problems and "expected an integer" in problems["seed"]
    assert "colour" in problems and "unknown key" in problems["colour"]
    assert "classifier.name" in problems and "logistic_regression" in problems["classifier.name"]
    assert "unknown parameter" in problems["features.0.params.window"]
    assert "features.0.params.n_mfcc" in problems
    assert "evaluation.n_splits" in problems
    assert "extraction.cache" in problems
    assert "plugins_dir" in problems
    assert text.startswith("invalid config") and f"{len(problems)} problems" in text


def test_duplicate_keys_are_problems(tmp_path, good_yaml):
    path = _write(tmp_path, good_yaml + "seed: 1\nseed: 2\n")
    problems, _ = _problems(path)
    assert "duplicate key" in problems["seed"]


def test_duplicate_keys_reported_with_other_problems(tmp_path, good_yaml):
    path = _write(tmp_path, good_yaml + "seed: 1\nseed: 2\nbogus: 1\n")
    problems, _ = _problems(path)
    assert "duplicate key" in problems["seed"] and "bogus" in problems


@pytest.mark.parametrize("text, fragment", [
    ("- a\n- b\n", "the top level must be a mapping"),
    ("just a string\n", "the top level must be a mapping"),
    ("", "is required"),
    (b"\xff\xfe\x00garbage\x81", "not a text file"),
    ("a: b\n---\nc: d\n", "not valid YAML"),
])
def test_not_a_config(tmp_path, text, fragment):
    _, message = _problems(_write(tmp_path, text))
    assert fragment in message


def test_missing_and_folder(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        read_yaml(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="is a folder"):
        read_yaml(tmp_path)


def test_overrides_problems_reported_together(tmp_path, good_yaml):
    path = _write(tmp_path, good_yaml)
    problems, _ = _problems(path, ["classifier.params.C=abc", "no.such.key=1", "seed"])
    assert "classifier.params.C" in problems
    assert "no" in problems
    assert "-s seed" in problems


@pytest.mark.parametrize("command", ["validate", "train"])
def test_cli_exit_1_without_traceback(tmp_path, good_yaml, command):
    raw = yaml.safe_load(good_yaml)
    raw["seed"] = -1
    raw["classifier"] = {"name": "logistic_regression", "params": {"C": "lots"}}
    path = _write(tmp_path, yaml.safe_dump(raw))
    result = _cli(command, str(path))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert "seed: must be >= 0" in result.stderr
    assert "classifier.params.C: expected a number" in result.stderr
    assert not (tmp_path / "runs").exists()  # nothing written


@pytest.mark.parametrize("text", ["key: [unclosed\n", "x: !!python/name:os.system\n", "- 1\n"])
def test_cli_bad_yaml(tmp_path, text):
    result = _cli("validate", str(_write(tmp_path, text)))
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: invalid config")
    assert "Traceback" not in result.stderr


def test_cli_missing_config(tmp_path):
    result = _cli("train", str(tmp_path / "missing.yaml"))
    assert result.exit_code == 1
    assert "config file not found" in result.stderr


SHIPPED_CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED_CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_validates(path):
    """The configs the README tells people to run (the default model's members among them) are valid here."""
    config, registry = load_config(path)
    assert config["name"] == path.stem
    for feature in config["features"]:
        assert registry.has("feature", feature["name"])

