"""Honest evaluation: splits by speaker, and balancer/selectors fitted on training rows only."""
from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from ser_framework.config import validate
from ser_framework.evaluation import compute_metrics, make_splits
from ser_framework.experiment import evaluate_folds
from ser_framework.plugins import get_registry
from ser_frontends.cli.main import cli


def _config(registry, **evaluation):
    raw = {
        "dataset": {"name": "folder", "params": {"root": "."}},
        "features": ["mfcc"],
        "balancer": {"name": "upsample"},
        "selectors": [{"name": "standard_scaler"}, {"name": "select_k_best", "params": {"k": 3}}],
        "classifier": {"name": "logistic_regression"},
        "evaluation": evaluation,
    }
    return validate(raw, registry)


@pytest.mark.parametrize("evaluation", [
    {"protocol": "group_kfold", "n_splits": 4},
    {"protocol": "holdout_speakers", "test_size": 0.25},
    {"protocol": "holdout_speakers", "test_speakers": ["s3"]},
])
def test_speaker_protocols_never_share_a_speaker(evaluation):
    registry = get_registry()
    config = _config(registry, **evaluation)
    speakers = np.repeat([f"s{i}" for i in range(8)], 10)
    labels = np.tile(np.arange(5), 16)
    splits = make_splits(labels, speakers, config["evaluation"], seed=3)
    tested = set()
    for train, test in splits:
        assert not set(speakers[train]) & set(speakers[test])
        assert len(train) + len(test) == len(labels)
        tested |= set(test.tolist())
    if evaluation["protocol"] == "group_kfold":
        assert tested == set(range(len(labels)))  # every row tested exactly once
    if evaluation.get("test_speakers"):
        assert set(speakers[splits[0][1]]) == {"s3"}


def test_balancer_and_selectors_only_see_training_rows(monkeypatch):
    registry = get_registry()
    config = _config(registry, protocol="group_kfold", n_splits=3)
    rng = np.random.default_rng(0)
    n = 90
    y = np.r_[np.zeros(50, int), np.ones(25, int), np.full(15, 2)]
    speakers = np.array([f"s{i % 6}" for i in range(n)])
    X = np.c_[np.arange(n, dtype=np.float32), rng.normal(size=(n, 5)).astype(np.float32) + y[:, None]]
    seen = {"balancer": [], "selector": []}
    upsample = registry.get("balancer", "upsample").cls
    scaler = registry.get("selector", "standard_scaler").cls
    orig_resample, orig_fit = upsample.resample, scaler.fit

    def spy_resample(self, Xb, yb, rng_):
        seen["balancer"].append(set(Xb[:, 0].astype(int)))
        return orig_resample(self, Xb, yb, rng_)

    def spy_fit(self, Xs, ys):
        seen["selector"].append(set(Xs[:, 0].astype(int)))
        return orig_fit(self, Xs, ys)

    monkeypatch.setattr(upsample, "resample", spy_resample)
    monkeypatch.setattr(scaler, "fit", spy_fit)
    proba, fold_of, folds, _ = evaluate_folds(X, y, speakers, ["a", "b", "c"], config, registry, None, progress=False)
    splits = make_splits(y, speakers, config["evaluation"], config["seed"])
    assert len(seen["balancer"]) == len(splits) == len(seen["selector"])
    for (train, test), bal, sel in zip(splits, seen["balancer"], seen["selector"]):
        assert bal == set(train.tolist()) and not bal & set(test.tolist())
        assert sel <= set(train.tolist())
    assert (fold_of >= 0).all() and np.allclose(proba.sum(axis=1), 1.0)


def test_metrics_include_uar_and_confusion():
    m = compute_metrics([0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 0, 1], ["x", "y"])
    assert m["accuracy"] == pytest.approx(5 / 6)
    assert m["uar"] == pytest.approx((1.0 + 0.5) / 2)
    assert m["confusion"] == [[4, 0], [1, 1]]
    assert m["per_class"]["y"]["recall"] == pytest.approx(0.5)


def test_train_writes_every_artifact_and_bundle_predicts(synthetic_corpus_dir, tmp_path):
    from conftest import tiny_config_dict

    from ser_framework.bundle import load_bundle

    cfg = tiny_config_dict(synthetic_corpus_dir, tmp_path)
    cfg["evaluation"] = {"protocol": "group_kfold", "n_splits": 4}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    run = tmp_path / "run"
    result = CliRunner().invoke(cli, ["train", str(path), "-o", str(run), "-q"])
    assert result.exit_code == 0, result.output
    assert "UAR" in result.output and "speaker-independent" in result.output
    for name in ("config.yaml", "metrics.json", "classification_report.txt", "confusion_matrix.png",
                 "predictions.csv", "features.parquet", "model/manifest.json"):
        assert (run / name).is_file(), name
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"accuracy", "uar", "macro_f1", "per_class", "confusion", "folds"} <= set(metrics)
    assert len(metrics["folds"]) == 4
    manifest = json.loads((run / "model" / "manifest.json").read_text())
    assert manifest["evaluation"]["protocol"] == "group_kfold"
    assert set(manifest["files"]) >= {"selector_0_standard_scaler.npz", "classifier/logreg.npz"}
    bundle = load_bundle(run / "model")
    clip = next((synthetic_corpus_dir / "low").glob("spk1_*.wav"))
    pred = bundle.predict(clip)
    assert pred.label == "low" and list(pred.probabilities.values()) == sorted(pred.probabilities.values(), reverse=True)
    # same config, same seed: same metrics
    again = CliRunner().invoke(cli, ["train", str(path), "-o", str(tmp_path / "run2"), "-q"])
    assert again.exit_code == 0
    assert json.loads((tmp_path / "run2" / "metrics.json").read_text())["uar"] == metrics["uar"]
