"""Sequence feature extractors ``log_mel_frames`` and ``mfcc_frames``: frames for temporal models.

They share the ``voice_band`` front end (16 kHz, only what lies below ``fmax`` = 4 kHz,
spectra divided by the active-speech power with a flat floor, speech frames found by
the noise-aware rule; 25-ms Hann window, 10-ms hop) and return, instead of pooled
statistics, the frames themselves: ``max_frames`` rows (the speech frames in time
order, every ``frame_step`` of them averaged into one, centre-cropped when there are
more, zero-padded at the end when fewer) of
``channels`` values plus a last mask channel (1 for a frame, 0 for padding). Sequence
classifiers (``crnn``, ``transformer``) take them.

With ``prosody: true`` every frame also carries four prosody channels (before the mask), from
the pitch tracker ``voice_band`` and ``voice_quality`` share: F0 in semitones re 27.5 Hz, F0 in
semitones re the clip's median voiced F0 (the intonation), harmonicity (0-1) and band energy
(dB re the speech level). F0 is undefined where a frame is unvoiced: both F0 channels hold the
clip's median there (0 for the relative one), and the harmonicity says how voiced the frame is.
"""
from __future__ import annotations

import numpy as np

from ser_framework import FeatureExtractor, Field, hookimpl

from .features_quality import F0_REFERENCE
from .features_voice import (
    N_MELS,
    SpeechFrameParams,
    _delta,
    floored,
    frame_sizes,
    level_of,
    mel_filters,
    speech_frames,
    speech_mask,
)

#: prosody channels added by ``prosody: true``: F0 (st re 27.5 Hz), F0 re the clip's median, harmonicity, energy
PROSODY_CHANNELS = 4


class FrameParams(SpeechFrameParams):
    mel_fmin: float = Field(100.0, ge=0.0, description="lowest mel band edge (Hz)")

    _below_fmax = ("energy_fmin", "mel_fmin", "pitch_fmin")

    frame_step: int = Field(2, ge=1, le=10, description="consecutive 10-ms frames averaged into one (2: a 20-ms step)")
    max_frames: int = Field(128, ge=8, le=4096, description="frames per clip after averaging: longer clips are centre-cropped, shorter ones padded and masked")
    speech_only: bool = Field(True, description="keep only the speech frames (pauses and silence dropped); false: every frame")
    prosody: bool = Field(False, description="add 4 prosody channels per frame: F0 (st re 27.5 Hz), F0 re the clip's "
                          "median, harmonicity, band energy (dB re the speech level)")
    octave_cost: float = Field(0.1, ge=0.0, le=1.0, description="with prosody: the pitch tracker's penalty per "
                               "octave of lag (as voice_quality's)")


class _SpeechFrames(FeatureExtractor):
    """A frame matrix of the band-limited, level-normalised front end, cropped/padded with a mask."""

    output = "sequence"

    @property
    def mel_bands(self) -> int:  # pragma: no cover - interface
        raise NotImplementedError

    @property
    def channels(self) -> int:
        """Values per frame before the mask: the spectral channels, plus the prosody ones when asked for."""
        return self.spectral_channels + (PROSODY_CHANNELS if self.params.prosody else 0)

    @property
    def spectral_channels(self) -> int:
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
        if p.prosody:
            # the level-normalised spectra, speech frames and pitch track of voice_quality (cached on
            # the clip's context: a model with both extractors computes them once per clip)
            f = speech_frames(ctx, p, p.octave_cost)
            Pn, sel = f.Pn, f.sel
        else:
            # the same spectra as voice_band and the voice check, without the pitch tracker
            P = ctx.framed_power(p.sample_rate, n_fft=n_fft, win=win, hop=hop, min_length=win_p)
            freqs = np.arange(P.shape[0]) * p.sample_rate / n_fft
            Pn = floored(P, level_of(P, freqs, p), p)
            _, sel = speech_mask(Pn, freqs, p)
        logmel = 10 * np.log10(mel_filters(p.sample_rate, n_fft, p.mel_fmin, p.fmax, self.mel_bands) @ Pn)
        M = self.frames(logmel)
        if p.prosody:
            M = np.vstack([M, prosody_rows(f)])
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


def prosody_rows(f) -> np.ndarray:
    """The four prosody channels of :data:`PROSODY_CHANNELS` per frame of a :class:`SpeechFrames`."""
    st = 12 * np.log2(f.f0 / F0_REFERENCE)
    median = float(np.median(st[f.voiced])) if f.voiced.any() else 0.0
    st = np.where(f.voiced, st, median)
    return np.vstack([st, st - median, f.harm, f.e_db])


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
    def spectral_channels(self) -> int:
        return 3 * self.params.n_mfcc

    def frames(self, logmel):
        import scipy.fft

        mfcc = scipy.fft.dct(logmel, type=2, norm="ortho", axis=0)[1:self.params.n_mfcc + 1]
        return np.vstack([mfcc, _delta(mfcc), _delta(mfcc, order=2)])


@hookimpl
def register_features(register):
    register(LogMelFrames)
    register(MfccFrames)
