"""The one audio-loading path used by training, prediction, evaluation and the app.

Decoding is done with soundfile (WAV, FLAC, OGG, MP3 and more, any sample rate
and channel count; the extension does not matter) or, for the phone and browser
containers libsndfile cannot read (AAC in MP4/M4A/3GP, Opus in WebM, AMR, WMA),
with FFmpeg through PyAV (:mod:`ser_framework.audio_ffmpeg`); then mixed down to
mono and resampled. Every failure becomes a :class:`~ser_framework.errors.AudioError`
subclass with a message meant for a person.
"""
from __future__ import annotations

import contextlib
import io
import os
import sys
import threading
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
#: lowest source sample rate accepted (Hz); speech needs more bandwidth than this gives
MIN_SAMPLE_RATE = 4000
#: file name endings datasets list as audio (load_audio reads by content, these are the usual names)
AUDIO_SUFFIXES = (".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif", ".aifc", ".au", ".caf",
                  ".m4a", ".mp4", ".3gp", ".aac", ".webm", ".mka", ".amr", ".wma")


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


#: leading bytes of containers libsndfile recognises by their header (decoded without chatter)
_MAGIC = (b"RIFF", b"RIFX", b"RF64", b"fLaC", b"OggS", b"FORM", b"caff", b".snd", b"dns.", b"NIST", b"riff")


def _sniff(source) -> str | None:
    """``"container"`` for a header libsndfile knows, ``"ffmpeg:<container>"`` for a phone or browser
    one (:func:`ser_framework.audio_ffmpeg.sniff`), ``"mp3"`` for an MP3 one, ``None`` if unknown."""
    from .audio_ffmpeg import sniff as sniff_ffmpeg

    head = b""
    try:
        if isinstance(source, (str, os.PathLike)):
            with open(source, "rb") as f:
                head = f.read(12)
        elif hasattr(source, "read") and hasattr(source, "seek") and hasattr(source, "tell"):
            pos = source.tell()
            head = source.read(12)
            source.seek(pos)
    except (OSError, ValueError):
        return None
    if not isinstance(head, bytes):
        return None
    if head.startswith(_MAGIC):
        return "container"
    container = sniff_ffmpeg(head)
    if container:  # before MP3: an ADTS header has MP3's frame sync too
        return f"ffmpeg:{container}"
    if head.startswith(b"ID3") or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3"
    return None


_quiet_lock = threading.Lock()
_quiet_depth = 0
_quiet_saved: int | None = None


@contextlib.contextmanager
def _quiet_native_stderr(active: bool = True):
    """Silence C-level stderr (libmpg123 prints warnings when probing unknown or damaged data).

    libsndfile falls back to its MP3 decoder for content it does not recognise,
    and that decoder writes to file descriptor 2 directly, which would add lines
    to the one-line error of ``ser predict``. Reference-counted so concurrent
    decodes share one redirect and the original stderr always comes back.
    """
    global _quiet_depth, _quiet_saved
    if not active:
        yield
        return
    with _quiet_lock:
        if _quiet_depth == 0:
            try:
                sys.stderr.flush()
            except (AttributeError, OSError, ValueError):
                pass
            try:
                _quiet_saved = os.dup(2)
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 2)
                os.close(devnull)
            except OSError:
                _quiet_saved = None
        _quiet_depth += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_depth -= 1
            if _quiet_depth == 0 and _quiet_saved is not None:
                os.dup2(_quiet_saved, 2)
                os.close(_quiet_saved)
                _quiet_saved = None


def _check_path(source) -> None:
    path = Path(source)
    if not path.exists():
        raise AudioNotFoundError(f"file not found: {path}")
    if path.is_dir():
        raise AudioNotFoundError(f"{path} is a folder, not an audio file")
    if not path.is_file():
        raise NotAudioError(f"{path}: not a regular file (a pipe or device?)")
    if path.stat().st_size == 0:
        raise EmptyAudioError(f"{path}: the file is empty (0 bytes)")


@contextlib.contextmanager
def _decoder(source):
    """Open ``source`` (path, bytes or binary file object) as a SoundFile; map every failure.

    Yields the open SoundFile; C-level decoder chatter is silenced while it is in
    use when the content is not a container with a recognised header.
    """
    import soundfile as sf

    name = _name(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise EmptyAudioError(f"{name}: the file is empty (0 bytes)")
        source = io.BytesIO(bytes(source))
    elif isinstance(source, (str, os.PathLike)):
        _check_path(source)
    kind = _sniff(source)
    if kind is not None and kind.startswith("ffmpeg:"):
        from .audio_ffmpeg import FFmpegReader

        with FFmpegReader(source, name, kind.split(":", 1)[1]) as f:
            yield f
        return
    with _quiet_native_stderr(active=kind != "container"):
        try:
            f = sf.SoundFile(source)
        except sf.LibsndfileError as exc:
            detail = _detail(exc)
            if kind is None or "not recognised" in detail.lower():
                raise NotAudioError(f"{name}: not an audio file (format not recognised)") from None
            raise NotAudioError(f"{name}: not an audio file, or a damaged one ({detail})") from None
        except PermissionError:
            raise AudioNotFoundError(f"{name}: permission denied") from None
        except (RuntimeError, TypeError, ValueError) as exc:
            raise NotAudioError(f"{name}: not an audio file ({_detail(exc)})") from None
        except OSError as exc:
            raise AudioNotFoundError(f"{name}: cannot read the file ({exc.strerror or exc})") from None
        with f:
            yield f


def _detail(exc: Exception) -> str:
    """libsndfile's reason without its prefixes; misleading generic ones dropped."""
    text = str(exc).replace("Error :", "").strip()
    text = text.split(":")[-1].strip().rstrip(".")
    if not text or "does not exist" in text or "not a regular file" in text:
        return "unreadable"
    return text


def audio_info(source) -> AudioInfo:
    """Read only the header of ``source``."""
    with _decoder(source) as f:
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


def _read_mono(f, name: str, limit: int) -> np.ndarray:
    """Read at most ``limit`` frames block by block, checking and mixing down as it goes.

    Memory stays at the size of the mono result whatever the channel count, and a
    header that under-states the length cannot make us read more than ``limit``.
    """
    blocks, total = [], 0
    blocksize = 1 << 16
    try:
        while total < limit:
            block = f.read(min(blocksize, limit - total), dtype="float32", always_2d=True)
            if block.shape[0] == 0:
                break
            check_samples(block, name)
            blocks.append(to_mono(block))
            total += block.shape[0]
    except AudioError:
        raise
    except Exception as exc:  # truncated or corrupt data after a valid header
        raise NotAudioError(f"{name}: the audio data is damaged ({_detail(exc)})") from None
    if not blocks:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate(blocks) if len(blocks) > 1 else blocks[0]


def check_header(f, name: str) -> tuple[int, int]:
    """``(sample_rate, frames)`` of an open SoundFile, refusing too-low rates and empty files."""
    sr, frames = f.samplerate, f.frames
    if sr < MIN_SAMPLE_RATE:
        raise AudioError(f"{name}: sample rate {sr} Hz is too low (need at least {MIN_SAMPLE_RATE} Hz)")
    if frames <= 0:
        raise EmptyAudioError(f"{name}: the recording is empty (0 samples)")
    return sr, frames


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
        The recording. The format is detected from its content, not its name.
    sample_rate : int
        Target rate in Hz.
    min_duration, max_duration : float
        Accepted duration range in seconds; ``max_duration=None`` for no limit.
        A file longer than the limit is refused after reading only its header
        (and never more than ``max_duration`` seconds are decoded).
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
    with _decoder(source) as f:
        sr, frames = check_header(f, name)
        if max_duration is not None and frames / sr > max_duration:
            raise AudioTooLongError(
                f"{name}: too long: {frames / sr:.1f} s, the limit is {max_duration:g} s"
            )
        limit = frames if max_duration is None else min(frames, int(max_duration * sr) + 1)
        y = _read_mono(f, name, limit)
    if y.size == 0:
        raise EmptyAudioError(f"{name}: the recording is empty (0 samples)")
    duration = y.shape[0] / sr
    if max_duration is not None and duration > max_duration:
        raise AudioTooLongError(f"{name}: too long: more than {max_duration:g} s")
    if duration < min_duration:
        raise AudioTooShortError(
            f"{name}: too short: {duration:.2f} s, need at least {min_duration:g} s"
        )
    if reject_silence:
        level = peak_dbfs(y - y.mean())  # a constant (DC) offset is not sound
        if level < SILENCE_DBFS:
            raise NoSpeechError(
                f"{name}: no speech found: the recording is silent (peak {level:.0f} dBFS, "
                f"threshold {SILENCE_DBFS:g} dBFS)"
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
    "MIN_SAMPLE_RATE",
]
