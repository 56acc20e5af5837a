"""Feature extractor plugins: MFCC, chroma, spectral contrast, tonnetz, log-mel, prosody.

Each computes a frame-level matrix from the shared
:class:`~ser_framework.spectral.AudioContext` and pools it over time with the
statistics named in ``stats``.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import field_validator

from ser_framework import STATS, FeatureExtractor, Field, Params, hookimpl, pool

Stat = Literal[STATS]


class FrameParams(Params):
    """Framing and pooling, shared by every frame-based extractor."""

    n_fft: int = Field(2048, ge=64, le=16384, description="FFT size (samples)")
    hop_length: int = Field(512, ge=16, le=8192, description="hop between frames (samples)")
    stats: list[Stat] = Field(["mean", "std"], min_length=1, description="statistics pooled over time")


class _Pooled(FeatureExtractor):
    Params = FrameParams

    def frames(self, ctx) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def extract(self, ctx):
        return pool(self.frames(ctx), self.params.stats)

    def _fft(self):
        return self.params.n_fft, self.params.hop_length


class Mfcc(_Pooled):
    """Mel-frequency cepstral coefficients (librosa.feature.mfcc)."""

    name = "mfcc"

    class Params(FrameParams):
        n_mfcc: int = Field(40, ge=1, le=128, description="number of coefficients")
        n_mels: int = Field(128, ge=8, le=512, description="mel bands")

    def frames(self, ctx):
        import librosa

        return librosa.feature.mfcc(S=ctx.log_mel(*self._fft(), self.params.n_mels), n_mfcc=self.params.n_mfcc)


class Chroma(_Pooled):
    """Chromagram from the power spectrogram (librosa.feature.chroma_stft)."""

    name = "chroma"

    class Params(FrameParams):
        n_chroma: int = Field(12, ge=1, le=96, description="chroma bins")

    def frames(self, ctx):
        return ctx.chroma(*self._fft(), self.params.n_chroma)


class SpectralContrast(_Pooled):
    """Spectral contrast per octave band (librosa.feature.spectral_contrast)."""

    name = "spectral_contrast"

    class Params(FrameParams):
        n_bands: int = Field(6, ge=1, le=10, description="octave bands")
        fmin: float = Field(200.0, ge=1.0, description="lowest band edge (Hz)")

    def frames(self, ctx):
        import librosa

        return librosa.feature.spectral_contrast(
            S=ctx.magnitude(*self._fft()), sr=ctx.sr, n_fft=self.params.n_fft,
            hop_length=self.params.hop_length, n_bands=self.params.n_bands, fmin=self.params.fmin,
        )


class Tonnetz(_Pooled):
    """Tonal centroid features (librosa.feature.tonnetz) from the shared chromagram."""

    name = "tonnetz"

    def frames(self, ctx):
        import librosa

        return librosa.feature.tonnetz(chroma=ctx.chroma(*self._fft()), sr=ctx.sr)


class LogMel(_Pooled):
    """Log mel spectrogram bands (librosa.power_to_db of melspectrogram)."""

    name = "log_mel"

    class Params(FrameParams):
        n_mels: int = Field(64, ge=8, le=512, description="mel bands")

    def frames(self, ctx):
        return ctx.log_mel(*self._fft(), self.params.n_mels)


class Prosody(_Pooled):
    """Loudness and spectral shape: RMS (dB), zero-crossing rate, centroid, bandwidth, rolloff, flatness."""

    name = "prosody"

    def frames(self, ctx):
        import librosa

        n_fft, hop = self._fft()
        mag = ctx.magnitude(n_fft, hop)
        rms_db = librosa.amplitude_to_db(ctx.rms(n_fft, hop), ref=1.0)
        zcr = librosa.feature.zero_crossing_rate(ctx.y, frame_length=n_fft, hop_length=hop)
        centroid = librosa.feature.spectral_centroid(S=mag, sr=ctx.sr, n_fft=n_fft, hop_length=hop)
        bandwidth = librosa.feature.spectral_bandwidth(S=mag, sr=ctx.sr, n_fft=n_fft, hop_length=hop)
        rolloff = librosa.feature.spectral_rolloff(S=mag, sr=ctx.sr, n_fft=n_fft, hop_length=hop)
        flatness = librosa.feature.spectral_flatness(S=mag)
        n = min(m.shape[1] for m in (rms_db, zcr, centroid))
        rows = [rms_db, zcr, centroid / 1000.0, bandwidth / 1000.0, rolloff / 1000.0, np.log10(flatness + 1e-10)]
        return np.vstack([r[:, :n] for r in rows])


class Pitch(_Pooled):
    """Fundamental frequency (librosa.yin) in semitones over the active frames, and its voiced share."""

    name = "pitch"

    class Params(FrameParams):
        fmin: float = Field(65.0, ge=20.0, description="lowest F0 searched (Hz)")
        fmax: float = Field(500.0, ge=40.0, description="highest F0 searched (Hz)")

        @field_validator("fmax")
        @classmethod
        def _above_fmin(cls, fmax, info):
            fmin = info.data.get("fmin")
            if fmin is not None and fmax <= fmin:
                raise ValueError(f"must be above fmin ({fmin} Hz), got {fmax}")
            return fmax

    def frames(self, ctx):
        import librosa

        n_fft, hop = self._fft()
        f0 = librosa.yin(ctx.y, fmin=self.params.fmin, fmax=self.params.fmax, sr=ctx.sr,
                         frame_length=n_fft, hop_length=hop)
        active = ctx.voiced_mask(n_fft, hop)
        n = min(len(f0), len(active))
        f0, active = f0[:n], active[:n]
        semitones = 12 * np.log2(np.maximum(f0, 1.0) / 55.0)
        voiced = semitones[active] if active.any() else semitones
        return voiced[None, :]


@hookimpl
def register_features(register):
    for cls in (Mfcc, Chroma, SpectralContrast, Tonnetz, LogMel, Prosody, Pitch):
        register(cls)
