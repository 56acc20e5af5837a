"""An emotion timeline for a recording of any length.

Two streaming passes over the file, each reading it in blocks:

1. **Voice activity** (:mod:`.vad`): short-frame energies at the file's own
   rate, an adaptive threshold, then speech regions (pauses bridged, clicks
   dropped). Only the energies are kept: 50 numbers per second.
2. **Classification**: the audio is resampled (streaming) to the model's rate;
   each speech region is cut into analysis windows about the length of the
   clips the model was trained on, each window becomes a feature row through
   ``bundle.pipeline.from_waveform`` and rows are classified in batches. Only
   the samples from the next pending window onwards are held. A window
   without voiced speech (:func:`ser_framework.voice.voice_stats`, the check
   single-clip prediction uses: noise, a tone, hum, clicks) is skipped before
   its features are computed, and splits its region, so such stretches get no
   label (about 4 ms per 3.5-s window).

Within a region, neighbouring windows with the same dominant emotion are
merged into one :class:`Segment`; the segment's probabilities are the
time-weighted mean of its windows'.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..audio import _name
from ..errors import SerError
from .stream import iter_blocks
from .vad import VadParams, detect_speech, frame_energies

#: analysis window and hop (seconds). RAVDESS clips, which the models learn from, last about 3.7 s
#: with speech in the middle: a short region is analysed in a 3.5-s window centred on it
WINDOW = 3.5
HOP = 1.5
BATCH_SIZE = 64

Progress = Callable[[float, float], None]


class TimelineError(SerError):
    """Invalid timeline settings."""


@dataclass(frozen=True)
class Segment:
    """A stretch of speech with one dominant emotion. Times in seconds."""

    start: float
    end: float
    label: str
    probabilities: dict[str, float]  # highest first

    @property
    def duration(self) -> float:
        return self.end - self.start

    def as_dict(self) -> dict:
        return {"start": round(self.start, 3), "end": round(self.end, 3), "label": self.label,
                "probabilities": {k: round(v, 6) for k, v in self.probabilities.items()}}


@dataclass
class Timeline:
    """The result for one recording."""

    path: str
    duration: float
    labels: list[str]
    segments: list[Segment] = field(default_factory=list)

    @property
    def speech_duration(self) -> float:
        return sum(s.duration for s in self.segments)

    def overall(self) -> tuple[str, dict[str, float]] | tuple[None, dict]:
        """Dominant emotion over the whole recording: the duration-weighted mean of the segments."""
        if not self.segments:
            return None, {}
        total = np.zeros(len(self.labels))
        for s in self.segments:
            total += s.duration * np.array([s.probabilities[lab] for lab in self.labels])
        return _ranked(self.labels, total / max(total.sum(), 1e-12))

    def as_dict(self) -> dict:
        return {"path": self.path, "segments": [s.as_dict() for s in self.segments]}

    def rows(self) -> list[dict]:
        """One flat row per segment (``path, start, end, label`` then one column per label)."""
        return [{"path": self.path, "start": round(s.start, 3), "end": round(s.end, 3), "label": s.label,
                 **{lab: round(s.probabilities[lab], 6) for lab in self.labels}} for s in self.segments]


def _ranked(labels, proba) -> tuple[str, dict[str, float]]:
    order = np.argsort(-np.asarray(proba), kind="stable")
    return labels[order[0]], {labels[i]: float(proba[i]) for i in order}


@dataclass(frozen=True)
class _Window:
    region: int
    start: float  # analysed span
    end: float
    own_start: float  # the part of the timeline this window speaks for
    own_end: float


def plan_windows(regions, *, window: float = WINDOW, hop: float = HOP, duration: float) -> list[_Window]:
    """Analysis windows for speech regions.

    A region no longer than ``window`` gets one window of ``window`` seconds
    centred on it (so the model sees the speech with the quiet around it, as in
    its training clips). A longer region gets evenly spaced windows, at most
    ``hop`` apart, the first starting at the region's start and the last ending
    at its end; each window speaks for the stretch between the midpoints to
    its neighbours.
    """
    out: list[_Window] = []
    for r, (s, e) in enumerate(regions):
        length = e - s
        if length <= window:
            c = (s + e) / 2
            ws = max(0.0, min(c - window / 2, duration - window))
            out.append(_Window(r, ws, min(duration, ws + window), s, e))
            continue
        n = math.ceil((length - window) / hop) + 1
        step = (length - window) / (n - 1)
        starts = [s + k * step for k in range(n)]
        centres = [st + window / 2 for st in starts]
        bounds = [s] + [(a + b) / 2 for a, b in zip(centres, centres[1:])] + [e]
        for k, st in enumerate(starts):
            out.append(_Window(r, st, st + window, bounds[k], bounds[k + 1]))
    return out


def merge_windows(windows: list[_Window], proba: np.ndarray, labels: list[str], *,
                  smooth: int = 1) -> list[Segment]:
    """Group consecutive windows of one region that share a dominant emotion.

    ``smooth`` > 1 first averages each window's probabilities with its
    neighbours in the same region (a centred moving mean of that many windows).
    """
    segments: list[Segment] = []
    proba = np.asarray(proba, dtype=np.float64)
    i = 0
    while i < len(windows):
        j = i
        while j < len(windows) and windows[j].region == windows[i].region:
            j += 1
        p = proba[i:j]
        if smooth > 1 and len(p) > 2:
            half = smooth // 2
            p = np.stack([p[max(0, k - half):k + half + 1].mean(axis=0) for k in range(len(p))])
        top = p.argmax(axis=1)
        k = 0
        while k < len(p):
            m = k
            while m < len(p) and top[m] == top[k]:
                m += 1
            ws = windows[i + k:i + m]
            weights = np.array([w.own_end - w.own_start for w in ws])
            mean = (p[k:m] * weights[:, None]).sum(axis=0) / max(weights.sum(), 1e-12)
            label, probs = _ranked(labels, mean)
            segments.append(Segment(ws[0].own_start, ws[-1].own_end, label, probs))
            k = m
        i = j
    return segments


def find_speech(source, vad: VadParams | None = None, *, info: dict | None = None,
                progress: Progress | None = None, scale: float = 1.0) -> list[tuple[float, float]]:
    """Speech regions (seconds) of ``source``, read in blocks at its own rate."""
    vad = vad or VadParams()
    info = {} if info is None else info
    energies, rest, done = [], None, 0.0
    frame_len = None
    for block in iter_blocks(source, info=info):
        if frame_len is None:
            frame_len = max(1, int(round(vad.frame * info["sample_rate"])))
        y = block if rest is None or rest.size == 0 else np.concatenate((rest, block))
        db, rest = frame_energies(y, frame_len)
        energies.append(db.astype(np.float32))
        done += block.shape[0] / info["sample_rate"]
        if progress:
            progress(done * scale, info["duration"])
    if rest is not None and rest.size:
        db, _ = frame_energies(np.concatenate((rest, np.zeros(frame_len - rest.size, np.float32))), frame_len)
        energies.append(db.astype(np.float32))
    frame = frame_len / info["sample_rate"]
    params = VadParams(**{**vad.__dict__, "frame": frame})
    regions = detect_speech(np.concatenate(energies) if energies else np.zeros(0), params)
    return [(float(s), float(min(e, info["duration"]))) for s, e in regions if s < info["duration"]]


def timeline(bundle, source, *, window: float = WINDOW, hop: float = HOP, vad: VadParams | None = None,
             smooth: int = 1, batch_size: int = BATCH_SIZE, progress: Progress | None = None,
             name: str | None = None, check_speech: bool = True) -> Timeline:
    """Emotion timeline of a recording of any length.

    Parameters
    ----------
    bundle : Bundle
        A loaded model bundle (:func:`ser_framework.bundle.load_bundle`).
    source : str, path-like, bytes or seekable binary file object
        The recording; there is no length limit, it is read in blocks.
    window, hop : float
        Analysis window length and largest step between windows (seconds).
    vad : VadParams, optional
        Voice-activity settings.
    smooth : int
        Moving-mean width over neighbouring windows before labelling (1: none).
    batch_size : int
        Windows classified per call to the model.
    progress : callable, optional
        ``progress(done_seconds, total_seconds)``, called after each block;
        ``done`` rises to ``total`` over both passes (the voice-activity pass
        counts for a tenth).
    check_speech : bool
        Skip windows without voiced speech (see :mod:`ser_framework.voice`).

    Returns
    -------
    Timeline
        ``segments`` is empty when no speech was found.

    Raises
    ------
    AudioError
        The file cannot be read (same messages as single-clip prediction).
    TimelineError
        Invalid settings.
    """
    if not (0.25 <= window <= 60):
        raise TimelineError(f"window must be between 0.25 and 60 s, got {window:g}")
    if not (0 < hop <= window):
        raise TimelineError(f"hop must be > 0 and at most the window ({window:g} s), got {hop:g}")
    if smooth < 1 or batch_size < 1:
        raise TimelineError("smooth and batch_size must be at least 1")
    name = name or (str(source) if isinstance(source, (str, Path)) else _name(source))
    info: dict = {}
    first = 0.1
    regions = find_speech(source, vad, info=info, scale=first,
                          progress=None if progress is None else progress)
    duration = info["duration"]
    result = Timeline(name, duration, bundle.labels)
    windows = plan_windows(regions, window=window, hop=hop, duration=duration)
    if not windows:
        if progress:
            progress(duration, duration)
        return result
    sr = bundle.pipeline.sample_rate
    proba, voiced = _classify(bundle, source, windows, sr, batch_size,
                              None if progress is None else (lambda d, t: progress(t * first + d * (1 - first), t)),
                              duration, check_speech)
    result.segments = merge_windows(_split_at_refused(windows, voiced), proba, bundle.labels, smooth=smooth)
    if progress:
        progress(duration, duration)
    return result


def _split_at_refused(windows: list[_Window], voiced: list[bool]) -> list[_Window]:
    """The windows with voiced speech; a refused window ends its region (so no segment spans it)."""
    import dataclasses

    kept, region, prev = [], -1, None
    for w, ok in zip(windows, voiced):
        if not ok:
            prev = None
            continue
        if prev is None or w.region != prev:
            region += 1
        prev = w.region
        kept.append(dataclasses.replace(w, region=region))
    return kept


def _classify(bundle, source, windows, sr, batch_size, progress, duration,
              check_speech: bool = True) -> tuple[np.ndarray, list[bool]]:
    """Stream ``source`` at ``sr`` and classify each window with voiced speech.

    Returns the probabilities of the windows classified (in order) and, per
    window, whether it was (``False``: no voiced speech, skipped).
    """
    from ..voice import voice_stats

    spans = [(int(round(w.start * sr)), int(round(w.end * sr))) for w in windows]
    rows, out, voiced = [], [], []
    buf = np.zeros(0, np.float32)
    buf_start = 0  # absolute sample index of buf[0]
    nxt = 0
    total = 0
    pipeline = bundle.pipeline

    def flush():
        if rows:
            out.append(np.asarray(bundle.predict_features(np.vstack(rows))))
            rows.clear()

    blocks = iter_blocks(source, sample_rate=sr)
    ended = False
    while nxt < len(spans):
        block = next(blocks, None)
        if block is None:
            ended = True
        else:
            total += block.shape[0]
            keep_from = max(buf_start, min(spans[nxt][0], total))
            buf = np.concatenate((buf[keep_from - buf_start:], block[max(0, keep_from - (total - block.shape[0])):]))
            buf_start = keep_from
        while nxt < len(spans) and (spans[nxt][1] <= total or ended):
            s, e = spans[nxt]
            y = buf[max(0, s - buf_start):max(0, e - buf_start)]
            if y.size < 64:  # the file ended before a window's first frame: nothing to analyse
                y = np.zeros(64, np.float32) if y.size == 0 else np.pad(y, (0, 64 - y.size))
            nxt += 1
            voiced.append(not check_speech or voice_stats(y, sr).is_speech)
            if not voiced[-1]:
                continue
            rows.append(pipeline.from_waveform(y))
            if len(rows) >= batch_size:
                flush()
        if nxt < len(spans):
            drop = min(spans[nxt][0], total) - buf_start
            if drop > 0:
                buf, buf_start = buf[drop:], buf_start + drop
        if progress:
            progress(min(total / sr, duration), duration)
        if ended:
            break
    blocks.close()
    flush()
    return (np.vstack(out) if out else np.zeros((0, len(bundle.labels)))), voiced
