"""Temporal models: frame-sequence features, the crnn and transformer classifiers, and input kinds.

Features and models on synthetic audio; the numpy forward pass equals Keras's own output;
trained sequence bundles predict without importing TensorFlow.
"""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import SYNTH_SR, synth_voice, tiny_config_dict

from ser_framework import AudioContext, ConfigError
from ser_framework.config import validate
from ser_framework.extraction import FeaturePipeline
from ser_framework.plugins import get_registry

#: tiny but real architectures (seconds to train)
TINY = {
    "crnn": {"conv_filters": [4, 8], "gru_units": 8, "epochs": 2, "batch_size": 8, "learning_rate": 0.01,
             "time_mask_width": 3, "freq_mask_width": 2},
    "transformer": {"d_model": 8, "heads": 2, "layers": 2, "ff_units": 8, "pool": 2, "epochs": 2, "batch_size": 8,
                    "learning_rate": 0.01, "time_mask_width": 3, "freq_mask_width": 2},
}
FRAMES = {"name": "log_mel_frames", "params": {"n_mels": 16, "max_frames": 16}}


@pytest.fixture(scope="module")
def registry():
    return get_registry(load_entrypoints=False)


# --------------------------------------------------------------------------- features
@pytest.mark.parametrize("name, channels", [("log_mel_frames", 64), ("mfcc_frames", 60)])
def test_sequence_features_shape_mask_and_values(registry, name, channels):
    extractor = registry.build("feature", {"name": name, "params": {"max_frames": 40}})
    assert extractor.output == "sequence" and extractor.frame_shape == (40, channels + 1)
    short = extractor.extract(AudioContext(synth_voice(200.0, seconds=0.5), SYNTH_SR))
    long = extractor.extract(AudioContext(synth_voice(200.0, seconds=3.0), SYNTH_SR))
    for frames in (short, long):
        assert frames.shape == (40, channels + 1) and frames.dtype == np.float32 and np.all(np.isfinite(frames))
        assert set(np.unique(frames[:, -1])) <= {0.0, 1.0}
    real = int(short[:, -1].sum())
    assert 5 <= real < 40  # 0.5 s of speech in 20-ms steps: padded, and the padding masked
    assert np.all(short[:real, -1] == 1) and np.all(short[real:] == 0)  # real frames first, padding all zero
    assert long[:, -1].sum() == 40  # 3 s of speech: cropped to max_frames, nothing masked
    assert np.ptp(long[:, :-1], axis=0).max() > 1.0  # the frames change over time


@pytest.mark.parametrize("name, spectral", [("log_mel_frames", 64), ("mfcc_frames", 60)])
def test_prosody_channels_follow_the_pitch_and_leave_the_spectra_alone(registry, name, spectral):
    plain = registry.build("feature", {"name": name, "params": {"max_frames": 80}})
    with_prosody = registry.build("feature", {"name": name, "params": {"max_frames": 80, "prosody": True}})
    assert with_prosody.frame_shape == (80, spectral + 4 + 1)
    rows = {}
    for f0 in (150.0, 300.0):
        ctx = AudioContext(synth_voice(f0, seconds=2.0), SYNTH_SR)
        a, b = plain.extract(ctx), with_prosody.extract(ctx)
        np.testing.assert_array_equal(b[:, :spectral], a[:, :-1])  # the spectral channels are unchanged
        np.testing.assert_array_equal(b[:, -1], a[:, -1])  # and so are the frames kept
        real = int(b[:, -1].sum())
        assert real >= 60 and np.all(b[real:] == 0)
        rows[f0] = b[:real, spectral:-1]
    low, high = rows[150.0], rows[300.0]
    # F0 in semitones re 27.5 Hz: 150 Hz is 29.4 st, 300 Hz one octave (12 st) higher
    assert abs(np.median(low[:, 0]) - 12 * np.log2(150 / 27.5)) < 1.0
    assert abs(np.median(high[:, 0]) - np.median(low[:, 0]) - 12.0) < 1.0
    for r in (low, high):
        assert abs(np.median(r[:, 1])) < 0.5 and 1.0 < np.std(r[:, 1]) < 6.0  # the intonation (±2.5 and ±2 st), centred
        np.testing.assert_allclose(r[:, 0] - r[:, 1], np.median(r[:, 0]), atol=0.6)
        assert np.median(r[:, 2]) > 0.8  # a harmonic voice
        assert np.ptp(r[:, 3]) > 3.0  # the syllables' energy rises and falls
    # white noise has no pitch: low harmonicity, and both F0 channels stay flat where nothing is voiced
    noise = np.random.default_rng(1).standard_normal(2 * SYNTH_SR).astype(np.float32) * 0.1
    n = with_prosody.extract(AudioContext(noise, SYNTH_SR))
    assert np.all(np.isfinite(n)) and np.median(n[n[:, -1] == 1, spectral + 2]) < 0.5


def test_sequence_features_are_level_normalised_and_drop_silence(registry):
    y = synth_voice(250.0, seconds=1.0)
    gap = np.concatenate([y[:8000], np.zeros(16000, np.float32) + 1e-4 * y[:1].std(), y[8000:]])
    speech = registry.build("feature", {"name": "log_mel_frames", "params": {"max_frames": 200}})
    every = registry.build("feature", {"name": "log_mel_frames", "params": {"max_frames": 200, "speech_only": False}})
    loud = speech.extract(AudioContext(y, SYNTH_SR))
    quiet = speech.extract(AudioContext(0.05 * y, SYNTH_SR))  # -26 dB
    np.testing.assert_allclose(quiet, loud, atol=0.5)  # relative to the speech level, in dB
    with_gap = speech.extract(AudioContext(gap, SYNTH_SR))[:, -1].sum()
    all_frames = every.extract(AudioContext(gap, SYNTH_SR))[:, -1].sum()
    assert with_gap < all_frames - 40  # the second of silence is left out


def test_pipeline_hands_sequence_classifiers_frames(registry):
    pipeline = FeaturePipeline([registry.build("feature", FRAMES)], {"sample_rate": SYNTH_SR})
    row = pipeline.from_waveform(synth_voice(300.0))
    assert pipeline.output == "sequence" and row.shape == (16 * 17,) and pipeline.n_features() == 16 * 17
    X = pipeline.classifier_input(np.vstack([row, row]))
    assert X.shape == (2, 16, 17)
    pooled = FeaturePipeline([registry.build("feature", "mfcc")], {"sample_rate": SYNTH_SR})
    Z = np.zeros((2, 5), np.float32)
    assert pooled.output == "pooled" and pooled.classifier_input(Z) is Z


# --------------------------------------------------------------------------- config validation
def _raw(features, classifier, selectors=()):
    return {"dataset": {"name": "folder", "params": {"root": "."}}, "features": features,
            "selectors": list(selectors), "classifier": classifier}


@pytest.mark.parametrize("features, classifier, selectors, path, words", [
    (["log_mel_frames"], "logistic_regression", (), "features.0", "takes pooled vectors"),
    (["mfcc", "chroma"], "crnn", (), "classifier", "takes frame sequences"),
    (["mfcc", "mfcc_frames"], "transformer", (), "features.1", "must be the only feature"),
    (["log_mel_frames"], "crnn", ("standard_scaler",), "selectors", "must be empty"),
])
def test_mismatched_input_kinds_are_config_errors(registry, features, classifier, selectors, path, words):
    with pytest.raises(ConfigError) as err:
        validate(_raw(features, classifier, selectors), registry)
    problems = dict(err.value.problems)
    assert words in problems[path], problems


def test_matched_input_kinds_validate(registry):
    assert validate(_raw(["mfcc_frames"], "transformer"), registry)["classifier"]["name"] == "transformer"
    assert validate(_raw(["mfcc"], "logistic_regression", ["standard_scaler"]), registry)["selectors"]


def test_ser_validate_reports_the_mismatch_before_reading_audio(tmp_path):
    from click.testing import CliRunner

    from ser_frontends.cli.main import cli

    config = tmp_path / "c.yaml"
    config.write_text(json.dumps(_raw(["log_mel_frames"], "keras_mlp")))
    result = CliRunner().invoke(cli, ["validate", str(config)])
    assert result.exit_code == 1
    assert "features.0: 'log_mel_frames' gives frame sequences, but the classifier 'keras_mlp'" in result.output


# --------------------------------------------------------------------------- models
def _sequences(registry, n_per_class=8, seed=0, frames=FRAMES):
    """Frames of voice-like clips at three pitches (the labels), different lengths."""
    pipeline = FeaturePipeline([registry.build("feature", frames)], {"sample_rate": SYNTH_SR})
    rows, labels = [], []
    for label, freq in enumerate((150.0, 300.0, 600.0)):
        for i in range(n_per_class):
            y = synth_voice(freq * (1 + 0.02 * i), seconds=0.2 + 0.05 * i, seed=seed + 10 * label + i)
            rows.append(pipeline.from_waveform(y))
            labels.append(label)
    return pipeline.classifier_input(np.vstack(rows)), np.array(labels)


@pytest.mark.slow
@pytest.mark.parametrize("name, side", [("crnn", 0), ("crnn", 4), ("transformer", 0)])
def test_numpy_forward_pass_equals_keras(registry, name, side, tmp_path):
    """The numpy pass equals Keras's; with ``side_channels`` the prosody channels go around the convolutions."""
    frames = {"name": FRAMES["name"], "params": {**FRAMES["params"], "prosody": bool(side)}}
    X, y = _sequences(registry, frames=frames)
    clf = registry.build("classifier", {"name": name, "params": {**TINY[name], **({"side_channels": side} if side else {})}})
    clf.fit(X, y, 3, validation=(X[::4], y[::4]), seed=1)
    rng = np.random.default_rng(0)
    noisy = X.copy()
    noisy[..., :-1] += rng.normal(0, 5.0, noisy[..., :-1].shape) * noisy[..., -1:]  # away from the training rows
    for rows in (X, noisy):
        ours, theirs = clf.predict_proba(rows), clf.predict_proba_keras(rows)
        assert ours.shape == theirs.shape == (len(rows), 3)
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5)
    # padded frames are ignored: whatever they hold, the probabilities stay the same
    pad = X[..., -1] == 0
    assert pad.any()
    junk = X.copy()
    junk[..., :-1][pad] = rng.normal(0, 100.0, (int(pad.sum()), X.shape[2] - 1))
    np.testing.assert_array_equal(clf.predict_proba(junk), clf.predict_proba(X))
    saved = clf.save(tmp_path)
    assert sorted(saved) == ["sequence.json", "sequence.npz"]
    loaded = type(clf).load(tmp_path, clf.params)
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    if side:  # the side channels reach the output: changing only them changes the probabilities
        moved = X.copy()
        moved[..., -1 - side:-1] += 3.0 * moved[..., -1:]
        assert np.abs(clf.predict_proba(moved) - clf.predict_proba(X)).max() > 1e-4
        assert clf.keras_model.get_layer("conv0").get_weights()[0].shape[:2] == (3, 3)


def test_sequence_classifiers_refuse_input_shapes_they_cannot_take(registry):
    clf = registry.build("classifier", {"name": "crnn", "params": {**TINY["crnn"], "side_channels": 14}})
    X, y = _sequences(registry, n_per_class=2)  # 16 channels: 2 left, the two blocks need 4
    with pytest.raises(ValueError, match="side_channels: 14 side channels and 2 convolution blocks need at least "
                                         "18 channels; the features give 16"):
        clf.fit(X, y, 3, validation=(X, y), seed=1)
    # and a config asking for it is refused before any audio is read, with the param's path
    for max_frames, params, path, words in [
        (16, {"side_channels": 14}, "side_channels", "need at least 18 channels; the features give 16"),
        (8, {"conv_filters": [4, 4, 4, 4]}, "conv_filters", "4 convolution blocks need at least 16 frames"),
        (8, {"pool": 16, "name": "transformer"}, "pool", "pooling by 16 needs at least 16 frames; the features give 8"),
    ]:
        frames = {"name": "log_mel_frames", "params": {"n_mels": 16, "max_frames": max_frames}}
        name = params.pop("name", "crnn")
        with pytest.raises(ConfigError) as err:
            validate(_raw([frames], {"name": name, "params": params}), registry)
        problems = dict(err.value.problems)
        assert words in problems[f"classifier.params.{path}"], problems
    prosody = {"name": "log_mel_frames", "params": {"n_mels": 16, "prosody": True}}
    assert validate(_raw([prosody], {"name": "crnn", "params": {"side_channels": 4}}), registry)["classifier"]


def test_sequence_weights_of_another_model_are_refused(registry, tmp_path):
    from ser_framework import BundleError

    (tmp_path / "sequence.json").write_text(json.dumps({"architecture": "transformer"}))
    np.savez(tmp_path / "sequence.npz", norm_mean=np.zeros(3))
    with pytest.raises(BundleError, match="does not describe a crnn model"):
        registry.get("classifier", "crnn").cls.load(tmp_path, registry.build("classifier", "crnn").params)


@pytest.fixture(scope="module")
def sequence_bundles(synthetic_corpus_dir, tmp_path_factory, registry):
    """A crnn and a transformer bundle trained end to end (cache, one augmented copy, validation speakers).

    Each is one training: the model of the split (test speaker spk4) is bundled.
    """
    from ser_framework.experiment import run_training

    out = tmp_path_factory.mktemp("sequence_runs")
    bundles = {}
    for name in ("crnn", "transformer"):
        raw = tiny_config_dict(synthetic_corpus_dir, out, classifier={"name": name, "params": TINY[name]})
        raw.update(features=[FRAMES], selectors=[], extraction={"n_jobs": 1, "cache": True},
                   augmentation={"copies": 1, "chain": [{"name": "gain", "params": {"p": 1.0}}]})
        raw["evaluation"].update(refit=False, validation_fraction=0.34, calibrate=False)  # one training
        bundles[name] = run_training(validate(raw, registry), registry, out / name, progress=False)
    return bundles


@pytest.mark.slow
@pytest.mark.parametrize("name", ["crnn", "transformer"])
def test_sequence_bundle_round_trip(sequence_bundles, synthetic_corpus_dir, name):
    from ser_framework import load_bundle

    result = sequence_bundles[name]
    metrics = result.metrics
    assert metrics["augmentation"]["training_rows_added"] == 36 and metrics["n"] == 9  # spk4's 9 clips tested
    bundle = load_bundle(result.bundle_dir)
    assert bundle.manifest["classifier"]["name"] == name
    clips = sorted(synthetic_corpus_dir.rglob("*.wav"))[:4]
    X = np.vstack([bundle.pipeline.from_source(p) for p in clips])
    proba = bundle.model.predict_proba_features(X)
    assert proba.shape == (4, 3) and np.allclose(proba.sum(1), 1, atol=1e-5)
    prediction = bundle.predict(str(clips[0]))
    assert prediction.label in bundle.labels


PROBE = """
import json, sys
from ser_framework import load_bundle
for bundle_dir in sys.argv[2:]:
    print(load_bundle(bundle_dir).predict(sys.argv[1]).label)
heavy = ("tensorflow", "keras")
print("MODULES:" + json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in heavy)))
"""


@pytest.mark.slow
def test_sequence_prediction_does_not_import_tensorflow(sequence_bundles, synthetic_corpus_dir):
    clip = str(sorted(synthetic_corpus_dir.rglob("*.wav"))[0])
    bundles = [str(result.bundle_dir) for result in sequence_bundles.values()]
    proc = subprocess.run([sys.executable, "-c", PROBE, clip, *bundles], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    *labels, modules = proc.stdout.strip().splitlines()
    assert len(labels) == 2 and set(labels) <= {"high", "low", "mid"}
    assert json.loads(modules.split("MODULES:")[-1]) == []
