"""Feature extractor plugin ``voice_band``: a channel-robust, band-limited speech front end.

The front end chosen by the exp10 study ("Y4"): the clip is analysed at 16 kHz,
only what lies below 4 kHz is used, the spectra are divided by the power of the
active speech (so the recording level does not matter) and get a flat floor at
-70 dB below it (so silence and band-limited input look alike), and every
statistic is pooled over the speech frames only (a noise-aware energy rule), so
silence padding and low background noise change little. 394 values:

======  ===========================================================================
  160   log-mel (40 Slaney bands, 100 Hz to ``fmax``): mean, std, p10, p90
   95   MFCC c1-c19 (orthonormal DCT of the log-mel): mean, std, p10, p90, delta std
   25   energy dB, centroid, 85 % rolloff, log flatness, tilt: the same five
   11   F0 (semitones re 55 Hz): mean, std, p10, p50, p90, IQR, mean abs step;
        voiced share, harmonicity mean and std, speech-frame share
   76   MFCC median, skew, kurtosis, delta-delta std
   20   octave-band contrast 125-4000 Hz: mean, std, p10, p90
    7   syllable peaks/s, pause share, voiced runs/s, mean voiced run (s),
        F0 slope (semitones/s), F0 of the last fifth minus the first, harmonicity p90
======  ===========================================================================

Frame sizes are fixed in seconds (25-ms Hann window, 10-ms hop, 40-ms window for
the pitch tracker; FFT sizes the next power of two), which at 16 kHz gives the
researched 512/400/160 and 1024/640/160. At the default params the vector equals
the reference implementation (``frontend_new`` in exp10/common.py with
``EXP10_HP=1``, pools V and X at 4 kHz) on the same 16-kHz waveform.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from pydantic import model_validator

from ser_framework import FeatureExtractor, Field, Params, hookimpl, pick_pitch, pitch_autocorrelation

#: analysis frames, in seconds (25-ms window, 10-ms hop; 40-ms window for the pitch tracker)
WINDOW_S, HOP_S, PITCH_WINDOW_S = 0.025, 0.010, 0.040
N_MELS = 40
N_MFCC = 19  # c1..c19, no c0
DELTA_WIDTH = 9
#: lower edges of the octave bands of the spectral contrast (125-4000 Hz)
CONTRAST_OCTAVES = (125, 250, 500, 1000, 2000)
#: length of the vector
N_VALUES = 4 * N_MELS + 5 * N_MFCC + 5 * 5 + 11 + 4 * N_MFCC + 4 * len(CONTRAST_OCTAVES) + 7


def frame_sizes(sr: int) -> tuple[int, int, int, int, int]:
    """``(n_fft, win, hop, n_fft_pitch, win_pitch)`` in samples at ``sr``."""
    win, hop, win_p = round(WINDOW_S * sr), round(HOP_S * sr), round(PITCH_WINDOW_S * sr)
    return 1 << (win - 1).bit_length(), win, hop, 1 << (win_p - 1).bit_length(), win_p


@functools.lru_cache(maxsize=16)
def mel_filters(sr: int, n_fft: int, fmin: float, fmax: float, n_mels: int = N_MELS) -> np.ndarray:
    """``n_mels`` (40) Slaney-normalised mel filters between ``fmin`` and ``fmax`` (built once per process)."""
    import librosa

    basis = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax,
                                htk=False, norm="slaney").astype(np.float64)
    basis.setflags(write=False)
    return basis


def _delta(M: np.ndarray, order: int = 1) -> np.ndarray:
    """librosa delta over time (width 9, interp); zeros for clips shorter than 9 frames."""
    import librosa

    if M.shape[1] < DELTA_WIDTH:
        return np.zeros_like(M)
    return librosa.feature.delta(M, order=order, width=DELTA_WIDTH, mode="interp")


def pooled_stats(M: np.ndarray, sel: np.ndarray, delta: np.ndarray | None = None) -> np.ndarray:
    """Per row of ``M``: mean, std, p10, p90 over the frames ``sel`` (+ std of ``delta`` there).

    With no frame selected, all frames are used.
    """
    X = M[:, sel] if sel.any() else M
    p10, p90 = np.percentile(X, [10, 90], axis=1)
    out = [X.mean(1), X.std(1), p10, p90]
    if delta is not None:
        out.append((delta[:, sel] if sel.any() else delta).std(1))
    return np.concatenate(out)


def spectral_rows(Pn: np.ndarray, freqs: np.ndarray, fmax: float) -> np.ndarray:
    """Energy (dB), centroid (kHz), 85 % rolloff (kHz), log flatness and tilt (dB) up to ``fmax``."""
    inband = freqs <= fmax
    Pb, fb = Pn[inband], freqs[inband]
    tot = Pb.sum(0)
    centroid = (fb[:, None] * Pb).sum(0) / tot / 1000.0
    rolloff = fb[np.argmax(np.cumsum(Pb, 0) / tot >= 0.85, axis=0)] / 1000.0
    flatness = np.mean(np.log(Pb), 0) - np.log(np.mean(Pb, 0))
    tilt = 10 * np.log10(Pn[freqs < 1000].sum(0) / Pn[(freqs >= 1000) & inband].sum(0))
    return np.vstack([10 * np.log10(tot), centroid, rolloff, flatness, tilt])


def pitch_stats(st: np.ndarray, harm: np.ndarray, sel: np.ndarray, voiced: np.ndarray) -> np.ndarray:
    """F0 (semitones) statistics over the voiced speech frames, voicing shares, harmonicity.

    F0 falls back to all speech frames when fewer than 3 are voiced, and to all frames when
    none is speech; harmonicity uses all frames when none is speech.
    """
    stv = st[voiced] if voiced.sum() >= 3 else st[sel]
    if len(stv) == 0:
        stv = st
    p10, p25, p50, p75, p90 = np.percentile(stv, [10, 25, 50, 75, 90])
    hs = harm[sel] if sel.any() else harm
    return np.array([np.mean(stv), np.std(stv), p10, p50, p90, p75 - p25,
                     np.mean(np.abs(np.diff(stv))) if len(stv) > 1 else 0.0,
                     voiced.sum() / max(sel.sum(), 1), np.mean(hs), np.std(hs), sel.mean()])


def mfcc_shape_stats(mfcc: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Per coefficient over the frames ``idx``: median, skew, excess kurtosis, delta-delta std."""
    M = mfcc[:, idx]
    z = (M - M.mean(1, keepdims=True)) / (M.std(1, keepdims=True) + 1e-9)
    d2 = _delta(mfcc, order=2)[:, idx]
    return np.concatenate([np.median(M, 1), (z ** 3).mean(1), (z ** 4).mean(1) - 3, d2.std(1)])


def octave_contrast_stats(Pn: np.ndarray, freqs: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Contrast (dB, mean of the top minus the bottom 20 % of bins) per octave band 125-4000 Hz.

    Mean, std, p10 and p90 over the frames ``idx``, band by band.
    """
    L = 10 * np.log10(Pn[:, idx])
    con = []
    for lo in CONTRAST_OCTAVES:
        b = np.sort(L[(freqs >= lo) & (freqs < 2 * lo)], axis=0)
        q = max(1, int(round(0.2 * b.shape[0])))
        con.append(b[-q:].mean(0) - b[:q].mean(0))
    con = np.array(con)
    return np.concatenate([con.mean(1), con.std(1), *np.percentile(con, [10, 90], axis=1)])


def rhythm_and_contour(e_db: np.ndarray, sel: np.ndarray, voiced: np.ndarray, st: np.ndarray,
                       harm: np.ndarray, idx: np.ndarray, hop_s: float) -> np.ndarray:
    """Syllable rate, pauses, voiced runs and the F0 contour, over the span of the speech frames.

    Syllables are peaks (3 dB prominence, >= 8 frames apart) of the 5-frame smoothed level;
    the slope is a least-squares line through the voiced F0 (semitones/s, clipped to +-40).
    """
    import scipy.signal

    act = np.flatnonzero(sel)
    a0, a1 = (act[0], act[-1] + 1) if len(act) else (0, len(sel))
    seconds = max(a1 - a0, 1) * hop_s
    smooth = np.convolve(e_db[a0:a1], np.ones(5) / 5, mode="same")
    peaks, _ = scipy.signal.find_peaks(smooth, prominence=3.0, distance=8)
    edges = np.diff(np.concatenate([[0], voiced[a0:a1].astype(int), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    vi = np.flatnonzero(voiced)
    if len(vi) >= 5:
        slope = np.polyfit(vi * hop_s, st[vi], 1)[0]
        q = max(1, len(vi) // 5)
        rise = np.median(st[vi[-q:]]) - np.median(st[vi[:q]])
    else:
        slope, rise = 0.0, 0.0
    return np.array([len(peaks) / seconds, 1 - sel[a0:a1].mean(), len(starts) / seconds,
                     np.mean(ends - starts) * hop_s if len(starts) else 0.0, np.clip(slope, -40, 40),
                     rise, np.percentile(harm[idx], 90)])


class BandParams(Params):
    """The band-limited, level-normalised front end: analysis rate, band, level and speech frames.

    Shared by ``voice_band``, ``voice_quality`` and the frame-sequence extractors.
    """

    sample_rate: int = Field(16000, ge=8000, le=48000, description="analysis sample rate (Hz); the clip is resampled to it (soxr HQ)")
    fmax: float = Field(4000.0, ge=2000.0, description="upper band edge (Hz) of the level, VAD, spectra and pitch band")
    energy_fmin: float = Field(150.0, ge=0.0, description="lower edge (Hz) of the frame energy used for the level and the speech frames")
    floor_db: float = Field(-70.0, le=-20.0, description="flat spectral floor (dB re the active-speech power)")
    vad_rel_db: float = Field(35.0, gt=0.0, description="speech frames lie within this many dB of the 95th-percentile frame")
    vad_floor_db: float = Field(6.0, ge=0.0, description="and lie this many dB above the 10th-percentile frame (the noise floor)")

    #: the band edges that must lie at least 500 Hz below ``fmax``
    _below_fmax = ("energy_fmin",)

    @model_validator(mode="after")
    def _band(self):
        if self.fmax > self.sample_rate / 2:
            raise ValueError(f"fmax ({self.fmax} Hz) must not exceed half the sample rate ({self.sample_rate / 2} Hz)")
        for name in self._below_fmax:
            if getattr(self, name) >= self.fmax - 500:
                raise ValueError(f"{name} ({getattr(self, name)} Hz) must be at least 500 Hz below fmax ({self.fmax} Hz)")
        return self


class SpeechFrameParams(BandParams):
    """How the speech frames, their level and their pitch are found (shared by ``voice_band`` and ``voice_quality``)."""

    pitch_fmin: float = Field(100.0, ge=0.0, description="lower edge (Hz) of the band the pitch autocorrelation uses")
    voicing_threshold: float = Field(0.5, gt=0.0, lt=1.0, description="a frame is voiced when its harmonicity exceeds this")
    f0_min: float = Field(60.0, ge=40.0, description="lowest F0 searched (Hz)")
    f0_max: float = Field(400.0, le=1000.0, description="highest F0 searched (Hz)")

    _below_fmax = ("energy_fmin", "pitch_fmin")

    @model_validator(mode="after")
    def _f0_range(self):
        if self.f0_min >= self.f0_max:
            raise ValueError(f"f0_min ({self.f0_min} Hz) must be below f0_max ({self.f0_max} Hz)")
        return self


def level_of(P: np.ndarray, freqs: np.ndarray, p: BandParams) -> float:
    """The active-speech power: mean band energy of the frames within ``vad_rel_db`` of the 95th percentile."""
    e_lin = P[(freqs >= p.energy_fmin) & (freqs <= p.fmax)].sum(0) + 1e-30
    e_raw_db = 10 * np.log10(e_lin)
    return float(np.mean(e_lin[e_raw_db > np.percentile(e_raw_db, 95) - p.vad_rel_db]))


def floored(P: np.ndarray, level: float, p: BandParams) -> np.ndarray:
    """``P`` divided by the speech level, plus the flat floor ``floor_db`` below it."""
    return P / level + 10 ** (p.floor_db / 10) / P.shape[0]


def speech_mask(Pn: np.ndarray, freqs: np.ndarray, p: BandParams) -> tuple[np.ndarray, np.ndarray]:
    """Band energy (dB) of the normalised spectrogram and the speech frames (the noise-aware rule)."""
    e_db = 10 * np.log10(Pn[(freqs >= p.energy_fmin) & (freqs <= p.fmax)].sum(0))
    p95, p10 = np.percentile(e_db, [95, 10])
    return e_db, e_db > max(p95 - p.vad_rel_db, p10 + p.vad_floor_db)


class VoiceBandParams(SpeechFrameParams):
    """Settings of the ``voice_band`` front end; the defaults are the researched values."""

    mel_fmin: float = Field(100.0, ge=0.0, description="lowest mel band edge (Hz)")

    _below_fmax = ("energy_fmin", "mel_fmin", "pitch_fmin")


@dataclass(frozen=True)
class SpeechFrames:
    """One clip's level-normalised spectra, speech frames and pitch track (10-ms hop)."""

    sr: int  #: analysis rate (Hz)
    hop: int  #: hop (samples)
    n_fft: int  #: FFT size of ``Pn`` (25-ms window)
    n_fft_p: int  #: FFT size of ``P2n`` (40-ms window)
    Pn: np.ndarray  #: power spectra over the active-speech power, with the flat floor (bins x frames)
    P2n: np.ndarray  #: the same with the pitch tracker's 40-ms window
    freqs: np.ndarray  #: bin frequencies of ``Pn`` (Hz)
    eband: np.ndarray  #: the bins of the frame energy
    e_db: np.ndarray  #: normalised band energy per frame (dB)
    sel: np.ndarray  #: speech frames
    f0: np.ndarray  #: F0 per frame (Hz)
    harm: np.ndarray  #: harmonicity per frame (0-1)
    voiced: np.ndarray  #: speech frames whose harmonicity exceeds the threshold


def speech_frames(ctx, p: SpeechFrameParams, octave_cost: float = 0.0) -> SpeechFrames:
    """Level-normalise the clip's spectra and find its speech frames, voiced frames and F0.

    The level is the mean band energy of the frames within ``vad_rel_db`` of the loudest
    (95th percentile); spectra are divided by it and get a flat floor ``floor_db`` below it.
    Speech frames are those within ``vad_rel_db`` of the 95th-percentile frame and
    ``vad_floor_db`` above the 10th. Cached on ``ctx`` per setting, so ``voice_band`` and
    ``voice_quality`` on one clip share the work. A clip shorter than the pitch window is
    zero-padded to it. ``octave_cost`` goes to :func:`ser_framework.pitch_track` (``voice_band``
    uses 0, the plain argmax it was researched with).
    """
    key = ("voice_band", "frames", octave_cost, *(getattr(p, name) for name in SpeechFrameParams.model_fields))
    return ctx.memo(key, lambda: _speech_frames(ctx, p, octave_cost))


def _normalised(ctx, p: SpeechFrameParams):
    """The part of :func:`speech_frames` that does not depend on the octave cost, cached on ``ctx``."""
    key = ("voice_band", "normalised", *(getattr(p, name) for name in SpeechFrameParams.model_fields))
    return ctx.memo(key, lambda: _compute_normalised(ctx, p))


def _compute_normalised(ctx, p: SpeechFrameParams):
    sr = p.sample_rate
    n_fft, win, hop, n_fft_p, win_p = frame_sizes(sr)
    P = ctx.framed_power(sr, n_fft=n_fft, win=win, hop=hop, min_length=win_p)
    P2 = ctx.framed_power(sr, n_fft=n_fft_p, win=win_p, hop=hop, min_length=win_p)
    T = min(P.shape[1], P2.shape[1])
    P, P2 = P[:, :T], P2[:, :T]
    freqs = np.arange(P.shape[0]) * sr / n_fft
    level = level_of(P, freqs, p)
    Pn, P2n = floored(P, level, p), floored(P2, level, p)
    e_db, sel = speech_mask(Pn, freqs, p)
    r = pitch_autocorrelation(P2n, sr=sr, n_fft=n_fft_p, win=win_p, fmin=p.pitch_fmin, fmax=p.fmax)
    for a in (Pn, P2n, e_db, sel, r):
        a.setflags(write=False)
    return hop, n_fft, n_fft_p, freqs, Pn, P2n, e_db, sel, r


def _speech_frames(ctx, p: SpeechFrameParams, octave_cost: float) -> SpeechFrames:
    hop, n_fft, n_fft_p, freqs, Pn, P2n, e_db, sel, r = _normalised(ctx, p)
    eband = (freqs >= p.energy_fmin) & (freqs <= p.fmax)
    f0, harm = pick_pitch(r, sr=p.sample_rate, f0_min=p.f0_min, f0_max=p.f0_max, octave_cost=octave_cost)
    for a in (f0, harm):
        a.setflags(write=False)
    return SpeechFrames(sr=p.sample_rate, hop=hop, n_fft=n_fft, n_fft_p=n_fft_p, Pn=Pn, P2n=P2n, freqs=freqs,
                        eband=eband, e_db=e_db, sel=sel, f0=f0, harm=harm,
                        voiced=sel & (harm > p.voicing_threshold))


class VoiceBand(FeatureExtractor):
    """Band-limited (<= 4 kHz), level-normalised speech-frame statistics at 16 kHz (exp10 "Y4", 394 values)."""

    name = "voice_band"
    Params = VoiceBandParams

    def extract(self, ctx) -> np.ndarray:
        p = self.params
        f = speech_frames(ctx, p)
        sr, n_fft, hop, Pn, freqs, sel, voiced = f.sr, f.n_fft, f.hop, f.Pn, f.freqs, f.sel, f.voiced
        st = 12 * np.log2(f.f0 / 55.0)
        T = Pn.shape[1]

        import scipy.fft

        logmel = 10 * np.log10(mel_filters(sr, n_fft, p.mel_fmin, p.fmax) @ Pn + 1e-12)
        mfcc = scipy.fft.dct(logmel, type=2, norm="ortho", axis=0)[1:N_MFCC + 1]
        spec = spectral_rows(Pn, freqs, p.fmax)
        idx = sel if sel.sum() >= 3 else np.ones(T, bool)
        vector = np.concatenate([
            pooled_stats(logmel, sel), pooled_stats(mfcc, sel, _delta(mfcc)),
            pooled_stats(spec, sel, _delta(spec)), pitch_stats(st, f.harm, sel, voiced),
            mfcc_shape_stats(mfcc, idx), octave_contrast_stats(Pn, freqs, idx),
            rhythm_and_contour(f.e_db, sel, voiced, st, f.harm, idx, hop / sr),
        ])
        # every value is finite by construction (floored spectra, guarded divisions); this is a last guard
        return np.nan_to_num(vector, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)


@hookimpl
def register_features(register):
    register(VoiceBand)
