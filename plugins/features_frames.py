"""Sequence feature extractors ``log_mel_frames`` and ``mfcc_frames``: frames for temporal models.

They share the ``voice_band`` front end (16 kHz, only what lies below ``fmax`` = 4 kHz,
spectra divided by the active-speech power with a flat floor, speech frames found by
the noise-aware rule; 25-ms Hann window, 10-ms hop) and return, instead of pooled
statistics, the frames themselves: ``max_frames`` rows (the speech frames in time
order, every ``frame_step`` of them averaged into one, centre-cropped when there are
more, zero-padded at the end when fewer) of
``channels`` values plus a last mask channel (1 for a frame, 0 for padding). Sequence
classifiers (``crnn``, ``transformer``) take them.
"""
from __future__ import annotations

import numpy as np

from ser_framework import FeatureExtractor, Field, hookimpl

from .features_voice import N_MELS, BandParams, _delta, floored, frame_sizes, level_of, mel_filters, speech_mask


class FrameParams(BandParams):
    mel_fmin: float = Field(100.0, ge=0.0, description="lowest mel band edge (Hz)")

    _below_fmax = ("energy_fmin", "mel_fmin")

    frame_step: int = Field(2, ge=1, le=10, description="consecutive 10-ms frames averaged into one (2: a 20-ms step)")
    max_frames: int = Field(128, ge=8, le=4096, description="frames per clip after averaging: longer clips are centre-cropped, shorter ones padded and masked")
    speech_only: bool = Field(True, description="keep only the speech frames (pauses and silence dropped); false: every frame")


class _SpeechFrames(FeatureExtractor):
    """A frame matrix of the band-limited, level-normalised front end, cropped/padded with a mask."""

    output = "sequence"

    @property
    def mel_bands(self) -> int:  # pragma: no cover - interface
        raise NotImplementedError

    @property
    def channels(self) -> int:
        return self.mel_bands

    @property
    def frame_shape(self) -> tuple[int, int]:
        return self.params.max_frames, self.channels + 1

    def frames(self, logmel: np.ndarray) -> np.ndarray:
        """``channels`` × frames from the log-mel (dB re the speech level) of the whole clip: the log-mel itself."""
        return logmel

    def extract(self, ctx) -> np.ndarray:
        p = self.params
        n_fft, win, hop, _, win_p = frame_sizes(p.sample_rate)
        # the same spectra as voice_band and the voice check (cached on the clip's context)
        P = ctx.framed_power(p.sample_rate, n_fft=n_fft, win=win, hop=hop, min_length=win_p)
        freqs = np.arange(P.shape[0]) * p.sample_rate / n_fft
        Pn = floored(P, level_of(P, freqs, p), p)
        _, sel = speech_mask(Pn, freqs, p)
        logmel = 10 * np.log10(mel_filters(p.sample_rate, n_fft, p.mel_fmin, p.fmax, self.mel_bands) @ Pn)
        M = self.frames(logmel)
        if p.speech_only and sel.sum() >= 3:
            M = M[:, sel]
        if p.frame_step > 1 and M.shape[1] >= p.frame_step:
            T = M.shape[1] // p.frame_step
            M = M[:, :T * p.frame_step].reshape(M.shape[0], T, p.frame_step).mean(axis=2)
        T = M.shape[1]
        start = max(0, (T - p.max_frames) // 2)
        M = M[:, start:start + p.max_frames].T
        out = np.zeros(self.frame_shape, dtype=np.float32)
        out[: len(M), :-1] = M
        out[: len(M), -1] = 1.0
        return out


class LogMelFrames(_SpeechFrames):
    """Log-mel frames (dB re the speech level, ``n_mels`` bands up to 4 kHz) of the speech, with a mask."""

    name = "log_mel_frames"

    class Params(FrameParams):
        n_mels: int = Field(64, ge=8, le=128, description="mel bands between mel_fmin and fmax")

    @property
    def mel_bands(self) -> int:
        return self.params.n_mels


class MfccFrames(_SpeechFrames):
    """MFCC c1..c``n_mfcc`` of the 40-band log-mel plus deltas and delta-deltas, per speech frame, with a mask."""

    name = "mfcc_frames"

    class Params(FrameParams):
        n_mfcc: int = Field(20, ge=2, le=39, description="cepstral coefficients c1..c_n (c0, the level, is left out)")

    mel_bands = N_MELS  # the 40 bands voice_band's MFCCs come from

    @property
    def channels(self) -> int:
        return 3 * self.params.n_mfcc

    def frames(self, logmel):
        import scipy.fft

        mfcc = scipy.fft.dct(logmel, type=2, norm="ortho", axis=0)[1:self.params.n_mfcc + 1]
        return np.vstack([mfcc, _delta(mfcc), _delta(mfcc, order=2)])


@hookimpl
def register_features(register):
    register(LogMelFrames)
    register(MfccFrames)
