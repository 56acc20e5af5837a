"""One validated way to build a component: pydantic params, every problem with its path, checked early."""
from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner
from conftest import tiny_config_dict

from ser_framework import ConfigError, Params, PluginError, get_registry
from ser_frontends.cli.main import cli


@pytest.fixture(scope="module")
def registry():
    return get_registry(load_entrypoints=False)


def test_build_fills_defaults_and_coerces_yaml_numbers(registry):
    mfcc = registry.build("feature", {"name": "mfcc", "params": {"n_mfcc": "20"}})
    assert mfcc.params.n_mfcc == 20 and mfcc.params.n_fft == 2048 and mfcc.params.stats == ["mean", "std"]
    assert mfcc.config == {"n_fft": 2048, "hop_length": 512, "stats": ["mean", "std"], "n_mfcc": 20, "n_mels": 128}
    assert registry.build("selector", "standard_scaler").config == {}


def test_build_reports_every_problem_with_its_path(registry):
    entry = {"name": "keras_mlp", "params": {"dropout": [0.1], "learning_rate": "fast", "bogus": 1}}
    with pytest.raises(ConfigError) as info:
        registry.build("classifier", entry, "classifier")
    problems = dict(info.value.problems)
    assert problems["classifier.params.dropout"].startswith("needs 3 values, one per hidden layer")
    assert problems["classifier.params.learning_rate"] == "expected a number, got 'fast'"
    assert problems["classifier.params.bogus"].startswith("unknown parameter (known: units, dropout")


def test_build_refuses_unknown_names_and_unvalidated_construction(registry):
    with pytest.raises(PluginError, match="unknown selector 'scaler'.*standard_scaler"):
        registry.build("selector", "scaler")
    cls = registry.get("selector", "select_k_best").cls
    with pytest.raises(TypeError, match="Registry.build"):
        cls({"k": 3})  # a plain mapping is not a validated Params instance
    assert cls(cls.Params(k=3)).params.k == 3


def test_component_params_are_strict_pydantic_models(registry):
    for spec in registry.all():
        assert issubclass(spec.Params, Params), spec.name
        assert spec.Params.model_config["extra"] == "forbid", spec.name


@pytest.mark.parametrize("kind, entry, path, fragment", [
    ("classifier", {"name": "keras_mlp", "params": {"units": [8, 4], "batch_norm": [True]}},
     "classifier.params.batch_norm", "needs 2 values"),
    ("feature", {"name": "pitch", "params": {"fmin": 300, "fmax": 200}}, "feature.params.fmax", "must be above fmin"),
    ("feature", {"name": "mfcc", "params": {"stats": ["mean", "average"]}}, "feature.params.stats.1",
     "must be one of mean, std"),
    ("dataset", {"name": "ravdess", "params": {"actors": [0]}}, "dataset.params.actors", "numbered 1-24"),
    ("classifier", {"name": "logistic_regression", "params": {"C": float("nan")}}, "classifier.params.C",
     "finite number"),
])
def test_cross_field_and_value_rules_are_part_of_the_schema(registry, kind, entry, path, fragment):
    with pytest.raises(ConfigError) as info:
        registry.build(kind, entry, kind)
    problems = dict(info.value.problems)
    assert fragment in problems[path], problems


def test_validate_catches_cross_field_rules_before_any_audio_is_read(synthetic_corpus_dir, tmp_path, monkeypatch):
    import ser_framework.audio as audio

    def no_audio(*args, **kwargs):  # pragma: no cover - failing here is the point
        raise AssertionError("audio was read during validation")

    monkeypatch.setattr(audio, "load_audio", no_audio)
    raw = tiny_config_dict(synthetic_corpus_dir, tmp_path / "runs")
    raw["features"] = [{"name": "pitch", "params": {"fmin": 400, "fmax": 100}},
                       {"name": "mfcc", "params": {"stats": ["mean", "average"]}}]
    raw["classifier"] = {"name": "keras_mlp", "params": {"units": [8], "dropout": [0.1, 0.2], "batch_norm": [True]}}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 1
    assert "3 problems" in result.stderr
    for where in ("features.0.params.fmax", "features.1.params.stats.1", "classifier.params.dropout"):
        assert where in result.stderr
    assert "Traceback" not in result.stderr


def test_plugins_json_gives_each_component_its_json_schema():
    result = CliRunner().invoke(cli, ["plugins", "--json"], env={"SER_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert result.exit_code == 0, result.output
    by_name = {(e["kind"], e["name"]): e for e in json.loads(result.stdout)}
    schema = by_name[("classifier", "keras_mlp")]["schema"]
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert schema["properties"]["epochs"]["default"] == 60 and schema["properties"]["epochs"]["minimum"] == 1
    stats = by_name[("feature", "mfcc")]["schema"]["properties"]["stats"]
    assert "delta_std" in json.dumps(stats)


def test_config_sections_have_their_defaults_in_one_place(synthetic_corpus_dir, tmp_path):
    from ser_framework.config import SECTIONS, validate

    raw = tiny_config_dict(synthetic_corpus_dir, tmp_path)
    for section in ("audio", "extraction", "evaluation", "output"):
        raw.pop(section, None)
    config = validate(raw, get_registry(load_entrypoints=False))
    for section, model in SECTIONS.items():
        assert config[section] == model().model_dump()
    assert config["audio"]["sample_rate"] == 22050 and config["evaluation"]["protocol"] == "group_kfold"
