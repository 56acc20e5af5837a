"""Shared fixtures. Audio is synthesised at test time (seeded numpy + soundfile); no corpus needed."""
from __future__ import annotations

import os

import numpy as np
import pytest

SYNTH_SR = 16000
SYNTH_LABELS = {"low": 150.0, "mid": 300.0, "high": 600.0}
SYNTH_SPEAKERS = ("spk1", "spk2", "spk3", "spk4")


def synth_voice(freq: float, seconds: float = 0.5, sr: int = SYNTH_SR, seed: int = 0, amp: float = 0.3):
    """A voice-like sound around ``freq`` Hz, float32 mono, with a little noise and a fade.

    Harmonics (1/k) of an F0 that rises and falls (±2.5 semitones at 4 Hz, plus a slow ±2-semitone
    drift), under a syllable-rate envelope (4 syllables/s dipping to 10 %): what the voice check
    (:mod:`ser_framework.voice`) looks for, so it is accepted (from about 0.2 s on), while a steady
    tone is refused.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    semitones = 2.5 * np.sin(2 * np.pi * 4.0 * t + rng.uniform(0, 6)) + 2.0 * np.sin(2 * np.pi * 0.5 * t + rng.uniform(0, 6))
    phase = 2 * np.pi * np.cumsum(freq * 2 ** (semitones / 12)) / sr
    y = sum(np.sin(k * phase) / k for k in range(1, 6) if k * freq * 1.3 < sr / 2)
    y = y * (0.1 + 0.9 * np.sin(np.pi * 4.0 * t + rng.uniform(0, np.pi)) ** 2)
    y = amp * y / np.max(np.abs(y)) + 0.01 * rng.standard_normal(t.size)
    fade = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.02)
    return (y * fade).astype(np.float32)


#: the name older tests import: a "tone" that is voice-like (see :func:`synth_voice`)
synth_tone = synth_voice


def steady_tone(freq: float, seconds: float = 0.5, sr: int = SYNTH_SR, amp: float = 0.3):
    """A pure sine at a constant pitch and level: not speech (the voice check refuses it)."""
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture(scope="session")
def synthetic_corpus_dir(tmp_path_factory):
    """A ``folder`` dataset: one sub-folder per label, files ``spkN_XX.wav`` (speaker = prefix).

    3 labels x 4 speakers x 3 voice-like clips of 0.5 s at 16 kHz, the pitch set by the label.
    """
    import soundfile as sf

    root = tmp_path_factory.mktemp("synthetic_corpus")
    seed = 0
    for label, freq in SYNTH_LABELS.items():
        (root / label).mkdir()
        for s, speaker in enumerate(SYNTH_SPEAKERS):
            for i in range(3):
                seed += 1
                y = synth_voice(freq * (1 + 0.03 * s) * (1 + 0.01 * i), seed=seed)
                sf.write(root / label / f"{speaker}_{i:02d}.wav", y, SYNTH_SR, subtype="PCM_16")
    return root


def tiny_config_dict(corpus_dir, output_dir, classifier=None, seed=0) -> dict:
    """A raw config for a seconds-long training run on :func:`synthetic_corpus_dir`."""
    return {
        "name": "tiny",
        "seed": seed,
        "dataset": {"name": "folder", "params": {"root": str(corpus_dir), "speaker_from": "prefix"}},
        "features": [{"name": "mfcc"}],
        "extraction": {"n_jobs": 1, "cache": False},
        "balancer": None,
        "selectors": [{"name": "standard_scaler"}],
        "classifier": classifier or {"name": "logistic_regression"},
        "evaluation": {"protocol": "holdout_speakers", "test_speakers": ["spk4"]},
        "output": {"dir": str(output_dir)},
    }


@pytest.fixture(scope="session")
def tiny_bundle_dir(synthetic_corpus_dir, tmp_path_factory):
    """A trained bundle (mfcc + standard_scaler + logistic_regression) on the synthetic corpus."""
    from ser_framework.config import validate
    from ser_framework.experiment import run_training
    from ser_framework.plugins import get_registry

    out = tmp_path_factory.mktemp("tiny_run")
    registry = get_registry()
    config = validate(tiny_config_dict(synthetic_corpus_dir, out), registry)
    result = run_training(config, registry, out / "run", progress=False)
    return result.bundle_dir


@pytest.fixture(autouse=True, scope="session")
def _isolated_feature_cache(tmp_path_factory):
    """Keep the feature cache of test runs out of the user's ~/.cache (unless SER_CACHE_DIR is set)."""
    if os.environ.get("SER_CACHE_DIR"):
        yield
        return
    os.environ["SER_CACHE_DIR"] = str(tmp_path_factory.mktemp("feature_cache"))
    try:
        yield
    finally:
        os.environ.pop("SER_CACHE_DIR", None)


@pytest.fixture(autouse=True, scope="session")
def _isolated_data_dir(tmp_path_factory):
    """Accounts, profiles and history written by tests go to a temporary data folder, never the user's."""
    saved = os.environ.get("SER_DATA_DIR")
    os.environ["SER_DATA_DIR"] = str(tmp_path_factory.mktemp("ser_data"))
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("SER_DATA_DIR", None)
        else:
            os.environ["SER_DATA_DIR"] = saved
