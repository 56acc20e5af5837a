"""The one audio-loading path used by training, prediction, evaluation and the app.

Decoding is done with soundfile (WAV, FLAC, OGG, MP3 and more, any sample rate
and channel count; the extension does not matter), then mixed down to mono and
resampled. Every failure becomes a :class:`~ser_framework.errors.AudioError`
subclass with a message meant for a person.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import (
    AudioError,
    AudioNotFoundError,
    AudioTooLongError,
    AudioTooShortError,
    EmptyAudioError,
    InvalidSamplesError,
    NoSpeechError,
    NotAudioError,
)

DEFAULT_SAMPLE_RATE = 22050
#: shortest clip accepted, in seconds (one 2048-sample analysis frame is 0.093 s)
MIN_DURATION = 0.1
#: longest clip accepted by default for single-clip prediction, in seconds
MAX_DURATION = 600.0
#: peak level below which a recording counts as silent (dBFS)
SILENCE_DBFS = -60.0


@dataclass(frozen=True)
class AudioInfo:
    """What the header says, before decoding."""

    sample_rate: int
    frames: int
    channels: int
    format: str

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def _name(source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    return getattr(source, "name", None) or "the upload"


def _open(source):
    """Open ``source`` (path, bytes or binary file object) as a SoundFile."""
    import soundfile as sf

    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise EmptyAudioError(f"{_name(source)}: the file is empty (0 bytes)")
        source = io.BytesIO(bytes(source))
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise AudioNotFoundError(f"file not found: {path}")
        if path.is_dir():
            raise AudioNotFoundError(f"{path} is a folder, not an audio file")
        if path.stat().st_size == 0:
            raise EmptyAudioError(f"{path}: the file is empty (0 bytes)")
    try:
        return sf.SoundFile(source)
    except sf.LibsndfileError as exc:
        detail = str(exc).split(":")[-1].strip().rstrip(".") or "unreadable"
        raise NotAudioError(f"{_name(source)}: not an audio file, or a damaged one ({detail})") from None
    except (RuntimeError, TypeError, ValueError) as exc:
        raise NotAudioError(f"{_name(source)}: not an audio file ({exc})") from None


def audio_info(source) -> AudioInfo:
    """Read only the header of ``source``."""
    with _open(source) as f:
        return AudioInfo(f.samplerate, f.frames, f.channels, f.format)


def check_samples(y: np.ndarray, name: str) -> None:
    if y.size == 0:
        raise EmptyAudioError(f"{name}: the recording is empty (0 samples)")
    if not np.all(np.isfinite(y)):
        kind = "NaN" if np.isnan(y).any() else "infinite values"
        raise InvalidSamplesError(f"{name}: contains invalid samples ({kind})")


def to_mono(y: np.ndarray) -> np.ndarray:
    """(frames, channels) or (frames,) -> (frames,) float32 by averaging channels."""
    if y.ndim == 2:
        y = y.mean(axis=1)
    return np.ascontiguousarray(y, dtype=np.float32)


def resample(y: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    if orig_sr == target_sr:
        return y
    import soxr

    return soxr.resample(y, orig_sr, target_sr, quality="HQ").astype(np.float32, copy=False)


def peak_dbfs(y: np.ndarray) -> float:
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    return 20.0 * np.log10(peak) if peak > 0 else float("-inf")


def load_audio(
    source,
    *,
    sample_rate: int = DEFAULT_SAMPLE_RATE,
    min_duration: float = MIN_DURATION,
    max_duration: float | None = MAX_DURATION,
    reject_silence: bool = True,
) -> np.ndarray:
    """Decode, check, mix down and resample one clip.

    Parameters
    ----------
    source : str, path-like, bytes or binary file object
        The recording. The format is detected from its content.
    sample_rate : int
        Target rate in Hz.
    min_duration, max_duration : float
        Accepted duration range in seconds; ``max_duration=None`` for no limit.
        A file longer than the limit is refused after reading only its header.
    reject_silence : bool
        Refuse recordings whose peak is below ``SILENCE_DBFS`` with
        :class:`NoSpeechError` instead of classifying silence.

    Returns
    -------
    np.ndarray
        Mono float32 samples at ``sample_rate``.

    Raises
    ------
    AudioError
        A subclass naming the problem: not found, not audio, empty, invalid
        samples, too short, too long, or silent.
    """
    name = _name(source)
    with _open(source) as f:
        sr, frames = f.samplerate, f.frames
        if frames <= 0:
            raise EmptyAudioError(f"{name}: the recording is empty (0 samples)")
        duration = frames / sr
        if max_duration is not None and duration > max_duration:
            raise AudioTooLongError(
                f"{name}: too long: {duration:.1f} s, the limit is {max_duration:g} s"
            )
        try:
            y = f.read(dtype="float32", always_2d=True)
        except Exception as exc:  # truncated data after a valid header
            raise NotAudioError(f"{name}: the audio data is damaged ({exc})") from None
    check_samples(y, name)
    if y.shape[0] / sr < min_duration:
        raise AudioTooShortError(
            f"{name}: too short: {y.shape[0] / sr:.2f} s, need at least {min_duration:g} s"
        )
    y = to_mono(y)
    if reject_silence and peak_dbfs(y) < SILENCE_DBFS:
        raise NoSpeechError(
            f"{name}: no speech found: the recording is silent (peak {peak_dbfs(y):.0f} dBFS)"
        )
    return resample(y, sr, sample_rate)


__all__ = [
    "AudioError",
    "AudioInfo",
    "audio_info",
    "load_audio",
    "to_mono",
    "resample",
    "check_samples",
    "MIN_DURATION",
    "MAX_DURATION",
    "DEFAULT_SAMPLE_RATE",
    "SILENCE_DBFS",
]
