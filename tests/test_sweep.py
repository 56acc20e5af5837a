"""``ser sweep``: a small sweep end to end, invalid combinations reported at once, resuming."""
from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from conftest import tiny_config_dict

from ser_framework import ConfigError
from ser_framework.sweep import plan_sweep, split_values
from ser_frontends.cli.main import cli


@pytest.fixture
def sweep_config(synthetic_corpus_dir, tmp_path):
    """A tiny config with a ``sweep:`` section (two selector setups) and the CV protocol with a condition."""
    raw = tiny_config_dict(synthetic_corpus_dir, tmp_path / "runs")
    raw["classifier"] = {"name": "logistic_regression", "params": {"C": 0.5}}
    raw["evaluation"] = {"protocol": "group_kfold", "n_splits": 2, "conditions": ["pink_10db"]}
    raw["sweep"] = {"selectors": [["standard_scaler"], ["standard_scaler", {"name": "pca", "params": {"n_components": 4}}]]}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _sweep(*args):
    return CliRunner().invoke(cli, ["sweep", *map(str, args), "-q"])


def test_split_values_keeps_brackets_braces_and_quotes_together():
    assert split_values("a, [b, c],{d: e, f: g},'h,i'") == ["a", "[b, c]", "{d: e, f: g}", "'h,i'"]


def test_sweep_end_to_end_writes_one_comparison_table(sweep_config, tmp_path):
    out = tmp_path / "sweep"
    result = _sweep(sweep_config, "-g", "classifier.params.C=0.01,1", "-o", out)
    assert result.exit_code == 0, result.output
    assert "4 combinations (4 to run)" in result.output
    table = pd.read_csv(out / "sweep.csv")
    assert len(table) == 4 and table["combination"].tolist() == [1, 2, 3, 4]
    assert table["settings"].str.contains("pca").tolist() == [False, False, True, True]
    assert table["settings"].str.contains("C=0.01").tolist() == [True, False, True, False]
    assert table["protocol"].nunique() == 1 and "speaker-independent 2-fold" in table["protocol"][0]
    assert (table["worst_condition"] == "pink_10db").all()
    for col in ("uar", "accuracy", "macro_f1", "worst_condition_uar", "ece_raw", "ece"):
        assert table[col].between(0, 1).all(), col
    assert (table["uar"] > 0.5).all()  # three classes of pitch: far above chance (0.33)
    assert (table["model_mb"] > 0).all() and (table["features_ms_per_clip"] > 0).all()
    assert (table["model_ms_per_clip"] > 0).all() and (table["fit_s_per_fold"] >= 0).all()
    for run_dir in table["run_dir"]:  # every combination is an ordinary run with its own config
        config = yaml.safe_load(open(f"{run_dir}/config.yaml"))
        metrics = json.loads(open(f"{run_dir}/metrics.json").read())
        assert config["evaluation"]["n_splits"] == 2 and "sweep" not in config
        assert len(metrics["timing_s"]["fit_per_fold"]) == len(metrics["folds"]) == 2
    pca = yaml.safe_load(open(f"{table['run_dir'][2]}/config.yaml"))
    assert [s["name"] for s in pca["selectors"]] == ["standard_scaler", "pca"] and pca["classifier"]["params"]["C"] == 0.01
    md = (out / "sweep.md").read_text()
    assert md.startswith("Protocol: speaker-independent") and md.count("\n| ") == 5  # header + 4 rows
    assert "| UAR |" in md and "pink_10db (" in md and md in result.output


def test_invalid_combinations_are_reported_together_before_anything_runs(sweep_config, tmp_path):
    out = tmp_path / "sweep"
    result = _sweep(sweep_config, "-o", out, "-g", "classifier.params.C=0.1,lots", "-g", "selectors.1.params.n_components=2,-3",
                    "-g", "evaluation.n_splits=3", "-g", "classifier.params.nope=1")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert "problems" in lines[0] and "Traceback" not in result.output
    # every combination that is wrong says so, with its settings and the path of the problem
    assert sum("classifier.params.C: expected a number, got 'lots'" in line for line in lines) == 4
    assert sum("selectors.1.params.n_components" in line and ">= 1" in line for line in lines) == 2
    assert any("evaluation.n_splits: the protocol is fixed in a sweep" in line for line in lines)
    assert any("classifier.params.nope: no such key" in line for line in lines)
    assert any(line.strip().startswith("combination 8 (") for line in lines)
    assert not out.exists()  # nothing ran


def test_bad_grid_options_and_sweep_sections_are_reported(sweep_config, tmp_path):
    raw = yaml.safe_load(sweep_config.read_text())
    raw["sweep"] = {"classifier.params.C": 0.5}
    sweep_config.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as err:
        plan_sweep(sweep_config, ["classifier.params.max_iter", "seed=[1,2"], out_dir=tmp_path / "s")
    text = str(err.value)
    assert "sweep.classifier.params.C: expected a non-empty list of values" in text
    assert "-g classifier.params.max_iter: expected PATH=VALUE1,VALUE2" in text
    assert "-g seed=[1,2: a value is not valid YAML" in text


def test_a_new_component_name_starts_from_its_default_params(sweep_config, tmp_path):
    plans, _, _ = plan_sweep(sweep_config, ["classifier.name=keras_mlp,logistic_regression"], out_dir=tmp_path / "s")
    by_name = {p.config["classifier"]["name"]: p.config["classifier"]["params"] for p in plans}
    assert by_name["keras_mlp"]["units"] == [512, 256, 112] and "C" not in by_name["keras_mlp"]
    assert by_name["logistic_regression"]["C"] == 0.5  # unchanged name: the config's params stay
    plans, _, _ = plan_sweep(sweep_config, ["classifier={name: keras_mlp, params: {epochs: 3}}"], out_dir=tmp_path / "s")
    assert plans[0].config["classifier"]["params"]["epochs"] == 3


def test_an_interrupted_sweep_resumes_with_the_unfinished_combinations(sweep_config, tmp_path, monkeypatch):
    import ser_framework.experiment as experiment

    out = tmp_path / "sweep"
    real, calls = experiment.run_training, []

    def interrupted_after_one(config, registry, run_dir, **kwargs):
        if calls:
            raise KeyboardInterrupt
        calls.append(run_dir)
        return real(config, registry, run_dir, **kwargs)

    monkeypatch.setattr(experiment, "run_training", interrupted_after_one)
    result = _sweep(sweep_config, "-o", out)
    assert result.exit_code == 130 and "interrupted" in result.output
    first = calls[0]
    assert (first / "metrics.json").is_file() and not (out / "sweep.csv").exists()
    stamp = (first / "metrics.json").stat().st_mtime_ns
    monkeypatch.setattr(experiment, "run_training", real)
    result = _sweep(sweep_config, "-o", out, "--dry-run")
    assert "2 combinations (1 to run)" in result.output and "[finished: 01-" in result.output
    result = _sweep(sweep_config, "-o", out)
    assert result.exit_code == 0, result.output
    assert (first / "metrics.json").stat().st_mtime_ns == stamp  # the finished combination was not run again
    assert len(pd.read_csv(out / "sweep.csv")) == 2
    # a finished run folder of another config is not mistaken for this combination
    config = yaml.safe_load((first / "config.yaml").read_text())
    config["seed"] = 99
    (first / "config.yaml").write_text(yaml.safe_dump(config))
    result = _sweep(sweep_config, "-o", out)
    assert result.exit_code == 1 and "holds a finished run of another config" in result.output
