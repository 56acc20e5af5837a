"""The ``voice_band`` extractor on synthetic audio: fixed length, finite, level- and band-invariant, F0 right.

Equality with the exp10 reference implementation was checked once on the corpus (see the
change's report); these tests pin the properties the front end was chosen for.
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("librosa")

from ser_framework import AudioContext, ConfigError, PluginError  # noqa: E402
from ser_framework.plugins import get_registry  # noqa: E402

N_VALUES = 394
#: where the blocks of the vector start (see plugins/features_voice.py)
LOGMEL, MFCC, SPEC, PITCH, SHAPE, CONTRAST, RHYTHM = 0, 160, 255, 280, 291, 367, 387
SPEECH_SHARE = PITCH + 10


@pytest.fixture(scope="module")
def extractor():
    return get_registry(load_entrypoints=False).build("feature", "voice_band")


def _vb(extractor, y, sr) -> np.ndarray:
    return extractor.extract(AudioContext(np.asarray(y, dtype=np.float32), sr)).astype(np.float64)


def voice(sr: int, seconds: float = 1.5, f0a: float = 200.0, f0b: float = 240.0, seed: int = 0):
    """Voice-like: a harmonic complex (harmonics < 6.5 kHz) gliding from ``f0a`` to ``f0b`` Hz,
    in 200-ms syllables with 100-ms pauses, over a -70 dB noise floor.

    Returns the waveform and the true F0 (semitones re 55 Hz) of the syllables' cores.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f0 = 2 ** (np.log2(f0a) + np.log2(f0b / f0a) * t / seconds)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    y = sum(np.sin(h * phase) / h for h in range(1, 40) if h * max(f0a, f0b) < 6500)
    cycle = (t % 0.3) / 0.2
    env = np.where(cycle < 1, np.sqrt(np.sin(np.pi * np.minimum(cycle, 1))), 0.0)
    y = 0.3 * y * env / np.abs(y).max() + 1e-4 * rng.standard_normal(t.size)
    return y.astype(np.float32), 12 * np.log2(f0[env > 0.5] / 55.0)


def _scaled_diff(a, b):
    return np.abs(a - b) / np.maximum(1.0, np.abs(a))


def _inputs():
    rng = np.random.default_rng(0)
    y16, _ = voice(16000)
    pad = np.zeros(16000, np.float32)
    return {
        "tone 220 Hz": ((0.3 * np.sin(2 * np.pi * 220 * np.arange(22050) / 22050)), 22050),
        "white noise": (0.1 * rng.standard_normal(22050), 22050),
        "silence": (np.zeros(22050), 22050),
        "silence-padded voice": (np.concatenate([pad, y16, pad]), 16000),
        "0.1-s clip": (voice(22050, seconds=0.1)[0], 22050),
        "0.1-s silence": (np.zeros(2205), 22050),
        "8-kHz input": (voice(8000)[0], 8000),
        "44.1-kHz input": (voice(44100)[0], 44100),
        "hard clipping": (np.clip(20 * y16, -1, 1), 16000),
        "DC offset": (y16 + 0.5, 16000),
        "-140 dB": (1e-7 * y16, 16000),
    }


@pytest.mark.parametrize("name", list(_inputs()))
def test_length_is_fixed_and_values_finite(extractor, name):
    y, sr = _inputs()[name]
    v = extractor.extract(AudioContext(np.asarray(y, dtype=np.float32), sr))
    assert v.dtype == np.float32 and v.shape == (N_VALUES,)
    assert np.all(np.isfinite(v))


def test_gain_invariance(extractor):
    y, _ = voice(22050)
    a, b = _vb(extractor, y, 22050), _vb(extractor, 0.1 * y, 22050)  # -20 dB
    assert _scaled_diff(a, b).max() < 1e-3


def test_energy_above_the_band_changes_nothing_material(extractor):
    sr = 22050
    y, _ = voice(sr)
    rng = np.random.default_rng(1)
    spectrum = np.fft.rfft(rng.standard_normal(y.size))
    spectrum[np.fft.rfftfreq(y.size, 1 / sr) < 5000] = 0  # noise above 5 kHz only ...
    high = np.fft.irfft(spectrum, y.size)
    high = 0.1 * high / high.std() + 0.1 * np.sin(2 * np.pi * 6000 * np.arange(y.size) / sr)  # ... and a 6-kHz tone
    n = np.arange(y.size)
    fade = np.minimum(1.0, np.minimum(n, y.size - 1 - n) / (0.02 * sr))  # no click at the clip's edges
    a, b = _vb(extractor, y, sr), _vb(extractor, y + fade * high, sr)
    assert _scaled_diff(a, b).max() < 0.01


def test_sample_rate_of_the_input_hardly_matters(extractor):
    a = _vb(extractor, voice(16000)[0], 16000)
    b = _vb(extractor, voice(44100)[0], 44100)
    d = _scaled_diff(a, b)
    assert np.median(d) < 0.005 and np.percentile(d, 95) < 0.05 and d.max() < 0.15
    # the speech-frame statistics of the level and shape agree more closely still
    assert d[LOGMEL:PITCH].max() < 0.1 and abs(a[PITCH + 3] - b[PITCH + 3]) < 0.1  # F0 median, semitones


def test_silence_padding_leaves_speech_frame_statistics(extractor):
    sr = 16000
    y, _ = voice(sr)
    floor = 1e-4 * np.random.default_rng(3).standard_normal(y.size + 2 * sr).astype(np.float32)
    plain = _vb(extractor, y + floor[sr:-sr], sr)
    padded = _vb(extractor, np.concatenate([np.zeros(sr), y, np.zeros(sr)]) + floor, sr)
    d = _scaled_diff(plain, padded)
    assert d[:SPEECH_SHARE].max() < 0.1 and np.median(d) < 1e-3
    assert padded[SPEECH_SHARE] < 0.6 * plain[SPEECH_SHARE]  # only the speech-frame share sees the padding


def test_f0_of_a_gliding_harmonic_complex(extractor):
    y, true_st = voice(16000, f0a=200.0, f0b=240.0)
    v = _vb(extractor, y, 16000)
    p50, p90 = v[PITCH + 3], v[PITCH + 4]
    assert abs(p50 - np.median(true_st)) < 0.5
    assert abs(p90 - np.percentile(true_st, 90)) < 0.5
    assert v[PITCH + 7] > 0.9  # voiced share of the speech frames
    true_slope = 12 * np.log2(240 / 200) / 1.5
    assert abs(v[RHYTHM + 4] - true_slope) < 1.0  # F0 slope, semitones per second


OCTAVE_DOWN = pytest.mark.xfail(strict=True, reason=(
    "known weakness of the researched tracker (plain argmax of the autocorrelation): on a strictly "
    "periodic signal a peak at 2 or 3 periods can win; reproduced as is (0.6 % of male RAVDESS clips "
    "have a median F0 below 70 Hz)"))


@pytest.mark.parametrize("f0", [100.0, 150.0, 250.0, pytest.param(120.0, marks=OCTAVE_DOWN)])
def test_f0_of_a_steady_voice(extractor, f0):
    y, true_st = voice(22050, f0a=f0, f0b=f0)
    assert abs(_vb(extractor, y, 22050)[PITCH + 3] - np.median(true_st)) < 0.5


def test_spectra_are_computed_once_per_clip(monkeypatch, extractor):
    import librosa

    calls = []
    real = librosa.stft
    monkeypatch.setattr(librosa, "stft", lambda *a, **k: calls.append(k["n_fft"]) or real(*a, **k))
    ctx = AudioContext(voice(22050)[0], 22050)
    first = extractor.extract(ctx)
    np.testing.assert_array_equal(extractor.extract(ctx), first)
    assert sorted(calls) == [512, 1024]


def test_audio_context_memo_and_resampled():
    import soxr

    y = voice(22050, seconds=0.5)[0]
    ctx = AudioContext(y, 22050)
    y16 = ctx.resampled(16000)
    np.testing.assert_array_equal(y16, soxr.resample(y, 22050, 16000, quality="HQ").astype(np.float32))
    assert ctx.resampled(16000) is y16 and not y16.flags.writeable
    assert ctx.resampled(22050) is ctx.y
    calls = []
    assert ctx.memo(("test", 1), lambda: calls.append(1) or 42) == 42
    assert ctx.memo(("test", 1), lambda: calls.append(1) or 43) == 42 and calls == [1]


@pytest.mark.parametrize("params, message", [
    ({"fmax": 9000}, "half the sample rate"),
    ({"f0_min": 300, "f0_max": 200}, "f0_min"),
    ({"mel_fmin": 3800}, "mel_fmin"),
    ({"floor": -70}, "floor"),
])
def test_bad_params_are_config_errors(params, message):
    with pytest.raises((ConfigError, PluginError), match=message):
        get_registry(load_entrypoints=False).build("feature", {"name": "voice_band", "params": params})


def test_other_analysis_rates_keep_the_length(extractor):
    y, sr = voice(22050)[0], 22050
    for params in ({"sample_rate": 8000}, {"sample_rate": 22050, "fmax": 5000}):
        other = get_registry(load_entrypoints=False).build("feature", {"name": "voice_band", "params": params})
        v = other.extract(AudioContext(y, sr))
        assert v.shape == (N_VALUES,) and np.all(np.isfinite(v))
