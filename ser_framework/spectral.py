"""Shared spectral representations of one clip.

Every feature extractor receives the same :class:`AudioContext`, which computes
each representation once (the STFT magnitude for a given ``n_fft``/``hop``, the
power spectrum, the mel spectrogram, chroma) and hands the cached result to
every extractor that asks for it. Results equal the corresponding librosa
calls on the waveform (tests compare them).

Filter banks (mel, chroma) depend only on their parameters, so they are built
once per process (:func:`mel_basis`, :func:`chroma_basis`) instead of once per
clip, and per-clip work runs with BLAS limited to one thread
(:func:`single_threaded`): these matrices are small, and on a shared 2-core
machine a second BLAS thread made extraction 3-4x slower, not faster.
"""
from __future__ import annotations

import contextlib
import functools
import threading

import numpy as np

_LIMITER = {"limits": None, "users": 0}
_LIMITER_LOCK = threading.Lock()


@contextlib.contextmanager
def single_threaded():
    """Run the block with BLAS/OpenMP pools limited to one thread (threadpoolctl).

    The limit is process-wide, so it is reference-counted: the first block to
    enter sets it, the last to leave restores the previous thread counts.
    Blocks running in several threads at once never undo each other's limit.
    """
    try:
        import threadpoolctl
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        yield
        return
    with _LIMITER_LOCK:
        if _LIMITER["users"] == 0:
            _LIMITER["limits"] = threadpoolctl.threadpool_limits(limits=1)
        _LIMITER["users"] += 1
    try:
        yield
    finally:
        with _LIMITER_LOCK:
            _LIMITER["users"] -= 1
            if _LIMITER["users"] == 0:
                _LIMITER["limits"].restore_original_limits()
                _LIMITER["limits"] = None


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


@functools.lru_cache(maxsize=64)
def mel_basis(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    """``librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)``, built once per process."""
    import librosa

    return _readonly(librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels))


@functools.lru_cache(maxsize=512)
def chroma_basis(sr: int, n_fft: int, n_chroma: int, tuning: float) -> np.ndarray:
    """``librosa.filters.chroma(...)`` for one tuning (estimates come in steps of 0.01)."""
    import librosa

    return _readonly(librosa.filters.chroma(sr=sr, n_fft=n_fft, tuning=tuning, n_chroma=n_chroma))


class AudioContext:
    """A mono waveform plus a cache of what extractors derive from it."""

    def __init__(self, y: np.ndarray, sr: int):
        self.y = np.ascontiguousarray(y, dtype=np.float32)
        self.sr = int(sr)
        self._cache: dict = {}

    def _memo(self, key, compute):
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def memo(self, key, compute):
        """``compute()``, computed once per clip and cached under ``key``.

        For plugins that derive their own representations and want to share
        them between extractors (or calls) on the same clip. Use a tuple key
        that starts with the plugin's name, e.g. ``("voice_band", "stft", 512)``,
        so it cannot collide with the context's own keys or another plugin's.
        """
        return self._memo(("memo", key), compute)

    def resampled(self, sr: int) -> np.ndarray:
        """The clip at sample rate ``sr`` (soxr HQ, as :func:`ser_framework.load_audio` resamples), cached.

        At ``sr == self.sr`` this is :attr:`y` itself.
        """
        from .audio import resample

        sr = int(sr)
        if sr == self.sr:
            return self.y
        return self._memo(("resampled", sr), lambda: _readonly(resample(self.y, self.sr, sr)))

    def framed_power(self, sr: int, *, n_fft: int, win: int, hop: int, min_length: int = 0) -> np.ndarray:
        """``|STFT|^2`` of the clip at ``sr`` as float64 (centred, Hann window of ``win`` samples
        zero-padded to ``n_fft``), after zero-padding the clip to ``min_length`` samples; cached, read-only.

        The voice check (:mod:`ser_framework.voice`) and the ``voice_band`` features read
        the same spectra, so a window that is checked and then classified computes them once.
        """
        import librosa

        def compute():
            y = self.resampled(sr)
            if len(y) < min_length:
                y = np.pad(y, (0, min_length - len(y)))
            S = librosa.stft(y, n_fft=n_fft, hop_length=hop, win_length=win, window="hann", center=True)
            return _readonly((S.real ** 2 + S.imag ** 2).astype(np.float64))

        return self._memo(("framed_power", int(sr), n_fft, win, hop, min_length), compute)

    def magnitude(self, n_fft: int = 2048, hop_length: int = 512) -> np.ndarray:
        """``|STFT|`` (centered, Hann window), as librosa computes it."""
        import librosa

        return self._memo(
            ("mag", n_fft, hop_length),
            lambda: np.abs(librosa.stft(self.y, n_fft=n_fft, hop_length=hop_length)),
        )

    def power(self, n_fft: int = 2048, hop_length: int = 512) -> np.ndarray:
        return self._memo(("pow", n_fft, hop_length), lambda: self.magnitude(n_fft, hop_length) ** 2)

    def mel(self, n_fft: int = 2048, hop_length: int = 512, n_mels: int = 128) -> np.ndarray:
        """Mel power spectrogram, as ``librosa.feature.melspectrogram``."""
        def compute():
            return mel_basis(self.sr, n_fft, n_mels) @ self.power(n_fft, hop_length)

        return self._memo(("mel", n_fft, hop_length, n_mels), compute)

    def log_mel(self, n_fft: int = 2048, hop_length: int = 512, n_mels: int = 128) -> np.ndarray:
        import librosa

        return self._memo(
            ("logmel", n_fft, hop_length, n_mels),
            lambda: librosa.power_to_db(self.mel(n_fft, hop_length, n_mels)),
        )

    def chroma(self, n_fft: int = 2048, hop_length: int = 512, n_chroma: int = 12) -> np.ndarray:
        """Chroma from the power spectrogram, as ``librosa.feature.chroma_stft``."""
        import librosa

        def compute():
            # librosa.feature.chroma_stft(S=power) step by step, with the filter bank cached
            S = self.power(n_fft, hop_length)
            tuning = float(librosa.estimate_tuning(S=S, sr=self.sr, bins_per_octave=n_chroma))
            raw = chroma_basis(self.sr, n_fft, n_chroma, round(tuning, 6)) @ S
            return librosa.util.normalize(raw, norm=np.inf, axis=-2)

        return self._memo(("chroma", n_fft, hop_length, n_chroma), compute)

    def rms(self, n_fft: int = 2048, hop_length: int = 512) -> np.ndarray:
        import librosa

        return self._memo(
            ("rms", n_fft, hop_length),
            lambda: librosa.feature.rms(S=self.magnitude(n_fft, hop_length), frame_length=n_fft),
        )

    def voiced_mask(self, n_fft: int = 2048, hop_length: int = 512, top_db: float = 40.0) -> np.ndarray:
        """Frames within ``top_db`` of the loudest frame (the active part of the clip)."""
        def compute():
            r = self.rms(n_fft, hop_length)[0]
            ref = r.max()
            if ref <= 0:
                return np.ones_like(r, dtype=bool)
            db = 20 * np.log10(np.maximum(r, 1e-10) / ref)
            return db > -top_db

        return self._memo(("voiced", n_fft, hop_length, top_db), compute)
