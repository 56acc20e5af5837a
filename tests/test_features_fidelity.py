"""The shared-work extractors equal straightforward librosa calls on the waveform."""
from __future__ import annotations

import numpy as np
import pytest

librosa = pytest.importorskip("librosa")

from ser_framework.plugins import get_registry  # noqa: E402
from ser_framework.pooling import pool  # noqa: E402
from ser_framework.spectral import AudioContext, chroma_basis, mel_basis  # noqa: E402

SR = 22050


def _signal(seed: int, detune: float = 0.0, seconds: float = 1.5) -> np.ndarray:
    """A voiced-like chirp with harmonics, vibrato-free noise floor and an onset."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f0 = 140.0 * 2 ** (detune / 12) * (1 + 0.5 * t / seconds)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    y = sum(np.sin(k * phase) / k for k in range(1, 6))
    y = 0.3 * y / np.abs(y).max() + 0.02 * rng.standard_normal(t.size)
    y[: SR // 10] *= np.linspace(0, 1, SR // 10)
    return y.astype(np.float32)


@pytest.fixture(scope="module")
def registry():
    return get_registry(load_entrypoints=False)


def _close(ours, ref, rel=1e-4):
    ours, ref = np.asarray(ours, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    assert ours.shape == ref.shape
    scale = max(1.0, float(np.abs(ref).max()))
    np.testing.assert_allclose(ours, ref, rtol=0, atol=rel * scale)


SIGNALS = [(0, 0.0), (1, 0.3), (2, -0.4)]  # detuned signals give non-zero tuning estimates


@pytest.mark.parametrize("seed,detune", SIGNALS)
def test_mfcc_matches_librosa(registry, seed, detune):
    y = _signal(seed, detune)
    ext = registry.build("feature", {"name": "mfcc", "params": {"n_mfcc": 40}})
    _close(ext.frames(AudioContext(y, SR)), librosa.feature.mfcc(y=y, sr=SR, n_mfcc=40))


@pytest.mark.parametrize("seed,detune", SIGNALS)
def test_chroma_matches_librosa(registry, seed, detune):
    y = _signal(seed, detune)
    ext = registry.build("feature", {"name": "chroma", "params": {}})
    _close(ext.frames(AudioContext(y, SR)), librosa.feature.chroma_stft(y=y, sr=SR))


@pytest.mark.parametrize("seed,detune", SIGNALS)
def test_spectral_contrast_matches_librosa(registry, seed, detune):
    y = _signal(seed, detune)
    ext = registry.build("feature", {"name": "spectral_contrast", "params": {}})
    _close(ext.frames(AudioContext(y, SR)), librosa.feature.spectral_contrast(y=y, sr=SR))


@pytest.mark.parametrize("seed,detune", SIGNALS)
def test_tonnetz_matches_librosa_from_chroma_stft(registry, seed, detune):
    y = _signal(seed, detune)
    ext = registry.build("feature", {"name": "tonnetz", "params": {}})
    ref = librosa.feature.tonnetz(y=y, sr=SR, chroma=librosa.feature.chroma_stft(y=y, sr=SR))
    _close(ext.frames(AudioContext(y, SR)), ref)


def test_log_mel_matches_librosa(registry):
    y = _signal(3)
    ext = registry.build("feature", {"name": "log_mel", "params": {"n_mels": 64}})
    ref = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=SR, n_mels=64))
    _close(ext.frames(AudioContext(y, SR)), ref)


def test_non_default_fft_sizes(registry):
    y = _signal(4)
    params = {"n_fft": 1024, "hop_length": 256}
    ctx = AudioContext(y, SR)
    _close(registry.build("feature", {"name": "mfcc", "params": {**params, "n_mfcc": 13, "n_mels": 40}}).frames(ctx),
           librosa.feature.mfcc(y=y, sr=SR, n_mfcc=13, n_mels=40, **params))
    _close(registry.build("feature", {"name": "chroma", "params": params}).frames(ctx),
           librosa.feature.chroma_stft(y=y, sr=SR, **params))


def test_pooled_pipeline_vector_matches_librosa(registry):
    """The whole default feature vector equals pooling the plain librosa matrices."""
    from ser_framework.extraction import FeaturePipeline

    y = _signal(5, 0.2)
    specs = [("mfcc", {"n_mfcc": 40, "stats": ["mean", "std", "min", "max", "delta_std"]}),
             ("chroma", {}), ("spectral_contrast", {}), ("tonnetz", {})]
    pipe = FeaturePipeline([registry.build("feature", {"name": n, "params": p}) for n, p in specs], {"sample_rate": SR})
    chroma = librosa.feature.chroma_stft(y=y, sr=SR)
    refs = [
        pool(librosa.feature.mfcc(y=y, sr=SR, n_mfcc=40), specs[0][1]["stats"]),
        pool(chroma, ["mean", "std"]),
        pool(librosa.feature.spectral_contrast(y=y, sr=SR), ["mean", "std"]),
        pool(librosa.feature.tonnetz(y=y, sr=SR, chroma=chroma), ["mean", "std"]),
    ]
    _close(pipe.from_waveform(y), np.concatenate(refs))


def test_each_representation_is_computed_once(monkeypatch, registry):
    """Four extractors on one clip run a single STFT."""
    import librosa as lr

    calls = []
    real = lr.stft
    monkeypatch.setattr(lr, "stft", lambda *a, **k: calls.append(1) or real(*a, **k))
    from ser_framework.extraction import FeaturePipeline

    pipe = FeaturePipeline([registry.build("feature", {"name": n, "params": {}}) for n in ("mfcc", "chroma", "spectral_contrast", "tonnetz")],
                           {"sample_rate": SR})
    pipe.from_waveform(_signal(6))
    assert len(calls) == 1


def test_filter_banks_are_built_once_and_read_only():
    a = mel_basis(SR, 2048, 128)
    assert mel_basis(SR, 2048, 128) is a
    np.testing.assert_array_equal(a, librosa.filters.mel(sr=SR, n_fft=2048, n_mels=128))
    with pytest.raises(ValueError):
        a[0, 0] = 1.0
    c = chroma_basis(SR, 2048, 12, 0.1)
    np.testing.assert_array_equal(c, librosa.filters.chroma(sr=SR, n_fft=2048, n_chroma=12, tuning=0.1))
    assert chroma_basis(SR, 2048, 12, 0.1) is c


def test_extraction_runs_blas_single_threaded(registry):
    """Per-clip work limits BLAS to one thread (faster on shared cores) and restores it afterwards."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from ser_framework.spectral import single_threaded

    before = [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    for _ in range(2):  # first call inspects the libraries, the second reuses that
        with single_threaded():
            inside = [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
        assert inside and all(n == 1 for n in inside)
    after = [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    assert after[: len(before)] == before
