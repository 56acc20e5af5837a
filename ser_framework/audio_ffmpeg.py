"""Phone and browser formats libsndfile cannot read, decoded with FFmpeg (PyAV).

Voice memos and recorder apps write AAC in MP4/M4A/3GP, browsers' MediaRecorder
writes Opus in WebM, phones still make AMR. :func:`ser_framework.audio.load_audio`
tries soundfile first; only a file that soundfile does not recognise *and* whose
first bytes name one of these containers (:func:`sniff`) is opened here, so text or
random bytes are never "decoded" by FFmpeg's permissive probing.
:class:`FFmpegReader` offers the part of ``soundfile.SoundFile`` the loaders use
(``samplerate``, ``frames``, ``channels``, ``format``, ``read``), so length limits,
sample checks, mixing down, resampling and block-wise reading stay the same code.
"""
from __future__ import annotations

import numpy as np

from .errors import NotAudioError, SerError

#: the containers recognised by their leading bytes (see :func:`sniff`), as a reader names them
CONTAINERS = {"mp4": "MP4", "matroska": "WebM", "adts": "ADTS", "amr": "AMR", "asf": "ASF"}
#: the longest recording of unknown length decoded whole, in seconds (MediaRecorder's WebM names none)
MAX_UNKNOWN_SECONDS = 4 * 3600


def sniff(head: bytes) -> str | None:
    """The container named by a file's first 12 bytes (a key of :data:`CONTAINERS`), or ``None``."""
    if len(head) >= 8 and head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free"):
        return "mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska"
    if head.startswith(b"#!AMR"):
        return "amr"
    if head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"):
        return "asf"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:  # ADTS sync, layer 0 (MP3 is 1-3)
        return "adts"
    return None


class FFmpegReader:
    """The first audio track of a file, read like a ``soundfile.SoundFile`` (float32 frames).

    ``frames`` comes from the container's stated duration when it has one (a
    few samples more or fewer are decoded than it says, as with MP3); without
    one the track is decoded whole on opening, up to :data:`MAX_UNKNOWN_SECONDS`.
    """

    def __init__(self, source, name: str, container: str = "mp4"):
        import av

        self._name = name
        try:
            self._container = av.open(source, mode="r")
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise NotAudioError(f"{name}: not an audio file, or a damaged one ({_reason(exc)})") from None
        try:
            streams = self._container.streams.audio
            if not streams:
                raise NotAudioError(f"{name}: the file holds no audio track")
            self._stream = streams[0]
            ctx = self._stream.codec_context
            self.samplerate = int(ctx.sample_rate or 0)
            self.channels = int(ctx.channels or 0) or 1
            self.format = f"{ctx.name.upper()} in {CONTAINERS.get(container, container)}"  # e.g. "AAC in MP4"
            self._resampler = av.AudioResampler(format="fltp")  # planar float32, same rate and layout
            self._blocks = self._decode()  # decoded (samples, channels) blocks, in order
            self._pending: list[np.ndarray] = []
            self._pending_n = 0
            self.frames = self._stated_frames()
            if self.frames <= 0 and self.samplerate > 0:  # no stated length: decode it all now
                limit = int(MAX_UNKNOWN_SECONDS * self.samplerate) + 1
                self._fill(limit)
                self.frames = self._pending_n
        except BaseException:
            self.close()
            raise

    def _stated_frames(self) -> int:
        s = self._stream
        if s.duration is not None and s.time_base is not None and s.duration > 0:
            seconds = float(s.duration * s.time_base)
        elif self._container.duration is not None and self._container.duration > 0:
            import av

            seconds = self._container.duration / av.time_base
        else:
            return 0
        return int(round(seconds * self.samplerate))

    def _decode(self):
        import av

        try:
            for frame in self._container.decode(self._stream):
                for out in self._resampler.resample(frame):
                    yield out.to_ndarray().T  # (samples, channels)
            for out in self._resampler.resample(None):
                yield out.to_ndarray().T
        except av.FFmpegError as exc:
            raise NotAudioError(f"{self._name}: the audio data is damaged ({_reason(exc)})") from None

    def _fill(self, n: int) -> None:
        while self._pending_n < n:
            block = next(self._blocks, None)
            if block is None:
                return
            self._pending.append(block)
            self._pending_n += block.shape[0]

    def read(self, frames: int, dtype: str = "float32", always_2d: bool = True) -> np.ndarray:
        """Up to ``frames`` more frames as a (frames, channels) array; fewer at the end, none after it."""
        self._fill(frames)
        if not self._pending:
            return np.zeros((0, self.channels), dtype=dtype)
        data = np.concatenate(self._pending) if len(self._pending) > 1 else self._pending[0]
        out, rest = data[:frames], data[frames:]
        self._pending, self._pending_n = ([rest], rest.shape[0]) if rest.shape[0] else ([], 0)
        out = np.ascontiguousarray(out, dtype=dtype)
        return out if always_2d or out.shape[1] > 1 else out[:, 0]

    def close(self) -> None:
        container = getattr(self, "_container", None)
        if container is not None:
            container.close()
            self._container = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


#: the files :func:`encode` makes: container, encoder, bit rate, the rates the encoder takes
ROUND_TRIPS = {
    "aac": ("ipod", "aac", 64_000, (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)),  # a voice memo
    "opus": ("webm", "libopus", 32_000, (8000, 12000, 16000, 24000, 48000)),  # a browser or messenger note
    "amr": ("amr", "libopencore_amrnb", 12_200, (8000,)),  # a phone call (AMR-NB, 8 kHz)
}


def encode(y: np.ndarray, sr: int, codec: str) -> tuple[bytes, int]:
    """``(file bytes, rate encoded at)``: ``y`` at ``sr`` (mono, or (frames, channels) mixed down) as a
    mono ``codec`` file (a key of :data:`ROUND_TRIPS`), as a phone or browser would save it.

    A rate the encoder does not take is resampled to the next one up (48 kHz at
    most), or to the highest it takes (AMR: 8 kHz).
    """
    import io

    import av

    from .audio import resample, to_mono

    container, encoder, bit_rate, rates = ROUND_TRIPS[codec]
    if encoder not in av.codecs_available:  # PyAV's wheels choose the encoders they bundle (18.1 dropped AMR-NB)
        raise SerError(f"this FFmpeg build (PyAV {av.__version__}) has no {encoder} encoder, so it cannot make "
                       f"{codec.upper()} files; the versions of the 'av' package that ser-framework requires have it")
    rate = sr if sr in rates else min([r for r in rates if r > sr] or [rates[-1]])
    x = np.ascontiguousarray(resample(to_mono(np.asarray(y)), sr, rate), dtype=np.float32)
    buf = io.BytesIO()
    with av.open(buf, "w", format=container) as out:
        stream = out.add_stream(encoder, rate=rate, layout="mono")
        stream.bit_rate = bit_rate
        frame = av.AudioFrame.from_ndarray(x[None, :], format="flt", layout="mono")
        frame.sample_rate = rate
        to_codec = av.AudioResampler(format=stream.codec_context.format.name, layout="mono", rate=rate,
                                     frame_size=stream.codec_context.frame_size or None)
        for chunk in [*to_codec.resample(frame), *to_codec.resample(None)]:
            out.mux(stream.encode(chunk))
        out.mux(stream.encode(None))
    return buf.getvalue(), rate


def round_trip(y: np.ndarray, sr: int, codec: str) -> np.ndarray:
    """``y`` (mono float32 at ``sr``) encoded as ``codec`` (:func:`encode`) and decoded back at ``sr``.

    The length differs by the codec's delay and padding, as a real file's would
    (AAC keeps its encoder delay of 1024 samples at the start).
    """
    import io

    from .audio import resample

    data, _ = encode(y, sr, codec)
    with FFmpegReader(io.BytesIO(data), f"{codec} round trip", sniff(data[:12]) or "mp4") as f:
        z, decoded_rate = f.read(1 << 62), f.samplerate  # Opus always decodes at 48 kHz
    return resample(np.ascontiguousarray(z.mean(axis=1), dtype=np.float32), decoded_rate, sr)


def _reason(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return text.split(":")[0].strip().rstrip(".").lower() or "unreadable"


__all__ = ["CONTAINERS", "FFmpegReader", "MAX_UNKNOWN_SECONDS", "ROUND_TRIPS", "encode", "round_trip", "sniff"]
