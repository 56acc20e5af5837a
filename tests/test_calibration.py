"""Temperature scaling, the expected calibration error, and calibration in runs and bundles."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from ser_framework.calibration import (
    apply_temperature,
    calibrate_out_of_fold,
    ece_floor,
    expected_calibration_error,
    fit_temperature,
    reliability_bins,
)


def _softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _calibrated_sample(n=4000, k=5, seed=0):
    """Logits whose softmax is the true class distribution (so they are calibrated), and labels drawn from it."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 1.5, size=(n, k))
    p = _softmax(z)
    y = np.array([rng.choice(k, p=row) for row in p])
    return z, y


def test_ece_of_a_hand_made_example():
    proba = np.array([[0.9, 0.1],    # conf 0.9, correct    -> bin (0.8, 0.9]
                      [0.9, 0.1],    # conf 0.9, wrong      -> same bin: accuracy 0.5, gap 0.4
                      [0.3, 0.7],    # conf 0.7, correct    -> bin (0.6, 0.7]: gap 0.3
                      [0.45, 0.55]])  # conf 0.55, wrong    -> bin (0.5, 0.6]: gap 0.55
    y = np.array([0, 1, 1, 0])
    assert expected_calibration_error(y, proba) == pytest.approx((2 * 0.4 + 0.3 + 0.55) / 4)
    bins = reliability_bins(y, proba)
    assert bins["count"][8] == 2 and bins["count"][6] == 1 and bins["count"][5] == 1 and bins["count"].sum() == 4
    assert expected_calibration_error(y, np.eye(2)[y]) == 0.0  # certain and right
    assert expected_calibration_error(np.zeros(0, int), np.zeros((0, 2))) == 0.0


def test_ece_floor_is_what_a_perfectly_calibrated_model_shows_at_that_size():
    # 200 small samples of a calibrated classifier: their ECEs sit inside the floor's range,
    # far above zero; an over-confident one on the same rows lands beyond it.
    z, y = _calibrated_sample(n=200 * 240, k=8, seed=3)
    p = _softmax(z)
    observed = [expected_calibration_error(y[i:i + 240], p[i:i + 240]) for i in range(0, len(y), 240)]
    floor = ece_floor(p[:240], reps=2000)
    assert floor["n"] == 240 and 0.02 < floor["mean"] < 0.12 and floor["p5"] < floor["mean"] < floor["p95"]
    assert abs(np.mean(observed) - floor["mean"]) < 0.2 * floor["mean"]
    inside = np.mean([floor["p5"] <= e <= floor["p95"] for e in observed])
    assert inside > 0.75
    assert ece_floor(p[:4000])["mean"] < floor["mean"] / 2.5  # shrinks like 1/sqrt(n)
    over = _softmax(3 * z[:240])
    assert expected_calibration_error(y[:240], over) > ece_floor(over)["p95"]
    assert ece_floor(np.zeros((0, 8)))["mean"] == 0.0


def test_temperature_scaling_fixes_an_over_confident_classifier():
    z, y = _calibrated_sample()
    over = _softmax(4.0 * z)  # logits scaled x4: over-confident
    t = fit_temperature(y, over)
    assert 3.2 < t < 4.8
    fixed = apply_temperature(over, t)
    before, after = expected_calibration_error(y, over), expected_calibration_error(y, fixed)
    assert before > 0.15 and after < 0.04 and after < before / 4
    assert np.array_equal(fixed.argmax(axis=1), over.argmax(axis=1))  # the answers do not change


def test_a_calibrated_classifier_is_left_alone():
    z, y = _calibrated_sample(seed=1)
    p = _softmax(z)
    t = fit_temperature(y, p)
    assert abs(t - 1.0) < 0.12
    assert expected_calibration_error(y, apply_temperature(p, t)) < 0.04


def test_apply_temperature():
    p = np.array([[0.7, 0.2, 0.1]])
    assert apply_temperature(p, 1.0) is not None and np.allclose(apply_temperature(p, 1.0), p)
    soft, sharp = apply_temperature(p, 3.0), apply_temperature(p, 0.3)
    assert soft[0, 0] < 0.7 < sharp[0, 0] and np.allclose(soft.sum(), 1) and np.allclose(sharp.sum(), 1)
    with pytest.raises(ValueError):
        apply_temperature(p, 0.0)


def test_single_split_protocols_fit_the_temperature_without_the_test_rows():
    """holdout_speakers: T comes from an inner speaker-grouped split of the training part only."""
    rng = np.random.default_rng(0)
    n, k = 60, 3
    speakers = np.repeat([f"s{i}" for i in range(6)], 10)
    y = np.tile(np.arange(k), n // k)
    test = np.isin(speakers, ["s5"])
    fold_of = np.where(test, 0, -1)
    proba = np.full((n, k), np.nan)
    proba[test] = _softmax(rng.normal(size=(test.sum(), k)))
    calls = []

    def fit_predict(train_idx, test_idx, seed):
        calls.append((train_idx, test_idx))
        return _softmax(3 * np.eye(k)[y[test_idx]] + rng.normal(size=(len(test_idx), k)))

    evaluation = {"protocol": "holdout_speakers", "n_splits": 5}
    cal = calibrate_out_of_fold(y, proba, fold_of, speakers, evaluation, 0, fit_predict)
    assert len(calls) == 5
    for train_idx, test_idx in calls:
        assert not test[train_idx].any() and not test[test_idx].any()  # the test speaker never takes part
        assert not set(speakers[train_idx]) & set(speakers[test_idx])  # inner folds grouped by speaker
    assert cal.temperature != 1.0 and cal.n == test.sum() and "inner speaker-grouped 5-fold" in cal.fitted_on
    assert np.allclose(cal.calibrated, apply_temperature(proba[test], cal.temperature))

    one_speaker = calibrate_out_of_fold(y, proba, np.where(test, 0, -1), np.where(test, "b", "a"),
                                        evaluation, 0, fit_predict)
    assert one_speaker.temperature == 1.0 and "fewer than two speakers" in one_speaker.note


def test_cross_validation_protocols_use_the_pooled_out_of_fold_rows_and_a_cross_fitted_ece():
    z, y = _calibrated_sample(n=1000, seed=2)
    over = _softmax(4.0 * z)
    fold_of = np.arange(len(y)) % 5

    def never(*a):
        raise AssertionError("no inner models for k-fold protocols")

    cal = calibrate_out_of_fold(y, over, fold_of, np.array(["s"] * len(y)), {"protocol": "group_kfold", "n_splits": 5},
                                0, never)
    assert cal.temperature == pytest.approx(fit_temperature(y, over))
    assert cal.ece < cal.ece_raw / 3
    own = fold_of == 0  # fold 0 calibrated with the T of the other folds
    assert np.allclose(cal.calibrated[own], apply_temperature(over[own], fit_temperature(y[~own], over[~own])))


def test_run_writes_calibration_and_the_bundle_applies_it(tiny_bundle_dir):
    from ser_framework.bundle import load_bundle

    run = tiny_bundle_dir.parent
    metrics = json.loads((run / "metrics.json").read_text())
    cal = metrics["calibration"]
    assert {"temperature", "ece_raw", "ece", "n", "fitted_on"} <= set(cal) and cal["temperature"] > 0
    assert "inner speaker-grouped" in cal["fitted_on"]  # the tiny run is holdout_speakers
    assert (run / "reliability.png").stat().st_size > 1000
    assert "ECE" in (run / "classification_report.txt").read_text()
    bundle = load_bundle(tiny_bundle_dir)
    assert bundle.manifest["calibration"]["temperature"] == cal["temperature"] == pytest.approx(bundle.temperature)
    assert bundle.temperature != 1.0
    X = np.random.default_rng(0).normal(size=(6, bundle.pipeline.n_features())).astype(np.float32)
    raw, calibrated = bundle.model.predict_proba_features(X), bundle.predict_features(X)
    assert not np.allclose(raw, calibrated)
    assert np.array_equal(raw.argmax(axis=1), calibrated.argmax(axis=1))
    assert np.allclose(calibrated, apply_temperature(raw, bundle.temperature))


def _edit_manifest(src, dst, change):
    shutil.copytree(src, dst)
    manifest = json.loads((dst / "manifest.json").read_text())
    change(manifest)
    (dst / "manifest.json").write_text(json.dumps(manifest))
    return dst


def test_a_bundle_without_calibration_predicts_raw_probabilities(tiny_bundle_dir, tmp_path):
    from ser_framework import BundleError
    from ser_framework.bundle import load_bundle

    plain = load_bundle(_edit_manifest(tiny_bundle_dir, tmp_path / "plain", lambda m: m.pop("calibration")))
    assert plain.temperature == 1.0
    X = np.random.default_rng(1).normal(size=(3, plain.pipeline.n_features())).astype(np.float32)
    assert np.array_equal(plain.predict_features(X), plain.model.predict_proba_features(X))
    for bad in (0, -1.0, "hot", None):
        folder = tmp_path / f"bad{bad}"
        _edit_manifest(tiny_bundle_dir, folder, lambda m, b=bad: m.__setitem__("calibration", {"temperature": b}))
        with pytest.raises(BundleError, match="calibration.temperature"):
            load_bundle(folder)


def test_calibration_can_be_switched_off(synthetic_corpus_dir, tmp_path):
    from conftest import tiny_config_dict

    from ser_framework.config import validate
    from ser_framework.experiment import run_training
    from ser_framework.plugins import get_registry

    registry = get_registry()
    raw = tiny_config_dict(synthetic_corpus_dir, tmp_path)
    raw["evaluation"]["calibrate"] = False
    result = run_training(validate(raw, registry), registry, tmp_path / "run", progress=False)
    assert "calibration" not in result.metrics and not (tmp_path / "run" / "reliability.png").exists()
    assert "calibration" not in json.loads((result.bundle_dir / "manifest.json").read_text())
