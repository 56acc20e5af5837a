"""Energy-based voice-activity detection on frame energies.

The detector works on short-frame energies (dB re full scale) rather than on
samples, so a whole hour is a small array (180 000 frames of 20 ms) and the
audio itself never has to be held in memory. It is causal (:class:`StreamingVad`):
the same decisions for a file and a live stream. The threshold adapts to the
noise floor: a low percentile of the frame energies in each second, then the
minimum of those over the past ``floor_span`` seconds, plus a margin. Frames
of digital silence are left out of the floor estimate, and the threshold never
drops below an absolute level, so silence and pauses are not called speech.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: frame energy assigned to digital silence (dBFS)
ENERGY_FLOOR_DB = -120.0


@dataclass(frozen=True)
class VadParams:
    """Settings of :func:`detect_speech` (seconds and dB)."""

    frame: float = 0.02
    margin_db: float = 12.0
    min_db: float = -60.0
    floor_percentile: float = 10.0
    floor_span: float = 30.0
    min_speech: float = 0.25
    min_silence: float = 0.5
    pad: float = 0.15

    def __post_init__(self):
        from ..errors import SerError

        if not 0.005 <= self.frame <= 0.1:
            raise SerError(f"VAD frame must be between 0.005 and 0.1 s, got {self.frame}")
        for name in ("min_speech", "min_silence", "pad"):
            if getattr(self, name) < 0:
                raise SerError(f"VAD {name} must be ≥ 0, got {getattr(self, name)}")


def frame_energies(y: np.ndarray, frame_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Energies (dBFS) of whole non-overlapping frames of ``y`` and the leftover samples.

    Feed the leftover back in front of the next block to analyse a stream.
    """
    n = (y.shape[0] // frame_length) * frame_length
    frames = y[:n].reshape(-1, frame_length).astype(np.float64, copy=False)
    power = np.mean(frames * frames, axis=1) if n else np.zeros(0)
    with np.errstate(divide="ignore"):
        db = 10.0 * np.log10(power)
    return np.maximum(db, ENERGY_FLOOR_DB), y[n:]


class StreamingVad:
    """Causal voice activity: frame energies in, speech regions out as soon as they are decided.

    The threshold follows the noise floor of the past only (so a live stream
    and a file read in blocks of any size get the same regions): the
    ``floor_percentile`` of the non-silent frame energies of each second, the
    minimum of those over the last ``floor_span`` seconds (the current second
    counts with the frames seen so far), plus ``margin_db``, and never below
    ``min_db``. Frames are decided in steps of 0.2 s. Runs of speech frames
    closer than ``min_silence`` are bridged, groups shorter than
    ``min_speech`` dropped, and each region padded by ``pad``.

    State: the floors of the last ``floor_span`` seconds and the open region,
    so memory does not grow with the length of the stream.
    """

    def __init__(self, params: VadParams | None = None):
        from collections import deque

        self.p = params or VadParams()
        self.frame = self.p.frame
        self._per = max(1, int(round(1.0 / self.frame)))  # frames per second
        self._step = max(1, self._per // 5)
        self._floors: deque = deque(maxlen=max(1, int(round(self.p.floor_span)) - 1))
        self._second: list[float] = []  # non-silent energies of the current second
        self._pending = np.zeros(0)
        self.n = 0  # frames decided
        self._gap = int(round(self.p.min_silence / self.frame))
        self._min_len = int(round(self.p.min_speech / self.frame))
        self._first: int | None = None  # first speech frame of the open group
        self._last = 0  # end (exclusive) of its last speech frame
        self._prev_end = 0.0
        self.opened: float | None = None  # start (s) of the open region once it is long enough

    @property
    def confirmed_until(self) -> float:
        """The open region reaches at least this far (seconds); 0 when none is open."""
        return self._last * self.frame + self.p.pad if self.opened is not None else 0.0

    def _floor_of(self, energies: list[float]) -> float:
        """The ``floor_percentile`` of ``energies`` (linear interpolation, as numpy's default); inf if empty."""
        if not energies:
            return np.inf
        a = np.sort(np.asarray(energies))
        pos = self.p.floor_percentile / 100 * (a.size - 1)
        lo = int(pos)
        return float(a[lo] + (a[min(lo + 1, a.size - 1)] - a[lo]) * (pos - lo))

    def _threshold(self) -> float:
        current = self._floor_of(self._second)
        floor = min([current, *self._floors])
        if not np.isfinite(floor):
            floor = self.p.min_db - self.p.margin_db
        return max(floor + self.p.margin_db, self.p.min_db)

    def push(self, energies: np.ndarray) -> list[tuple[float, float]]:
        """Feed frame energies (dBFS); returns the regions that closed, ``[(start, end), ...]`` in seconds."""
        self._pending = np.concatenate((self._pending, np.asarray(energies, dtype=np.float64)))
        closed: list[tuple[float, float]] = []
        while self._pending.size:
            room = min(self._step - self.n % self._step, self._per - self.n % self._per)
            if self._pending.size < room:
                break
            chunk, self._pending = self._pending[:room], self._pending[room:]
            self._second.extend(float(e) for e in chunk if e > ENERGY_FLOOR_DB + 1)
            threshold = self._threshold()
            for e in chunk:
                self._decide(e > threshold, closed)
            if self.n % self._per == 0:
                self._floors.append(self._floor_of(self._second))
                self._second = []
        return closed

    def _decide(self, active: bool, closed: list) -> None:
        i = self.n
        self.n += 1
        if active:
            if self._first is None:
                self._first = i
            self._last = i + 1
            if self.opened is None and self._last - self._first >= self._min_len:
                self.opened = max(self._prev_end, self._first * self.frame - self.p.pad)
        elif self._first is not None and self.n - self._last >= self._gap:
            self._close(self._last * self.frame + self.p.pad, closed)

    def _close(self, end: float, closed: list) -> None:
        if self.opened is not None:
            closed.append((self.opened, end))
            self._prev_end = end
        self._first, self.opened = None, None

    def finish(self, duration: float) -> list[tuple[float, float]]:
        """Decide the frames left over and close the open region at ``duration`` at the latest."""
        closed: list[tuple[float, float]] = []
        if self._pending.size:
            self._second.extend(float(e) for e in self._pending if e > ENERGY_FLOOR_DB + 1)
            threshold = self._threshold()
            for e in self._pending:
                self._decide(e > threshold, closed)
            self._pending = np.zeros(0)
        if self._first is not None:
            self._close(min(duration, self._last * self.frame + self.p.pad), closed)
        return closed


def detect_speech(energies: np.ndarray, params: VadParams | None = None) -> list[tuple[float, float]]:
    """Speech regions ``[(start, end), ...]`` in seconds from frame energies (dBFS)."""
    vad = StreamingVad(params)
    energies = np.asarray(energies, dtype=np.float64)
    return vad.push(energies) + vad.finish(energies.shape[0] * vad.frame)
