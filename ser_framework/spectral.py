"""Shared spectral representations of one clip.

Every feature extractor receives the same :class:`AudioContext`, which computes
each representation once (the STFT magnitude for a given ``n_fft``/``hop``, the
power spectrum, the mel spectrogram, chroma) and hands the cached result to
every extractor that asks for it. Results equal the corresponding librosa
calls on the waveform (tests compare them).
"""
from __future__ import annotations

import numpy as np


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
        import librosa

        def compute():
            basis = librosa.filters.mel(sr=self.sr, n_fft=n_fft, n_mels=n_mels)
            return basis @ self.power(n_fft, hop_length)

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
            return librosa.feature.chroma_stft(
                S=self.power(n_fft, hop_length), sr=self.sr, n_fft=n_fft, hop_length=hop_length, n_chroma=n_chroma
            )

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
