"""The streaming emotion analyser behind ``ser predict --segments``, ``ser listen`` and the app's Live mode.

Audio goes in block by block, at any block size (a file read in 10-s blocks
and a microphone delivering 20-ms blocks give the same answers):

1. **Voice activity** (:class:`.vad.StreamingVad`) on 20-ms frame energies at
   the input's own rate: speech regions open and close as the audio arrives.
2. **Windows of speech**, planned as the regions grow: while a region is open,
   a window of ``window`` seconds every ``hop`` seconds from its start, each
   as soon as the region is known to reach its end; when the region closes, a
   last window ending at its end (or, for a region no longer than a window,
   one window centred on it, so the model sees the speech with the quiet
   around it, as in its training clips). Each window speaks for the stretch
   between the midpoints to its neighbours.
3. **Classification** through the bundle: the voice check of
   :mod:`ser_framework.voice` (a window without voiced speech gets no label and
   splits its region), ``pipeline.from_waveform`` and ``predict_features``,
   in batches.
4. **Smoothing**: each window's probabilities are the mean of its own and
   those of up to ``smooth - 1`` preceding windows of the same stretch of
   speech (causal, so the live answer needs no look-ahead).
5. **Segments**: when a region is complete, neighbouring windows with the same
   label merge into one :class:`Segment` (time-weighted mean probabilities).

Only the model-rate samples that a window still to come can need are held
(about ``window`` + 1 s), plus the windows of the open region: memory does not
grow with the length of the stream. :class:`ser_framework.timeline.live.LiveAnalyser`
classifies in a worker thread behind a bounded queue instead, dropping windows
(and counting them) when classification falls behind.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .segments import HOP, WINDOW, Segment, TimelineError, check_settings, ranked
from .vad import StreamingVad, VadParams, frame_energies

BATCH_SIZE = 64
#: a window shorter than this many samples (the stream ended first) is padded with zeros to it
MIN_SAMPLES = 64


@dataclass(frozen=True)
class WindowResult:
    """The answer for one analysis window. Times in seconds from the start of the stream.

    ``status`` is ``"ok"`` (``label`` and ``probabilities`` set, smoothed),
    ``"no_speech"`` (the voice check refused the window) or ``"dropped"``
    (classification fell behind and the window was skipped; live only).
    ``latency`` is the wall-clock time from the moment the window's last
    sample arrived to its answer (meaningful for real-time input);
    ``answered_at`` is when the answer was made (``time.monotonic()``).
    """

    index: int
    start: float
    end: float
    status: str
    label: str | None = None
    probabilities: dict[str, float] = field(default_factory=dict)
    latency: float = 0.0
    answered_at: float = 0.0

    @property
    def confidence(self) -> float:
        return self.probabilities.get(self.label, 0.0) if self.label else 0.0

    def as_dict(self) -> dict:
        out = {"start": round(self.start, 3), "end": round(self.end, 3), "status": self.status, "label": self.label}
        if self.label:
            out["probability"] = round(self.confidence, 6)
            out["probabilities"] = {k: round(v, 6) for k, v in self.probabilities.items()}
        return out


@dataclass
class _Window:
    index: int
    region: int
    start: float  # analysed span
    end: float
    arrived: float = 0.0  # wall time its last sample arrived
    own_start: float = 0.0  # the stretch of the timeline it speaks for (set when its region closes)
    own_end: float = 0.0


@dataclass
class _Job:
    window: _Window
    samples: np.ndarray


@dataclass
class _Region:
    index: int
    start: float
    end: float | None = None
    next_start: float = 0.0  # start of the next in-region window
    windows: list[_Window] = field(default_factory=list)
    answers: dict[int, tuple[str, np.ndarray | None]] = field(default_factory=dict)


class StreamAnalyser:
    """Emotion of a stream of audio, window by window (see the module docstring).

    Parameters
    ----------
    bundle : Bundle
        A loaded model bundle (anything with ``labels``, ``pipeline`` and ``predict_features``).
    sample_rate : int
        Rate of the audio passed to :meth:`feed` (Hz); it is resampled to the model's rate.
    window, hop : float
        Analysis window and hop (seconds).
    vad : VadParams, optional
    smooth : int
        Windows averaged per answer (1: none).
    batch_size : int
        Windows classified per call to the model.
    check_speech : bool
        Refuse windows without voiced speech.
    pool : concurrent.futures.Executor, optional
        Worker processes from :func:`ser_framework.parallel.fork_pool` forked with ``bundle`` as
        their state: the windows of each batch are split between them while this process reads
        on (same answers, released in order).
    workers : int
        How many processes ``pool`` has.
    """

    def __init__(self, bundle, sample_rate: int, *, window: float = WINDOW, hop: float = HOP,
                 vad: VadParams | None = None, smooth: int = 1, batch_size: int = BATCH_SIZE,
                 check_speech: bool = True, pool=None, workers: int = 1):
        check_settings(window=window, hop=hop, smooth=smooth, batch_size=batch_size)
        if int(sample_rate) < 1000:
            raise TimelineError(f"sample rate must be at least 1000 Hz, got {sample_rate}")
        self.bundle = bundle
        self.labels = list(bundle.labels)
        self.sample_rate = int(sample_rate)
        self.model_rate = int(bundle.pipeline.sample_rate)
        self.window, self.hop, self.smooth, self.batch_size = window, hop, smooth, batch_size
        self.check_speech = check_speech
        self._pool = pool
        self._workers = workers if pool is not None else 1
        self._pending: list[tuple[list, object]] = []  # (jobs, future) given to the pool, oldest first
        vad = vad or VadParams()
        self._frame_len = max(1, int(round(vad.frame * self.sample_rate)))
        self._vad = StreamingVad(VadParams(**{**vad.__dict__, "frame": self._frame_len / self.sample_rate}))
        self._rest = np.zeros(0, np.float32)
        self._resampler = None
        if self.model_rate != self.sample_rate:
            import soxr

            self._resampler = soxr.ResampleStream(self.sample_rate, self.model_rate, 1, dtype="float32", quality="HQ")
        self._buf = np.zeros(0, np.float32)
        self._buf_start = 0  # model-rate sample index of _buf[0]
        self._n_model = 0
        self._n_in = 0
        self._fed_at = 0.0
        self._lookback = window / 2 + vad.min_speech + vad.pad + 0.5
        self._region: _Region | None = None
        self._regions: dict[int, _Region] = {}  # regions with windows still to answer
        self._n_regions = 0
        self._ready: list[_Window] = []  # planned windows waiting for their samples
        self._n_windows = 0
        self._next_answer = 0
        self._early: dict[int, tuple] = {}  # answers waiting for an earlier window's
        self._recent: dict[int, list[np.ndarray]] = {}  # per stretch of speech: last answers for smoothing
        self._out: list[WindowResult] = []
        self.segments: list[Segment] = []
        self.dropped = 0
        self.finished = False

    def warm_up(self) -> None:
        """Run the model once on a second of synthetic audio, so the first real answer is not slowed by loading."""
        from ..voice import voice_stats

        y = (0.01 * np.random.default_rng(0).standard_normal(self.model_rate)).astype(np.float32)
        voice_stats(y, self.model_rate)
        self.bundle.predict_features(self.bundle.pipeline.from_waveform(y)[None, :])

    # --- input -------------------------------------------------------------------------------------

    @property
    def duration(self) -> float:
        """Seconds of audio fed so far."""
        return self._n_in / self.sample_rate

    @property
    def in_speech(self) -> bool:
        """Whether a speech region is open now."""
        return self._vad.opened is not None

    def feed(self, block: np.ndarray) -> list[WindowResult]:
        """Add mono float32 samples at ``sample_rate``; returns the answers that became ready."""
        block = np.asarray(block, dtype=np.float32).reshape(-1)
        self._fed_at = time.monotonic()
        self._n_in += block.shape[0]
        db, self._rest = frame_energies(np.concatenate((self._rest, block)), self._frame_len)
        closed = self._vad.push(db)
        model = block if self._resampler is None else self._resampler.resample_chunk(block)
        self._append(model)
        self._advance(closed)
        return self.results()

    def finish(self) -> list[WindowResult]:
        """End of the stream: close the open region, answer every window left; returns the last answers."""
        if self.finished:
            return self.results()
        self.finished = True
        if self._resampler is not None:
            self._append(self._resampler.resample_chunk(np.zeros(0, np.float32), last=True))
        if self._rest.size:
            pad = np.zeros(self._frame_len - self._rest.size, np.float32)
            db, _ = frame_energies(np.concatenate((self._rest, pad)), self._frame_len)
            self._vad.push(db)
        self._advance(self._vad.finish(self.duration), final=True)
        self._drain()
        return self.results()

    def results(self) -> list[WindowResult]:
        """The answers made since the last call, in window order."""
        out, self._out = self._out, []
        return out

    def _append(self, y: np.ndarray) -> None:
        if y.size:
            self._buf = np.concatenate((self._buf, y))
            self._n_model += y.shape[0]

    # --- windows -----------------------------------------------------------------------------------

    def _plan(self, region: _Region, start: float, end: float) -> None:
        w = _Window(self._n_windows, region.index, start, end)
        self._n_windows += 1
        region.windows.append(w)
        self._ready.append(w)

    def _advance(self, closed: list[tuple[float, float]], final: bool = False) -> None:
        for start, end in closed:
            region = self._region if self._region is not None and abs(self._region.start - start) < 1e-9 \
                else self._open(start)
            self._plan_open(region, end)
            self._close(region, end, final)
            self._region = None
        if self._vad.opened is not None:
            region = self._region if self._region is not None else self._open(self._vad.opened)
            self._region = region
            self._plan_open(region, self._vad.confirmed_until)
        self._submit_ready(final)
        self._trim()

    def _open(self, start: float) -> _Region:
        region = _Region(self._n_regions, start, next_start=start)
        self._n_regions += 1
        self._regions[region.index] = region
        return region

    def _plan_open(self, region: _Region, reach: float) -> None:
        """In-region windows of an open region that it is known to cover."""
        while region.next_start + self.window <= reach + 1e-9:
            self._plan(region, region.next_start, region.next_start + self.window)
            region.next_start += self.hop

    def _close(self, region: _Region, end: float, final: bool) -> None:
        region.end = end
        if not region.windows:
            centre = (region.start + end) / 2
            start = max(0.0, centre - self.window / 2)
            self._plan(region, start, start + self.window)
        elif region.windows[-1].end < end - 1e-6:
            self._plan(region, end - self.window, end)
        ws = region.windows
        centres = [(w.start + w.end) / 2 for w in ws]
        bounds = [region.start] + [(a + b) / 2 for a, b in zip(centres, centres[1:])] + [end]
        for k, w in enumerate(ws):
            w.own_start, w.own_end = bounds[k], bounds[k + 1]
        self._finalise(region)

    def _submit_ready(self, final: bool) -> None:
        have = self._n_model
        jobs = []
        while self._ready:
            w = self._ready[0]
            if final and w.end * self.model_rate > have:  # the stream ended: shift the window into it
                shift = min(w.start, w.end - have / self.model_rate)
                w.start, w.end = w.start - shift, w.end - shift
            s, e = int(round(w.start * self.model_rate)), int(round(w.end * self.model_rate))
            if e > have and not final:
                break
            self._ready.pop(0)
            w.arrived = self._fed_at - max(0.0, self.duration - w.end)
            y = self._buf[max(0, s - self._buf_start):max(0, e - self._buf_start)]
            if y.size < MIN_SAMPLES:
                y = np.pad(y, (0, MIN_SAMPLES - y.size))
            jobs.append(_Job(w, y.copy()))
        if jobs:
            self._submit(jobs)

    def _trim(self) -> None:
        """Drop the samples no window to come can need."""
        keep = self._n_model / self.model_rate - max(self.window, self._lookback)
        if self._ready:
            keep = min(keep, self._ready[0].start)
        if self._region is not None:  # its next window, or a window centred on it
            keep = min(keep, self._region.next_start if self._region.windows else self._region.start - self.window / 2)
        drop = int(keep * self.model_rate) - self._buf_start
        if drop > 0:
            self._buf = self._buf[drop:]
            self._buf_start += drop

    # --- classification ----------------------------------------------------------------------------

    def _submit(self, jobs: list[_Job]) -> None:
        """Classify now, in batches (the live analyser queues instead).

        With a pool, each batch is split between the workers and this process goes on decoding
        and finding speech while they classify; answers are collected as they finish (released
        in window order by :meth:`_answer`), and at most two batches per worker wait at a time.
        """
        for i in range(0, len(jobs), self.batch_size):
            batch = jobs[i:i + self.batch_size]
            if self._pool is None:
                for job, proba in zip(batch, self._classify([j.samples for j in batch])):
                    self._answer(job.window, "ok" if proba is not None else "no_speech", proba)
                continue
            n = min(self._workers, len(batch))
            for k in range(n):  # interleaved: neighbouring windows cost alike
                part = batch[k::n]
                self._pending.append((part, self._pool.submit(_classify_forked, [j.samples for j in part],
                                                              self.check_speech)))
            self._collect(wait_for=len(self._pending) - 2 * self._workers)
        self._collect(wait_for=0)

    def _collect(self, wait_for: int) -> None:
        """Answer the pool's finished parts in order, waiting for the first ``wait_for`` if need be."""
        while self._pending and (wait_for > 0 or self._pending[0][1].done()):
            part, future = self._pending.pop(0)
            wait_for -= 1
            for job, proba in zip(part, future.result()):
                self._answer(job.window, "ok" if proba is not None else "no_speech", proba)

    def _classify(self, waveforms: list[np.ndarray]) -> list[np.ndarray | None]:
        """Probabilities per waveform (``None``: no voiced speech), in this process."""
        return classify_waveforms(self.bundle, waveforms, self.check_speech)

    # --- answers, smoothing, segments -------------------------------------------------------------

    def _answer(self, w: _Window, status: str, proba: np.ndarray | None) -> None:
        """Record a window's outcome; answers are released in window order."""
        self._early[w.index] = (w, status, proba, time.monotonic())
        while self._next_answer in self._early:
            win, st, p, done = self._early.pop(self._next_answer)
            self._next_answer += 1
            self._release(win, st, p, done)

    def _release(self, w: _Window, status: str, proba, done: float) -> None:
        region = self._regions[w.region]
        recent = self._recent.setdefault(w.region, [])
        if status != "ok":
            recent.clear()  # a refused or dropped window splits the stretch of speech
            result = WindowResult(w.index, w.start, w.end, status, latency=done - w.arrived, answered_at=done)
        else:
            recent.append(proba)
            del recent[:-self.smooth]
            proba = np.mean(recent, axis=0)
            label, probs = ranked(self.labels, proba)
            result = WindowResult(w.index, w.start, w.end, status, label, probs, latency=done - w.arrived,
                                  answered_at=done)
        region.answers[w.index] = (status, proba if status == "ok" else None)
        self._out.append(result)
        self._finalise(region)

    def _finalise(self, region: _Region) -> None:
        """Once a closed region has every answer, turn it into segments and forget it."""
        if region.end is None or len(region.answers) < len(region.windows):
            return
        run: list[tuple[_Window, np.ndarray]] = []
        for w in region.windows:
            status, proba = region.answers[w.index]
            if status == "ok":
                run.append((w, proba))
            else:
                self.segments += merge_run(run, self.labels)
                run = []
        self.segments += merge_run(run, self.labels)
        del self._regions[region.index]
        self._recent.pop(region.index, None)

    def _drain(self) -> None:
        """Wait until every submitted window is answered (the live analyser waits for its worker)."""
        self._collect(wait_for=len(self._pending))


def merge_run(run: list[tuple], labels: list[str]) -> list[Segment]:
    """Segments of one stretch of consecutive answered windows: neighbours with one label merge.

    ``run`` holds ``(window, probabilities)`` pairs; a segment spans its windows'
    own stretches and its probabilities are their time-weighted mean.
    """
    segments: list[Segment] = []
    k = 0
    while k < len(run):
        top = int(np.argmax(run[k][1]))
        m = k
        while m < len(run) and int(np.argmax(run[m][1])) == top:
            m += 1
        ws = [w for w, _ in run[k:m]]
        weights = np.array([w.own_end - w.own_start for w in ws])
        mean = (np.stack([p for _, p in run[k:m]]) * weights[:, None]).sum(axis=0) / max(weights.sum(), 1e-12)
        label, probs = ranked(labels, mean)
        segments.append(Segment(ws[0].own_start, ws[-1].own_end, label, probs))
        k = m
    return segments


def classify_waveforms(bundle, waveforms: list[np.ndarray], check_speech: bool = True) -> list[np.ndarray | None]:
    """Probabilities per waveform at the bundle's rate (``None``: no voiced speech, when ``check_speech``)."""
    from ..spectral import AudioContext, single_threaded
    from ..voice import voice_stats

    rate = int(bundle.pipeline.sample_rate)
    with single_threaded():
        rows, where = [], []
        for k, y in enumerate(waveforms):
            ctx = AudioContext(y, rate)  # the check's spectra are the voice features' too
            if check_speech and not voice_stats(y, rate, context=ctx).is_speech:
                continue
            rows.append(bundle.pipeline.from_waveform(y, context=ctx))
            where.append(k)
        out: list[np.ndarray | None] = [None] * len(waveforms)
        if rows:
            for k, p in zip(where, np.asarray(bundle.predict_features(np.vstack(rows)))):
                out[k] = np.asarray(p, dtype=np.float64)
    return out


def _classify_forked(waveforms: list[np.ndarray], check_speech: bool) -> list[np.ndarray | None]:
    from ..parallel import fork_state

    return classify_waveforms(fork_state(), waveforms, check_speech)
