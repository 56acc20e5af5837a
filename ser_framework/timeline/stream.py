"""Reading a recording of any length in blocks: decode, mix down, resample.

Memory is bounded by the block size, never by the length of the file. Decoding
goes through the same opener and checks as :func:`ser_framework.audio.load_audio`;
resampling uses a streaming soxr resampler (same ``HQ`` quality), so a block
boundary leaves no seam.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..audio import _decoder, _detail, _name, check_header, check_samples, to_mono
from ..errors import NotAudioError

#: seconds of audio decoded per block
BLOCK_SECONDS = 10.0


def rewind(source) -> None:
    """Put a file object back at its start so it can be read again."""
    if hasattr(source, "seek"):
        source.seek(0)


def iter_blocks(source, *, sample_rate: int | None = None, block_seconds: float = BLOCK_SECONDS,
                info: dict | None = None) -> Iterator[np.ndarray]:
    """Yield consecutive mono float32 blocks of ``source``.

    Parameters
    ----------
    source : str, path-like, bytes or binary file object
    sample_rate : int or None
        Resample to this rate (streaming); ``None`` keeps the file's own rate.
    block_seconds : float
        Length of each decoded block (the last one is shorter).
    info : dict, optional
        Filled with ``sample_rate`` (of the file), ``frames`` and ``duration``
        as soon as the header is read.

    Raises
    ------
    AudioError
        Not found, not audio, empty, damaged data or NaN/infinite samples.
    """
    name = _name(source)
    rewind(source)
    with _decoder(source) as f:
        sr, frames = check_header(f, name)
        if info is not None:
            info.update(sample_rate=sr, frames=frames, duration=frames / sr)
        stream = None
        if sample_rate is not None and sample_rate != sr:
            import soxr

            stream = soxr.ResampleStream(sr, sample_rate, 1, dtype="float32", quality="HQ")
        block = max(1, int(block_seconds * sr))
        read = 0
        while True:
            try:
                y = f.read(block, dtype="float32", always_2d=True)
            except Exception as exc:  # truncated data after a valid header
                raise NotAudioError(f"{name}: the audio data is damaged ({_detail(exc)})") from None
            last = y.shape[0] < block or read + y.shape[0] >= frames
            read += y.shape[0]
            if y.shape[0]:
                check_samples(y, name)
            y = to_mono(y)
            if stream is not None:
                y = stream.resample_chunk(y, last=last)
            if y.shape[0]:
                yield y
            if last:
                return
