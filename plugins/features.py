"""Feature extractor plugins: MFCC, chroma, spectral contrast, tonnetz, log-mel, prosody.

Each computes a frame-level matrix from the shared
:class:`~ser_framework.spectral.AudioContext` and pools it over time with the
statistics named in ``stats``.
"""
from __future__ import annotations

import numpy as np

from ser_framework import Param, hookimpl
from ser_framework.components import FeatureExtractor
from ser_framework.pooling import STATS, pool

DEFAULT_STATS = ["mean", "std"]


def _frame_params(stats=None):
    return {
        "n_fft": Param(int, 2048, "FFT size (samples)", min=64, max=16384),
        "hop_length": Param(int, 512, "hop between frames (samples)", min=16, max=8192),
        "stats": Param(list, list(stats or DEFAULT_STATS), "statistics pooled over time",
                       item=str, choices=STATS, min_items=1),
    }


class _Pooled(FeatureExtractor):
    prefix = ""

    def frames(self, ctx) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def extract(self, ctx):
        vector, self._names = pool(self.frames(ctx), self.config["stats"], prefix=self.prefix)
        return vector

    def feature_names(self):
        return getattr(self, "_names", None)

    def _fft(self):
        return self.config["n_fft"], self.config["hop_length"]


class Mfcc(_Pooled):
    """Mel-frequency cepstral coefficients (librosa.feature.mfcc)."""

    name = "mfcc"
    prefix = "mfcc"
    params = {
        **_frame_params(),
        "n_mfcc": Param(int, 40, "number of coefficients", min=1, max=128),
        "n_mels": Param(int, 128, "mel bands", min=8, max=512),
    }

    def frames(self, ctx):
        import librosa

        return librosa.feature.mfcc(S=ctx.log_mel(*self._fft(), self.config["n_mels"]), n_mfcc=self.config["n_mfcc"])


class Chroma(_Pooled):
    """Chromagram from the power spectrogram (librosa.feature.chroma_stft)."""

    name = "chroma"
    prefix = "chroma"
    params = {**_frame_params(), "n_chroma": Param(int, 12, "chroma bins", min=1, max=96)}

    def frames(self, ctx):
        return ctx.chroma(*self._fft(), self.config["n_chroma"])


class SpectralContrast(_Pooled):
    """Spectral contrast per octave band (librosa.feature.spectral_contrast)."""

    name = "spectral_contrast"
    prefix = "contrast"
    params = {
        **_frame_params(),
        "n_bands": Param(int, 6, "octave bands", min=1, max=10),
        "fmin": Param(float, 200.0, "lowest band edge (Hz)", min=1.0),
    }

    def frames(self, ctx):
        import librosa

        return librosa.feature.spectral_contrast(
            S=ctx.magnitude(*self._fft()), sr=ctx.sr, n_fft=self.config["n_fft"],
            hop_length=self.config["hop_length"], n_bands=self.config["n_bands"], fmin=self.config["fmin"],
        )


class Tonnetz(_Pooled):
    """Tonal centroid features (librosa.feature.tonnetz) from the shared chromagram."""

    name = "tonnetz"
    prefix = "tonnetz"
    params = _frame_params()

    def frames(self, ctx):
        import librosa

        return librosa.feature.tonnetz(chroma=ctx.chroma(*self._fft()), sr=ctx.sr)


class LogMel(_Pooled):
    """Log mel spectrogram bands (librosa.power_to_db of melspectrogram)."""

    name = "log_mel"
    prefix = "logmel"
    params = {**_frame_params(), "n_mels": Param(int, 64, "mel bands", min=8, max=512)}

    def frames(self, ctx):
        return ctx.log_mel(*self._fft(), self.config["n_mels"])


class Prosody(_Pooled):
    """Loudness and spectral shape: RMS (dB), zero-crossing rate, centroid, bandwidth, rolloff, flatness."""

    name = "prosody"
    prefix = "prosody"
    params = _frame_params()

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
    prefix = "pitch"
    params = {
        **_frame_params(),
        "fmin": Param(float, 65.0, "lowest F0 searched (Hz)", min=20.0),
        "fmax": Param(float, 500.0, "highest F0 searched (Hz)", min=40.0),
    }

    def frames(self, ctx):
        import librosa

        n_fft, hop = self._fft()
        f0 = librosa.yin(ctx.y, fmin=self.config["fmin"], fmax=self.config["fmax"], sr=ctx.sr,
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
