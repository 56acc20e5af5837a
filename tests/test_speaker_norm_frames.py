"""Speaker normalisation of frame-sequence models: per-channel statistics of real frames, the mask kept.

The normaliser on hand-made frames (each speaker's channel offsets removed, padding and mask
untouched, its state round trip, a profile of the wrong size refused), then a tiny CRNN trained
with ``speaker_normalisation`` end to end: enrolment, prediction with a profile and ``--enrol``.
"""
from __future__ import annotations

import numpy as np
import pytest
from conftest import tiny_config_dict
from test_profiles import _items
from test_sequence import FRAMES, TINY

from ser_framework import ProfileError, SpeakerProfile, evaluate_bundle, load_bundle
from ser_framework.speaker_norm import SpeakerNormaliser, clip_frame_statistics, normalise_training

T, D = 12, 3  # frames, channels without the mask


def _frames(offset, n_clips, rng, real=8):
    """``n_clips`` flattened sequences: ``real`` frames of noise around ``offset`` per channel, then padding."""
    S = np.zeros((n_clips, T, D + 1))
    S[:, :real, :D] = rng.normal(offset, 1.0, size=(n_clips, real, D))
    S[:, :real, D] = 1.0
    return S.reshape(n_clips, -1)


def test_clip_frame_statistics_use_only_real_frames():
    rng = np.random.default_rng(0)
    X = _frames([1.0, -2.0, 5.0], 2, rng, real=5)
    S = X.reshape(2, T, D + 1)
    stats = clip_frame_statistics(X, (T, D + 1))
    assert stats.shape == (2, 2 * D)
    np.testing.assert_allclose(stats[:, :D], S[:, :5, :D].mean(axis=1))
    np.testing.assert_allclose(stats[:, D:], (S[:, :5, :D] ** 2).mean(axis=1))


def test_training_rows_lose_each_speakers_channel_offsets_and_keep_mask_and_padding():
    rng = np.random.default_rng(1)
    offsets = {"a": [3.0, 0.0, -1.0], "b": [-4.0, 2.0, 6.0]}
    X = np.vstack([_frames(o, 10, rng) for o in offsets.values()])
    speakers = np.repeat(list(offsets), 10)
    settings = {"enrol": 10, "shrink_mean": 0.0, "shrink_var": 0.0}  # every clip enrols: exact statistics
    Xn, norm = normalise_training(X, speakers, np.zeros(len(X), int), settings, seed=0, frame_shape=(T, D + 1))
    S, Sn = X.reshape(-1, T, D + 1), Xn.reshape(-1, T, D + 1)
    np.testing.assert_array_equal(Sn[..., D], S[..., D])  # the mask
    assert not Sn[:, 8:, :D].any()  # padding
    for s in offsets:
        real = Sn[speakers == s][:, :8, :D].reshape(-1, D)
        np.testing.assert_allclose(real.mean(axis=0), 0.0, atol=1e-5)
        np.testing.assert_allclose(real.std(axis=0), 1.0, atol=1e-3)
    own = [S[speakers == s][:, :8, :D].reshape(-1, D) for s in offsets]  # population: the mean of speakers'
    np.testing.assert_allclose(norm.prior_mean, np.mean([o.mean(axis=0) for o in own], axis=0), atol=1e-9)
    np.testing.assert_allclose(norm.prior_var, np.mean([o.var(axis=0) for o in own], axis=0), atol=1e-9)
    assert norm.settings()["frames"] == [T, D + 1]


def test_normaliser_state_round_trip_and_a_profile_of_another_size_is_refused(tmp_path):
    rng = np.random.default_rng(2)
    X = np.vstack([_frames([0.0, 1.0, 2.0], 6, rng), _frames([2.0, 1.0, 0.0], 6, rng)])
    speakers = np.repeat(["a", "b"], 6)
    norm = SpeakerNormaliser.fit(X, speakers, 0.0, 20.0, (T, D + 1))
    np.savez(tmp_path / "state.npz", **norm.get_state())
    with np.load(tmp_path / "state.npz", allow_pickle=False) as data:
        again = SpeakerNormaliser.from_state({k: data[k] for k in data.files})
    profile = SpeakerProfile.from_features(norm.profile_rows(X[:6]), "a", "key")
    np.testing.assert_array_equal(again.apply(X, profile), norm.apply(X, profile))
    assert again.frame_shape == (T, D + 1)
    # shrunk towards the population: 6 clips against 20 pseudo-clips
    mean, std = norm.statistics(profile)
    own = X[:6].reshape(-1, T, D + 1)[:, :8, :D].reshape(-1, D)
    np.testing.assert_allclose(mean, own.mean(axis=0), atol=1e-6)
    var = (6 * own.var(axis=0) + 20 * norm.prior_var) / 26
    np.testing.assert_allclose(std, np.sqrt(var) + 1e-6, atol=1e-6)
    wrong = SpeakerProfile.from_features(np.ones((3, 5)), "c", "key")
    with pytest.raises(ProfileError, match="holds 5 values; this model's profiles hold 6"):
        norm.apply(X, wrong)


@pytest.fixture(scope="module")
def normalised_crnn(synthetic_corpus_dir, tmp_path_factory):
    """A tiny CRNN trained with per-speaker normalisation (3-clip profiles), test speaker spk4."""
    from ser_framework.config import validate
    from ser_framework.experiment import run_training
    from ser_framework.plugins import get_registry

    out = tmp_path_factory.mktemp("normalised_crnn")
    registry = get_registry()
    raw = tiny_config_dict(synthetic_corpus_dir, out, classifier={"name": "crnn", "params": TINY["crnn"]})
    raw.update(features=[FRAMES], selectors=[], speaker_normalisation={"enrol": 3, "shrink_var": 2})
    raw["evaluation"].update(refit=False, validation_fraction=0.34, calibrate=False)
    return run_training(validate(raw, registry), registry, out / "run", progress=False)


@pytest.mark.slow
def test_a_crnn_trained_with_speaker_normalisation_predicts_with_a_profile(normalised_crnn, synthetic_corpus_dir):
    from ser_framework.calibration import apply_temperature

    assert normalised_crnn.metrics["n"] == 6  # spk4's 9 clips, 3 of them its profile
    bundle = load_bundle(normalised_crnn.bundle_dir)
    assert bundle.accepts_profiles and bundle.manifest["speaker_normalisation"]["frames"] == [16, 17]
    clips = sorted(str(p) for p in synthetic_corpus_dir.glob("*/spk4_*.wav"))
    profile = SpeakerProfile.enrol(bundle, clips[:3], "ana")
    X = np.vstack([bundle.pipeline.from_source(c) for c in clips[:3]])
    assert profile.mean.shape == (32,)  # 16 bands: their means, then their mean squares
    np.testing.assert_allclose(profile.mean, clip_frame_statistics(X, (16, 17)).mean(axis=0), atol=1e-4)
    grown = profile.updated(bundle, clips[3:4])  # ser profile add: the same statistics as enrolling all four
    np.testing.assert_allclose(grown.mean, SpeakerProfile.enrol(bundle, clips[:4], "ana").mean, atol=1e-9)
    x = bundle.pipeline.from_source(clips[5])[None, :]
    z = bundle.model.normaliser.apply(x, profile)
    expected = apply_temperature(bundle.model.classifier.predict_proba(bundle.pipeline.classifier_input(z)),
                                 bundle.temperature)
    got = bundle.predict(clips[5], profile=profile)
    np.testing.assert_allclose([got.probabilities[lab] for lab in bundle.labels], expected[0], atol=1e-6)
    assert got.probabilities != bundle.predict(clips[5]).probabilities
    items = _items(synthetic_corpus_dir)
    items = items[items["speaker"] == "spk4"]
    result = evaluate_bundle(bundle, items, {"n_jobs": 1, "cache": False}, progress=False, enrol=3)
    assert result["n"] == 6 and result["enrol"]["n_enrolled"] == 3
