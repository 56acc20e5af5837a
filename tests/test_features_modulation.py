"""The ``modulation`` extractor on synthetic voices whose level rises and falls at a known rate."""
from __future__ import annotations

import numpy as np
import pytest

from ser_framework import AudioContext, ConfigError
from ser_framework.plugins import get_registry
from ser_plugins.features_modulation import modulation_spectrum

SR = 16000
N_BANDS, N_COLUMNS = 8, 6  # 5 octaves of rate (1-2, 2-4, 4-8, 8-16, 16-32 Hz) and the centroid
OCTAVES = [(1, 2), (2, 4), (4, 8), (8, 16), (16, 32)]


@pytest.fixture(scope="module")
def extractor():
    return get_registry(load_entrypoints=False).build("feature", "modulation")


def voice(rate, seconds=2.5, f0=150.0, gain=1.0, pad_seconds=0.25, seed=0):
    """A harmonic voice whose level is raised-sine modulated at ``rate`` Hz, between quiet noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    source = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 20))
    y = 0.1 * gain * source * (0.5 * (1 + np.sin(2 * np.pi * rate * t))) ** 2
    pad = int(pad_seconds * SR)
    noise = 1e-4 * gain * rng.standard_normal(2 * pad)
    return np.concatenate([noise[:pad], y, noise[pad:]]).astype(np.float32)


def features(extractor, y, sr=SR):
    return extractor.extract(AudioContext(y, sr)).astype(np.float64).reshape(N_BANDS, N_COLUMNS)


@pytest.mark.parametrize("rate", [3.0, 6.0, 12.0])
def test_the_octave_of_the_syllable_rate_carries_the_most_modulation(extractor, rate):
    v = features(extractor, voice(rate))
    octave = next(i for i, (lo, hi) in enumerate(OCTAVES) if lo <= rate < hi)
    assert (v[:, :5].argmax(axis=1) == octave).all(), v[:, :5].round(1)
    # the rate's own octave stands well above the octave two below it, band by band
    if octave >= 2:
        assert (v[:, octave] - v[:, octave - 2] > 10).all()


def test_faster_speech_has_a_higher_modulation_centroid(extractor):
    slow, fast = features(extractor, voice(3.0)), features(extractor, voice(12.0))
    assert (fast[:, 5] > slow[:, 5] + 3).all()


def test_level_and_surrounding_silence_do_not_change_the_values(extractor):
    base = features(extractor, voice(5.0))
    quiet = features(extractor, voice(5.0, gain=0.01))  # -40 dB, noise scaled with it
    padded = features(extractor, voice(5.0, pad_seconds=1.5))  # speech span unchanged
    assert np.abs(quiet - base).max() < 0.5
    assert np.abs(padded[:, :5] - base[:, :5]).max() < 1.5
    assert np.abs(padded[:, 5] - base[:, 5]).max() < 0.5


def test_a_longer_clip_of_the_same_speech_gives_similar_values(extractor):
    short, long = features(extractor, voice(5.0, seconds=1.5)), features(extractor, voice(5.0, seconds=6.0))
    assert np.abs(long[:, 2] - short[:, 2]).max() < 2.0  # the modulated octave, normalised by the window


def test_short_and_silent_clips_give_finite_values(extractor):
    for y in (voice(5.0, seconds=0.05, pad_seconds=0.01), np.zeros(SR // 2, np.float32)):
        v = extractor.extract(AudioContext(y, SR))
        assert v.shape == (N_BANDS * N_COLUMNS,) and np.isfinite(v).all()


def test_sample_rate_of_the_input_does_not_matter(extractor):
    import soxr

    y = voice(6.0)
    at_48k = soxr.resample(y, SR, 48000)
    assert np.abs(features(extractor, at_48k, 48000) - features(extractor, y)).max() < 1.0


def test_modulation_spectrum_of_a_sinusoidal_envelope():
    frame_rate, rate = 100.0, 5.0
    env = 10 * np.sin(2 * np.pi * rate * np.arange(300) / frame_rate)[None, :]
    out = modulation_spectrum(env, frame_rate, min_rate=1.0, n_octaves=5)[0]
    assert out[:5].argmax() == 2 and abs(out[5] - rate) < 0.5
    # an envelope with no movement has no modulation: the floor everywhere
    flat = modulation_spectrum(np.full((1, 300), -20.0), frame_rate, 1.0, 5)[0]
    assert (flat[:5] <= -99).all() and flat[5] == 0.0


def test_params_are_checked():
    registry = get_registry(load_entrypoints=False)
    with pytest.raises(ConfigError, match="n_bands"):
        registry.build("feature", {"name": "modulation", "params": {"n_bands": 0}})
    with pytest.raises(ConfigError, match="mel_fmin"):
        registry.build("feature", {"name": "modulation", "params": {"mel_fmin": 3800}})
