"""An emotion timeline for a recording of any length: its segments and how it is made.

The recording is decoded in blocks (:mod:`.stream`; memory is bounded by the
block size) and fed to the streaming analyser (:mod:`.analyser`): voice
activity, windows of speech about the length of the clips the model was
trained on, the voice check (a window without voiced speech gets no label),
classification in batches, and segments: within a region, neighbouring
windows with the same dominant emotion merge into one :class:`Segment`, whose
probabilities are the time-weighted mean of its windows'.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..audio import _name
from ..errors import SerError
from .stream import BLOCK_SECONDS, iter_blocks
from .vad import VadParams

#: decoded block length (s) when forked workers classify: more windows per batch to split
POOL_BLOCK_SECONDS = 60.0

#: analysis window and hop (seconds). RAVDESS clips, which the models learn from, last about 3.7 s
#: with speech in the middle: a short region is analysed in a 3.5-s window centred on it
WINDOW = 3.5
HOP = 1.5

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
        return ranked(self.labels, total / max(total.sum(), 1e-12))

    def as_dict(self) -> dict:
        return {"path": self.path, "segments": [s.as_dict() for s in self.segments]}

    def rows(self) -> list[dict]:
        """One flat row per segment (``path, start, end, label`` then one column per label)."""
        return [{"path": self.path, "start": round(s.start, 3), "end": round(s.end, 3), "label": s.label,
                 **{lab: round(s.probabilities[lab], 6) for lab in self.labels}} for s in self.segments]


def ranked(labels, proba) -> tuple[str, dict[str, float]]:
    order = np.argsort(-np.asarray(proba), kind="stable")
    return labels[order[0]], {labels[i]: float(proba[i]) for i in order}


def check_settings(*, window: float, hop: float, smooth: int, batch_size: int) -> None:
    """Raise :class:`TimelineError` for analysis settings out of range."""
    if not (0.25 <= window <= 60):
        raise TimelineError(f"window must be between 0.25 and 60 s, got {window:g}")
    if not (0 < hop <= window):
        raise TimelineError(f"hop must be > 0 and at most the window ({window:g} s), got {hop:g}")
    if smooth < 1 or batch_size < 1:
        raise TimelineError("smooth and batch_size must be at least 1")


def timeline(bundle, source, *, window: float = WINDOW, hop: float = HOP, vad: VadParams | None = None,
             smooth: int = 1, batch_size: int = 64, progress: Progress | None = None,
             name: str | None = None, check_speech: bool = True, workers: int | None = None) -> Timeline:
    """Emotion timeline of a recording of any length.

    The recording is decoded in blocks and fed to the streaming analyser
    (:class:`~ser_framework.timeline.analyser.StreamAnalyser`), the same one
    ``ser listen`` and the app's Live mode use, so a file and a live stream of
    the same audio get the same labels.

    Parameters
    ----------
    bundle : Bundle
        A loaded model bundle (:func:`ser_framework.bundle.load_bundle`).
    source : str, path-like, bytes or seekable binary file object
        The recording; there is no length limit, it is read in blocks.
    window, hop : float
        Analysis window length and step between windows (seconds).
    vad : VadParams, optional
        Voice-activity settings.
    smooth : int
        Windows averaged per answer (the current one and those before it; 1: none).
    batch_size : int
        Windows classified per call to the model.
    progress : callable, optional
        ``progress(done_seconds, total_seconds)``, called after each block.
    check_speech : bool
        Skip windows without voiced speech (see :mod:`ser_framework.voice`).
    workers : int, optional
        Processes that classify the windows (default: one per core, at most 4). They are forked
        from this process after the model is loaded (:func:`ser_framework.parallel.fork_pool`);
        where that is not safe (not Linux, other threads running, TensorFlow loaded) or with 1,
        this process does the work. The answers are the same either way.

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
    import contextlib
    import os

    from ..parallel import fork_pool
    from .analyser import StreamAnalyser

    check_settings(window=window, hop=hop, smooth=smooth, batch_size=batch_size)
    if workers is not None and workers < 1:
        raise TimelineError(f"workers must be at least 1, got {workers}")
    name = name or (str(source) if isinstance(source, (str, Path)) else _name(source))
    info: dict = {}
    analyser = None
    workers = min(os.cpu_count() or 1, 4) if workers is None else workers
    pool = fork_pool(bundle, workers)
    with pool if pool is not None else contextlib.nullcontext():
        # with workers, longer blocks: more windows per batch, fewer waits for the slowest worker
        for block in iter_blocks(source, info=info, block_seconds=BLOCK_SECONDS if pool is None else POOL_BLOCK_SECONDS):
            if analyser is None:
                analyser = StreamAnalyser(bundle, info["sample_rate"], window=window, hop=hop, vad=vad,
                                          smooth=smooth, batch_size=batch_size, check_speech=check_speech, pool=pool,
                                          workers=workers)
            analyser.feed(block)
            if progress:
                progress(min(analyser.duration, info["duration"]), info["duration"])
        if analyser is None:  # no samples: iter_blocks has raised for an empty file already
            return Timeline(name, info.get("duration", 0.0), bundle.labels)
        analyser.finish()
    if progress:
        progress(info["duration"], info["duration"])
    return Timeline(name, info["duration"], bundle.labels, analyser.segments)
