"""Augmenter plugins: audio transforms for training copies and the evaluation conditions.

Each takes mono float32 samples at ``sr`` and returns mono float32 at the same
rate, drawing every random choice from the ``rng`` it is given (so a seed
reproduces the output). ``p``, where declared, is applied by the framework.
Ported from the measured exp10 reference code (issue 10).
"""
from __future__ import annotations

import io
from typing import Literal

import numpy as np
from pydantic import model_validator

from ser_framework import Augmenter, Field, Params, PluginError, SerError, hookimpl, library_versions

#: frames within this many dB of the 95th-percentile 20-ms frame count as active speech
ACTIVE_REL_DB = 35.0


def _range(lo: str, hi: str):
    """A model validator: ``lo <= hi``."""

    def check(self):
        if getattr(self, lo) > getattr(self, hi):
            raise ValueError(f"{lo} ({getattr(self, lo)}) must be <= {hi} ({getattr(self, hi)})")
        return self

    return model_validator(mode="after")(check)


def _draw(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(lo) if lo == hi else float(rng.uniform(lo, hi))


def colored_noise(n: int, rng: np.random.Generator, slope_db: float = -3.01) -> np.ndarray:
    """Gaussian noise of unit RMS whose power falls by ``slope_db`` per octave (-3.01 pink, 0 white)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spectrum), dtype=np.float64)
    f[0] = 1.0
    spectrum *= f ** (slope_db / 20.0 / np.log10(2))
    x = np.fft.irfft(spectrum, n)
    return (x / (np.sqrt(np.mean(x ** 2)) + 1e-20)).astype(np.float32)


def active_power(y: np.ndarray, sr: int, rel_db: float = ACTIVE_REL_DB) -> float:
    """Mean power of the 20-ms frames within ``rel_db`` of the 95th-percentile frame (active speech)."""
    n = max(1, int(0.02 * sr))
    m = len(y) // n
    if m == 0:
        return float(np.mean(np.asarray(y, np.float64) ** 2) + 1e-20)
    p = (y[: m * n].reshape(m, n).astype(np.float64) ** 2).mean(axis=1) + 1e-20
    e = 10 * np.log10(p)
    return float(p[e > np.percentile(e, 95) - rel_db].mean())


def quantize16(y: np.ndarray) -> np.ndarray:
    """What saving as 16-bit PCM does: clip to full scale and round."""
    return (np.round(np.clip(y, -1, 1 - 1 / 32768) * 32768) / 32768).astype(np.float32)


def _audiomentations(transform: str, y: np.ndarray, sr: int, **drawn) -> np.ndarray:
    """audiomentations' ``transform`` at p 1 with its values already ``drawn`` from our rng (zero-width ranges,
    so audiomentations' own draw is a no-op and our seed alone decides the output)."""
    import audiomentations

    out = getattr(audiomentations, transform)(**drawn, p=1.0)(samples=np.asarray(y, np.float32), sample_rate=sr)
    return np.asarray(out, dtype=np.float32)


def _soxr(y: np.ndarray, sr_in: float, sr_out: float) -> np.ndarray:
    import soxr

    return soxr.resample(y, sr_in, sr_out, quality="HQ").astype(np.float32, copy=False)


class Resample(Augmenter):
    """Band-limit: resample down to a rate from `rates` and back up (soxr), optionally via 16-bit PCM."""

    name = "resample"

    class Params(Params):
        rates: list[int] = Field([8000, 16000], min_length=1, description="rates to pass through (Hz), one chosen")
        quantize: bool = Field(True, description="16-bit quantisation at the low rate")
        p: float = Field(0.5, ge=0.0, le=1.0, description="probability of applying it")

        @model_validator(mode="after")
        def check_rates(self):
            bad = [r for r in self.rates if r < 1000]
            if bad:
                raise ValueError(f"rates must be >= 1000 Hz, got {bad}")
            return self

    def apply(self, y, sr, rng):
        rate = int(self.params.rates[int(rng.integers(len(self.params.rates)))])
        if rate >= sr:  # nothing to band-limit
            return quantize16(y) if self.params.quantize else y
        low = _soxr(y, sr, rate)
        if self.params.quantize:
            low = quantize16(low)
        return _soxr(low, rate, sr)


class Noise(Augmenter):
    """Coloured noise at an SNR relative to the active-speech power (frames within 35 dB of the loudest)."""

    name = "noise"

    class Params(Params):
        min_snr_db: float = Field(5.0, ge=-20, le=80, description="lowest SNR (dB re active speech)")
        max_snr_db: float = Field(30.0, ge=-20, le=80, description="highest SNR (dB re active speech)")
        min_slope_db: float = Field(-6.0, ge=-12, le=12, description="lowest spectral slope (dB/octave; pink -3.01)")
        max_slope_db: float = Field(0.0, ge=-12, le=12, description="highest spectral slope (dB/octave; white 0)")
        p: float = Field(0.7, ge=0.0, le=1.0, description="probability of applying it")

        check_snr = _range("min_snr_db", "max_snr_db")
        check_slope = _range("min_slope_db", "max_slope_db")

    def apply(self, y, sr, rng):
        snr = _draw(rng, self.params.min_snr_db, self.params.max_snr_db)
        slope = _draw(rng, self.params.min_slope_db, self.params.max_slope_db)
        noise = colored_noise(len(y), rng, slope)
        return (y + noise * np.sqrt(active_power(y, sr) / 10 ** (snr / 10))).astype(np.float32)


class Gain(Augmenter):
    """Change the level by a gain drawn from a range (audiomentations Gain)."""

    name = "gain"

    class Params(Params):
        min_gain_db: float = Field(-25.0, ge=-60, le=40, description="lowest gain (dB)")
        max_gain_db: float = Field(6.0, ge=-60, le=40, description="highest gain (dB)")
        p: float = Field(0.5, ge=0.0, le=1.0, description="probability of applying it")

        check_gain = _range("min_gain_db", "max_gain_db")

    def apply(self, y, sr, rng):
        gain = _draw(rng, self.params.min_gain_db, self.params.max_gain_db)
        return _audiomentations("Gain", y, sr, min_gain_db=gain, max_gain_db=gain)


def synthetic_rir(sr: int, rt60: float, drr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Exponentially decaying Gaussian-noise impulse response: direct path plus a tail with RT60 and DRR."""
    n = max(2, int(sr * min(1.5 * rt60, 1.2)))
    t = np.arange(n) / sr
    tail = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60)
    tail[: int(0.0025 * sr)] = 0.0  # 2.5 ms before the first reflections
    tail *= np.sqrt(10 ** (-drr_db / 10) / (np.sum(tail ** 2) + 1e-20))
    tail[0] += 1.0  # direct path (energy 1)
    return tail


class Reverb(Augmenter):
    """A synthetic room: convolution with a decaying noise impulse response (RT60, direct-to-reverberant ratio)."""

    name = "reverb"

    class Params(Params):
        min_rt60: float = Field(0.2, ge=0.05, le=3.0, description="shortest reverberation time (s)")
        max_rt60: float = Field(0.8, ge=0.05, le=3.0, description="longest reverberation time (s)")
        min_drr_db: float = Field(-2.0, ge=-20, le=30, description="lowest direct-to-reverberant ratio (dB)")
        max_drr_db: float = Field(8.0, ge=-20, le=30, description="highest direct-to-reverberant ratio (dB)")
        p: float = Field(0.3, ge=0.0, le=1.0, description="probability of applying it")

        check_rt60 = _range("min_rt60", "max_rt60")
        check_drr = _range("min_drr_db", "max_drr_db")

    def apply(self, y, sr, rng):
        import scipy.signal

        rt60 = _draw(rng, self.params.min_rt60, self.params.max_rt60)
        drr = _draw(rng, self.params.min_drr_db, self.params.max_drr_db)
        out = scipy.signal.fftconvolve(y, synthetic_rir(sr, rt60, drr, rng))[: len(y)]
        return (out * np.sqrt(active_power(y, sr) / active_power(out, sr))).astype(np.float32)  # same speech level


class Codec(Augmenter):
    """A lossy round trip: OGG/Vorbis or MP3 (soundfile), AAC in M4A, Opus in WebM or AMR-NB (FFmpeg), one chosen from `formats`."""

    name = "codec"

    class Params(Params):
        formats: list[Literal["ogg", "mp3", "aac", "opus", "amr"]] = Field(
            ["ogg", "mp3"], min_length=1,
            description="codecs, one chosen (aac: 64 kbit/s M4A; opus: 32 kbit/s WebM; amr: AMR-NB 12.2 kbit/s, 8 kHz)")
        p: float = Field(0.15, ge=0.0, le=1.0, description="probability of applying it")

    def apply(self, y, sr, rng):
        import soundfile as sf

        fmt = self.params.formats[int(rng.integers(len(self.params.formats)))]
        if fmt in ("aac", "opus", "amr"):
            from ser_framework import codec_round_trip

            return codec_round_trip(y, sr, fmt)
        buf = io.BytesIO()
        try:
            if fmt == "ogg":
                sf.write(buf, y, sr, format="OGG", subtype="VORBIS")
            else:
                sf.write(buf, y, sr, format="MP3", subtype="MPEG_LAYER_III")
            buf.seek(0)
            z, _ = sf.read(buf, dtype="float32", always_2d=True)
        except (RuntimeError, ValueError) as exc:  # libsndfile refuses the rate (e.g. MP3 above 48 kHz)
            raise SerError(f"augmenter 'codec': {fmt.upper()} round trip at {sr} Hz failed: {exc}") from None
        return np.ascontiguousarray(z.mean(axis=1), dtype=np.float32)


class Trim(Augmenter):
    """Cut leading and trailing silence (librosa.effects.trim, threshold drawn from a top_db range)."""

    name = "trim"

    class Params(Params):
        min_top_db: float = Field(25.0, ge=5, le=120, description="lowest threshold (dB below the peak)")
        max_top_db: float = Field(40.0, ge=5, le=120, description="highest threshold (dB below the peak)")
        p: float = Field(0.3, ge=0.0, le=1.0, description="probability of applying it")

        check_top_db = _range("min_top_db", "max_top_db")

    def apply(self, y, sr, rng):
        import librosa

        top_db = _draw(rng, self.params.min_top_db, self.params.max_top_db)
        frame, hop = max(2, int(0.025 * sr)), max(1, int(0.010 * sr))
        if len(y) < frame:
            return y
        _, (a, b) = librosa.effects.trim(y, top_db=top_db, frame_length=frame, hop_length=hop)
        return y if b - a < int(0.1 * sr) else y[a:b]  # never cut a clip below 0.1 s


class Pad(Augmenter):
    """Add leading and trailing room noise: pink noise at a level (dBFS) over the padded clip."""

    name = "pad"

    class Params(Params):
        min_seconds: float = Field(0.2, ge=0.0, le=10.0, description="shortest padding on each side (s)")
        max_seconds: float = Field(1.5, ge=0.0, le=10.0, description="longest padding on each side (s)")
        min_level_dbfs: float = Field(-75.0, ge=-120, le=0, description="lowest noise level (dBFS RMS)")
        max_level_dbfs: float = Field(-55.0, ge=-120, le=0, description="highest noise level (dBFS RMS)")
        p: float = Field(0.2, ge=0.0, le=1.0, description="probability of applying it")

        check_seconds = _range("min_seconds", "max_seconds")
        check_level = _range("min_level_dbfs", "max_level_dbfs")

    def apply(self, y, sr, rng):
        seconds = _draw(rng, self.params.min_seconds, self.params.max_seconds)
        level = _draw(rng, self.params.min_level_dbfs, self.params.max_level_dbfs)
        pad = np.zeros(int(seconds * sr), np.float32)
        z = np.concatenate([pad, np.asarray(y, np.float32), pad])
        return (z + colored_noise(len(z), rng) * np.float32(10 ** (level / 20))).astype(np.float32)


class Speed(Augmenter):
    """Another voice: play the clip faster or slower (resampling, as a tape would), which moves the pitch,
    the formants and the tempo together by the same factor, the way another speaker's vocal tract and
    speaking rate differ (Kaldi's speed perturbation)."""

    name = "speed"

    class Params(Params):
        min_factor: float = Field(0.9, ge=0.5, le=2.0, description="slowest speed (1 unchanged; 0.9 is 1.8 semitones lower)")
        max_factor: float = Field(1.1, ge=0.5, le=2.0, description="fastest speed")
        p: float = Field(0.5, ge=0.0, le=1.0, description="probability of applying it")

        check_factor = _range("min_factor", "max_factor")

    def apply(self, y, sr, rng):
        factor = _draw(rng, self.params.min_factor, self.params.max_factor)
        return _soxr(np.asarray(y, np.float32), sr * factor, sr)  # read as if recorded at sr * factor


class PitchShift(Augmenter):
    """Another voice at the same tempo: shift the pitch and formants by a number of semitones (audiomentations
    PitchShift, librosa's phase vocoder and resampling)."""

    name = "pitch_shift"

    class Params(Params):
        min_semitones: float = Field(-2.0, ge=-12, le=12, description="lowest shift (semitones)")
        max_semitones: float = Field(2.0, ge=-12, le=12, description="highest shift (semitones)")
        p: float = Field(0.5, ge=0.0, le=1.0, description="probability of applying it")

        check_semitones = _range("min_semitones", "max_semitones")

    def apply(self, y, sr, rng):
        shift = _draw(rng, self.params.min_semitones, self.params.max_semitones)
        return _audiomentations("PitchShift", y, sr, min_semitones=shift, max_semitones=shift)


class Quantize(Augmenter):
    """Clip to full scale and round to 16-bit PCM (what saving a WAV file does)."""

    name = "quantize"

    def apply(self, y, sr, rng):
        return quantize16(y)


WEBRTC_HINT = ("the augmenter 'webrtc' needs the optional package webrtc-noise-gain; "
               "install it with: pip install 'ser-framework[webrtc]'")
#: WebRTC's audio processing runs on 10-ms blocks of 16-kHz, 16-bit mono PCM
WEBRTC_RATE, WEBRTC_BLOCK = 16000, 160


def _require_webrtc():
    try:
        import webrtc_noise_gain
    except ImportError as exc:
        raise PluginError(WEBRTC_HINT) from exc
    return webrtc_noise_gain


class WebRTC(Augmenter):
    """What a browser's microphone capture does (Chromium's WebRTC processing): a level change with
    16-bit clipping, then WebRTC's high-pass filter, automatic gain and noise suppression
    (webrtc-noise-gain) on the band below 8 kHz; like WebRTC's split-band processing, the band above
    8 kHz (clips above 16 kHz) gets the same gain per 10 ms, so the clip keeps its bandwidth."""

    name = "webrtc"
    #: the processing lives in the package, so its version is part of the cache key of the output
    version = f"2+webrtc-noise-gain-{library_versions(('webrtc-noise-gain',))['webrtc-noise-gain']}"

    class Params(Params):
        min_gain_db: float = Field(0.0, ge=-40, le=40, description="lowest level change before processing (dB)")
        max_gain_db: float = Field(15.0, ge=-40, le=40, description="highest level change before processing (dB)")
        min_target_dbfs: int = Field(3, ge=1, le=31, description="lowest automatic-gain target (dB below full scale)")
        max_target_dbfs: int = Field(15, ge=1, le=31, description="highest automatic-gain target (dB below full scale)")
        noise_suppression: list[Literal[0, 1, 2, 3, 4]] = Field(
            [2, 3, 4], min_length=1, description="noise-suppression levels (0 off, 4 strongest), one chosen")
        p: float = Field(0.5, ge=0.0, le=1.0, description="probability of applying it")

        check_gain = _range("min_gain_db", "max_gain_db")
        check_target = _range("min_target_dbfs", "max_target_dbfs")

    def __init__(self, params=None):
        super().__init__(params)
        _require_webrtc()  # fail when the config is built, not in the middle of extraction

    def apply(self, y, sr, rng):
        gain = _draw(rng, self.params.min_gain_db, self.params.max_gain_db)
        target = int(rng.integers(self.params.min_target_dbfs, self.params.max_target_dbfs + 1))
        level = int(self.params.noise_suppression[int(rng.integers(len(self.params.noise_suppression)))])
        y = np.asarray(y, np.float32) * np.float32(10 ** (gain / 20))
        low = y if sr == WEBRTC_RATE else _soxr(y, sr, WEBRTC_RATE)
        pcm = quantize16(low)
        out = self._process(pcm, target, level)
        if sr <= WEBRTC_RATE or len(pcm) < WEBRTC_BLOCK:  # no band above 8 kHz, or not one 10-ms block
            return out if sr == WEBRTC_RATE else _fit(_soxr(out, WEBRTC_RATE, sr), len(y))
        # the band above 8 kHz, scaled by the processing's gain in each 10-ms block (as WebRTC's upper bands)
        blocks = len(pcm) // WEBRTC_BLOCK
        power = [np.mean(x[: blocks * WEBRTC_BLOCK].reshape(blocks, WEBRTC_BLOCK).astype(np.float64) ** 2, axis=1)
                 for x in (out, pcm)]
        block_gain = np.minimum(np.sqrt((power[0] + 1e-12) / (power[1] + 1e-12)), 10.0)
        centres = (np.arange(blocks) + 0.5) * WEBRTC_BLOCK / WEBRTC_RATE
        t = np.arange(len(y)) / sr
        high = y - _fit(_soxr(low, WEBRTC_RATE, sr), len(y))
        z = _fit(_soxr(out, WEBRTC_RATE, sr), len(y)) + high * np.interp(t, centres, block_gain).astype(np.float32)
        return quantize16(z)

    @staticmethod
    def _process(pcm: np.ndarray, target: int, level: int) -> np.ndarray:
        """WebRTC's processing of 16-kHz samples (already 16-bit values), 10 ms at a time."""
        ints = np.round(pcm * 32768).astype(np.int16)
        n = len(ints)
        ints = np.pad(ints, (0, -n % WEBRTC_BLOCK))
        processor = _require_webrtc().AudioProcessor(target, level)
        out = b"".join(processor.Process10ms(ints[i: i + WEBRTC_BLOCK].tobytes()).audio
                       for i in range(0, len(ints), WEBRTC_BLOCK))
        return np.frombuffer(out, np.int16)[:n].astype(np.float32) / 32768


def _fit(y: np.ndarray, n: int) -> np.ndarray:
    """``y`` cut or zero-padded to ``n`` samples (resampling can be off by one)."""
    return y[:n] if len(y) >= n else np.pad(y, (0, n - len(y)))


BUILT_IN = (Resample, Noise, Gain, Reverb, Codec, Trim, Pad, Speed, PitchShift, Quantize, WebRTC)


@hookimpl
def register_augmenters(register):
    for cls in BUILT_IN:
        register(cls)
