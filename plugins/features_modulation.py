"""``modulation``: how fast the energy of each band of the voice rises and falls.

Speech is carried by slow changes of level: syllables come 2-8 times a second, phones and
their onsets faster, phrases and pauses slower. How much of a band's level moves at which
rate (its *modulation spectrum*) differs between, say, hurried angry speech and slow sad
speech, and it is a view the pooled statistics (means, spreads, percentiles over frames) do
not give: they are blind to the order of the frames.

On the same front end as ``voice_band`` (16 kHz, <= 4 kHz, level-normalised with the flat
floor, 10-ms frames): the spectra are summed into ``n_bands`` mel bands, each band's level
in dB over the span from the first to the last speech frame (pauses inside it included,
silence around it not) has its mean removed, is Hann-windowed and Fourier-transformed; its
power (normalised by the window and the FFT length) is summed in octave bands of modulation
rate from ``min_rate`` Hz up (1-2, 2-4, 4-8,
8-16, 16-32 Hz by default). Per band: the dB of each octave (the
clip's length does not change them), and the power-weighted mean rate (Hz, the centroid).
``n_bands * (n_octaves + 1)`` values, 48 with the defaults.
"""
from __future__ import annotations

import numpy as np

from ser_framework import FeatureExtractor, Field, hookimpl

from .features_voice import SpeechFrameParams, mel_filters, speech_frames

#: the envelope's FFT is at least this long (frames), so short clips keep the frequency grid fine enough
MIN_FFT = 256


class ModulationParams(SpeechFrameParams):
    """The ``voice_band`` front end's settings plus the acoustic and modulation bands."""

    n_bands: int = Field(8, ge=1, le=32, description="mel bands (mel_fmin to fmax) whose level envelopes are analysed")
    mel_fmin: float = Field(100.0, ge=0.0, description="lowest mel band edge (Hz)")
    min_rate: float = Field(1.0, gt=0.0, le=8.0, description="lowest modulation rate (Hz); octave bands start here")
    n_octaves: int = Field(5, ge=1, le=6, description="octave bands of modulation rate from min_rate up")

    _below_fmax = ("energy_fmin", "mel_fmin", "pitch_fmin")


def modulation_spectrum(envelopes: np.ndarray, frame_rate: float, min_rate: float,
                        n_octaves: int) -> np.ndarray:
    """Octave-band modulation power (dB) and centroid (Hz) of each row of ``envelopes`` (dB × frames).

    Returns ``rows × (n_octaves + 1)``. Rates above half the frame rate are not there; their
    octave gets the floor of -100 dB.
    """
    rows, length = envelopes.shape
    window = np.hanning(length + 2)[1:-1] if length > 1 else np.ones(1)
    x = (envelopes - envelopes.mean(axis=1, keepdims=True)) * window
    n_fft = max(MIN_FFT, 1 << int(np.ceil(np.log2(max(length, 1)))))
    # by Parseval, the bins then sum to half the windowed envelope's variance (dB^2), whatever the length
    power = np.abs(np.fft.rfft(x, n=n_fft, axis=1)) ** 2 / (n_fft * max(float(np.sum(window ** 2)), 1e-12))
    rates = np.fft.rfftfreq(n_fft, d=1.0 / frame_rate)
    edges = min_rate * 2.0 ** np.arange(n_octaves + 1)
    bands = [power[:, (rates >= lo) & (rates < hi)].sum(axis=1) for lo, hi in zip(edges[:-1], edges[1:])]
    octave_db = 10 * np.log10(np.stack(bands, axis=1) + 1e-10)
    inside = (rates >= edges[0]) & (rates < edges[-1])
    total = power[:, inside].sum(axis=1)
    centroid = np.where(total > 0, (power[:, inside] * rates[inside]).sum(axis=1) / np.maximum(total, 1e-30), 0.0)
    return np.concatenate([octave_db, centroid[:, None]], axis=1)


class Modulation(FeatureExtractor):
    """Modulation spectra of mel-band level envelopes over the speech span, <= 4 kHz (48 values)."""

    name = "modulation"
    version = "1"
    Params = ModulationParams

    def extract(self, ctx) -> np.ndarray:
        p = self.params
        f = speech_frames(ctx, p)
        speech = np.flatnonzero(f.sel)
        a0, a1 = (speech[0], speech[-1] + 1) if len(speech) >= 2 else (0, f.Pn.shape[1])
        bands = mel_filters(f.sr, f.n_fft, p.mel_fmin, p.fmax, n_mels=p.n_bands) @ f.Pn[:, a0:a1]
        envelopes = 10 * np.log10(bands + 1e-12)
        values = modulation_spectrum(envelopes, f.sr / f.hop, p.min_rate, p.n_octaves)
        return np.nan_to_num(values.ravel(), nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)


@hookimpl
def register_features(register):
    register(Modulation)
