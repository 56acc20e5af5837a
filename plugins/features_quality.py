"""Feature extractor plugin ``voice_quality``: voice-quality and prosody measures in the spirit of eGeMAPS.

Built on numpy and scipy only, on the speech frames ``voice_band`` finds (16 kHz, band
<= 4 kHz, level-normalised, noise-aware speech frames, the shared pitch tracker), so the
measures are the same for 8, 16 or 48 kHz input and for any recording level. 55 values:

====  ==========================================================================================
  6   F0 over voiced frames (semitones re 27.5 Hz, 5-frame median-smoothed): mean, sd, p20, p50,
      p80, p80 - p20
  4   F0 slopes within voiced runs (semitones/s): rising mean and sd, falling mean and sd
  6   loudness (band energy re the active speech, to the power 0.3) over speech frames: mean, sd,
      p20, p50, p80, p80 - p20
  1   loudness peaks per second of speech
  8   voiced frames: alpha ratio (50-1000 over 1000-4000 Hz, dB), Hammarberg index (strongest peak
      0-2 kHz over 2-4 kHz, dB), spectral slope 50-500 Hz and 500-1500 Hz (dB/kHz): mean and sd
  4   unvoiced speech frames: the same four, mean
  2   harmonics-to-noise ratio (dB, from the pitch tracker's normalised autocorrelation): mean, sd
 12   formants F1-F3 (Hz, LPC order 10 at 8 kHz): mean and sd of frequency, mean and sd of bandwidth
  4   H1-H2 and H1-A3 (dB, 40-ms spectrum): mean and sd
  2   jitter (local, %) and shimmer (local, dB) of the glottal cycles found in voiced runs
  6   voiced segments per second, mean and sd length of voiced segments (s), mean and sd length
      of unvoiced segments (s), voiced share of the speech frames
====  ==========================================================================================

A measure without enough voiced frames (fewer than 3, or no glottal cycle pair) is 0.
"""
from __future__ import annotations

import functools

import numpy as np

from ser_framework import FeatureExtractor, Field, hookimpl
from ser_plugins.features_voice import SpeechFrameParams, speech_frames

#: F0 reference for semitones (Hz), as eGeMAPS
F0_REFERENCE = 27.5
#: LPC analysis: rate (Hz), order, 25-ms Hamming window
LPC_RATE, LPC_ORDER, LPC_WINDOW_S = 8000, 10, 0.025
#: a formant candidate lies in this range (Hz) with at most this bandwidth (Hz)
FORMANT_RANGE, MAX_BANDWIDTH = (90.0, 3800.0), 400.0
#: glottal cycles are read from the clip low-passed at this frequency (Hz)
PULSE_LOWPASS = 1000.0
#: neighbouring periods that differ by more than this factor are not compared (Praat's default)
PERIOD_FACTOR = 1.3
#: frame-to-frame F0 steps beyond this (semitones per 10 ms) are pitch-tracker jumps, not slopes
MAX_STEP_ST = 1.5
N_VALUES = 55


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) indices of the runs of ``True`` in ``mask``."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def _mean_sd(x: np.ndarray) -> list[float]:
    return [float(np.mean(x)), float(np.std(x))] if len(x) else [0.0, 0.0]


def _contour(x: np.ndarray) -> list[float]:
    """Mean, sd, p20, p50, p80 and p80 - p20 (zeros when ``x`` is empty)."""
    if len(x) == 0:
        return [0.0] * 6
    p20, p50, p80 = np.percentile(x, [20, 50, 80])
    return [float(np.mean(x)), float(np.std(x)), p20, p50, p80, p80 - p20]


def f0_measures(st: np.ndarray, voiced: np.ndarray, hop_s: float) -> list[float]:
    """F0 contour statistics and the rising/falling slopes within voiced runs (10 values)."""
    import scipy.signal

    smooth = scipy.signal.medfilt(st, 5) if len(st) >= 5 else st
    rises, falls = [], []
    for a, b in zip(*_runs(voiced)):
        d = np.diff(smooth[a:b])
        d = d[np.abs(d) < MAX_STEP_ST] / hop_s
        rises.append(d[d > 0])
        falls.append(-d[d < 0])
    values = smooth[voiced] if voiced.sum() >= 3 else np.empty(0)
    return [*_contour(values), *_mean_sd(np.concatenate(rises or [[]])), *_mean_sd(np.concatenate(falls or [[]]))]


def _slope(L: np.ndarray, freqs: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Least-squares slope (dB/kHz) of the dB spectrum ``L`` between ``lo`` and ``hi`` Hz, per frame."""
    band = (freqs >= lo) & (freqs <= hi)
    f = freqs[band] / 1000.0
    f = f - f.mean()
    return (f[:, None] * L[band]).sum(0) / (f ** 2).sum()


def spectral_balance(Pn: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    """Alpha ratio, Hammarberg index, slope 50-500 Hz and slope 500-1500 Hz per frame (4 x frames)."""
    low, high = (freqs >= 50) & (freqs < 1000), (freqs >= 1000) & (freqs <= 4000)
    alpha = 10 * np.log10(Pn[low].sum(0) / Pn[high].sum(0))
    hammarberg = 10 * np.log10(Pn[freqs <= 2000].max(0) / Pn[(freqs > 2000) & (freqs <= 4000)].max(0))
    L = 10 * np.log10(Pn)
    return np.vstack([alpha, hammarberg, _slope(L, freqs, 50, 500), _slope(L, freqs, 500, 1500)])


@functools.lru_cache(maxsize=4)
def _hamming(n: int) -> np.ndarray:
    return np.hamming(n)


def formant_tracks(y8: np.ndarray, frames: np.ndarray, hop_s: float) -> tuple[np.ndarray, np.ndarray]:
    """F1-F3 and their bandwidths (Hz; NaN where not found) for the 10-ms frames ``frames``.

    LPC (autocorrelation method, order 10, with a little diagonal loading) of the pre-emphasised,
    Hamming-windowed 25-ms frame centred on each frame's time, read from the clip at 8 kHz; the
    candidates are the roots in ``FORMANT_RANGE`` with bandwidth below ``MAX_BANDWIDTH``, lowest first.
    """
    n, hop = round(LPC_WINDOW_S * LPC_RATE), round(hop_s * LPC_RATE)
    F = np.full((len(frames), 3), np.nan)
    B = np.full((len(frames), 3), np.nan)
    if len(frames) == 0:
        return F, B
    x = np.append(y8[0], y8[1:] - np.exp(-2 * np.pi * 50 / LPC_RATE) * y8[:-1]).astype(np.float64)
    x = np.pad(x, n // 2)
    starts = np.minimum(frames * hop, len(x) - n)
    seg = x[starts[:, None] + np.arange(n)] * _hamming(n)
    spec = np.fft.rfft(seg, 2 * n, axis=1)
    r = np.fft.irfft(np.abs(spec) ** 2, axis=1)[:, :LPC_ORDER + 1]
    r[:, 0] = r[:, 0] * (1 + 1e-6) + 1e-12
    idx = np.abs(np.arange(LPC_ORDER)[:, None] - np.arange(LPC_ORDER)[None, :])
    a = np.linalg.solve(r[:, idx], r[:, 1:, None])[..., 0]  # x[t] ~ sum a_k x[t-k]
    companion = np.zeros((len(frames), LPC_ORDER, LPC_ORDER))
    companion[:, 0, :] = a
    companion[:, np.arange(1, LPC_ORDER), np.arange(LPC_ORDER - 1)] = 1.0
    roots = np.linalg.eigvals(companion)
    freq = np.angle(roots) * LPC_RATE / (2 * np.pi)
    bw = -np.log(np.maximum(np.abs(roots), 1e-12)) * LPC_RATE / np.pi
    ok = (roots.imag > 0) & (freq > FORMANT_RANGE[0]) & (freq < FORMANT_RANGE[1]) & (bw < MAX_BANDWIDTH)
    for i in range(len(frames)):
        order = np.argsort(freq[i][ok[i]])[:3]
        F[i, :len(order)] = freq[i][ok[i]][order]
        B[i, :len(order)] = bw[i][ok[i]][order]
    return F, B


def _nan_mean_sd(x: np.ndarray) -> list[float]:
    x = x[np.isfinite(x)]
    return _mean_sd(x) if len(x) >= 3 else [0.0, 0.0]


def harmonic_differences(P2n: np.ndarray, sr: int, n_fft: int, f0: np.ndarray, f3: np.ndarray) -> np.ndarray:
    """H1-H2 and H1-A3 (dB) per frame: the strongest bin within 15 % of F0 around F0 and 2 F0, and
    within half an F0 around F3 (NaN where F3 is unknown). ``f0`` and ``f3`` are per column of ``P2n``."""
    bins = np.arange(P2n.shape[0]) * sr / n_fft
    L = 10 * np.log10(P2n)

    def peak(centre, half_width):
        inside = np.abs(bins[:, None] - centre[None, :]) <= np.maximum(half_width, sr / n_fft)[None, :]
        return np.where(inside, L, -np.inf).max(0)

    h1 = peak(f0, 0.15 * f0)
    h2 = peak(2 * f0, 0.15 * f0)
    a3 = np.where(np.isfinite(f3), peak(np.nan_to_num(f3), 0.5 * f0), np.nan)
    return np.vstack([h1 - h2, h1 - a3])


def glottal_cycles(y: np.ndarray, sr: int, f0: np.ndarray, voiced: np.ndarray,
                   hop: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """The clip low-passed at ``PULSE_LOWPASS``, and its cycle marks (fractional sample positions)
    in each voiced run of at least 3 frames that yields at least 3 marks.

    Each mark is the highest sample between 0.75 and 1.25 local periods after the previous one
    (refined by parabolic interpolation); a run starts at the highest sample of its first period.
    """
    import scipy.signal

    sos = scipy.signal.butter(4, PULSE_LOWPASS, fs=sr, output="sos")
    x = scipy.signal.sosfiltfilt(sos, y.astype(np.float64)) if len(y) > 30 else y.astype(np.float64)
    marks = []
    for a, b in zip(*_runs(voiced)):
        if b - a < 3:
            continue
        lo, hi = a * hop, min(b * hop, len(x) - 2)
        period = sr / np.median(f0[a:b])
        t = lo + int(np.argmax(x[lo:lo + int(period) + 1]))
        run = []
        while lo < t < hi:
            v0, v1, v2 = x[t - 1], x[t], x[t + 1]
            den = v0 - 2 * v1 + v2
            run.append(t + (float(np.clip(0.5 * (v0 - v2) / den, -0.5, 0.5)) if den < 0 else 0.0))
            period = sr / f0[min(t // hop, len(f0) - 1)]
            s0, s1 = t + int(0.75 * period), t + int(1.25 * period) + 1
            if s1 >= hi:
                break
            t = s0 + int(np.argmax(x[s0:s1]))
        if len(run) >= 3:
            marks.append(np.array(run))
    return x, marks


def jitter_shimmer(x: np.ndarray, marks: list[np.ndarray], f0_min: float, f0_max: float, sr: int) -> list[float]:
    """Local jitter (% of the mean period) and local shimmer (dB) over the cycles ``marks`` of ``x``.

    Jitter: mean absolute difference of consecutive periods over the mean period; shimmer: mean
    absolute dB ratio of consecutive cycles' peak-to-peak amplitudes. Period pairs outside the F0
    range or differing by more than ``PERIOD_FACTOR`` are skipped (as Praat does).
    """
    dp, periods, da = [], [], []
    for run in marks:
        P = np.diff(run) / sr
        ok = (P > 1 / f0_max) & (P < 1 / f0_min)
        pair = ok[1:] & ok[:-1] & (np.maximum(P[1:], P[:-1]) < PERIOD_FACTOR * np.minimum(P[1:], P[:-1]))
        dp.append(np.abs(np.diff(P))[pair])
        periods.append(P[ok])
        idx = np.round(run).astype(int)
        amp = (np.maximum.reduceat(x, idx) - np.minimum.reduceat(x, idx))[:-1] + 1e-12
        da.append(np.abs(20 * np.log10(amp[1:] / amp[:-1]))[pair])
    dp, periods, da = (np.concatenate(v) if v else np.empty(0) for v in (dp, periods, da))
    if len(dp) == 0:
        return [0.0, 0.0]
    return [100 * float(np.mean(dp) / np.mean(periods)), float(np.mean(da))]


def segment_measures(sel: np.ndarray, voiced: np.ndarray, hop_s: float) -> list[float]:
    """Voiced segments per second, voiced and unvoiced segment lengths (mean, sd) over the speech span,
    and the voiced share of the speech frames."""
    act = np.flatnonzero(sel)
    if len(act) == 0:
        return [0.0] * 6
    a0, a1 = act[0], act[-1] + 1
    seconds = (a1 - a0) * hop_s
    vs, ve = _runs(voiced[a0:a1])
    us, ue = _runs(~voiced[a0:a1])
    return [len(vs) / seconds, *_mean_sd((ve - vs) * hop_s), *_mean_sd((ue - us) * hop_s),
            voiced.sum() / len(act)]


def loudness_measures(e_db: np.ndarray, sel: np.ndarray, hop_s: float) -> list[float]:
    """Loudness (power 0.3 of the normalised band energy) statistics over the speech frames and
    its peaks (3-frame smoothed, 3 dB prominence, >= 50 ms apart) per second of the speech span."""
    import scipy.signal

    loud = 10 ** (0.03 * e_db)
    act = np.flatnonzero(sel)
    if len(act) == 0:
        return [0.0] * 7
    a0, a1 = act[0], act[-1] + 1
    smooth = np.convolve(e_db[a0:a1], np.ones(3) / 3, mode="same")
    peaks, _ = scipy.signal.find_peaks(smooth, prominence=3.0, distance=5)
    return [*_contour(loud[sel]), len(peaks) / ((a1 - a0) * hop_s)]


class VoiceQualityParams(SpeechFrameParams):
    """Settings of ``voice_quality``: how its speech frames and pitch are found (as ``voice_band``'s)."""

    octave_cost: float = Field(
        0.1, ge=0.0, le=1.0, description="pitch-tracker score penalty per octave of lag, against octave-down "
        "errors (0: voice_band's plain argmax)")
    lpc_max_f0: float = Field(
        500.0, ge=100.0, description="frames whose F0 is above this (Hz) are left out of the formant and "
        "H1-A3 measures (LPC latches onto harmonics of high voices)")


class VoiceQuality(FeatureExtractor):
    """eGeMAPS-style voice quality and prosody over speech frames, <= 4 kHz, level-independent (55 values)."""

    name = "voice_quality"
    version = "1"
    Params = VoiceQualityParams

    def extract(self, ctx) -> np.ndarray:
        p = self.params
        f = speech_frames(ctx, p, p.octave_cost)
        hop_s = f.hop / f.sr
        voiced = f.voiced
        st = 12 * np.log2(f.f0 / F0_REFERENCE)
        enough = voiced.sum() >= 3

        bal = spectral_balance(f.Pn, f.freqs)
        unvoiced = f.sel & ~voiced
        vframes = np.flatnonzero(voiced & (f.f0 <= p.lpc_max_f0))
        F, B = formant_tracks(ctx.resampled(LPC_RATE), vframes, hop_s)
        f3 = np.full(len(f.f0), np.nan)
        f3[vframes] = F[:, 2]
        hd = harmonic_differences(f.P2n[:, voiced], f.sr, f.n_fft_p, f.f0[voiced], f3[voiced])
        hnr = 10 * np.log10(np.clip(f.harm, 1e-3, 0.999) / (1 - np.clip(f.harm, 1e-3, 0.999)))
        y = ctx.resampled(f.sr)
        x, marks = glottal_cycles(y, f.sr, f.f0, voiced, f.hop) if enough else (y, [])
        vector = [
            *f0_measures(st, voiced, hop_s),
            *loudness_measures(f.e_db, f.sel, hop_s),
            *(v for row in bal for v in (_mean_sd(row[voiced]) if enough else [0.0, 0.0])),
            *(float(np.mean(row[unvoiced])) if unvoiced.sum() >= 3 else 0.0 for row in bal),
            *(_mean_sd(hnr[voiced]) if enough else [0.0, 0.0]),
            *(v for k in range(3) for v in (*_nan_mean_sd(F[:, k]), *_nan_mean_sd(B[:, k]))),
            *(v for row in hd for v in _nan_mean_sd(row)),
            *jitter_shimmer(x, marks, p.f0_min, p.f0_max, f.sr),
            *segment_measures(f.sel, voiced, hop_s),
        ]
        return np.nan_to_num(np.asarray(vector, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)


@hookimpl
def register_features(register):
    register(VoiceQuality)
