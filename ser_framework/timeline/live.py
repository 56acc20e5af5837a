"""Live analysis: the streaming analyser with classification in a worker thread behind a bounded queue.

:meth:`LiveAnalyser.feed` only measures voice activity and cuts windows (cheap,
fine for an audio callback); a worker thread classifies them. When the worker
falls behind and the queue is full, the oldest waiting window is dropped: it
is answered with ``status="dropped"``, counted in :attr:`LiveAnalyser.dropped`,
and the stream never lags further and further behind. Answers are kept for the
last ``keep_seconds`` only (:meth:`LiveAnalyser.recent`); the segments of the
session so far are in ``segments``.

:func:`play` feeds a recording through the same path at real-time speed (or as
fast as possible), for testing and demonstrating without a microphone.
"""
from __future__ import annotations

import collections
import threading
import time

from .analyser import StreamAnalyser, WindowResult
from .stream import iter_blocks

#: windows that may wait for the classifier before the oldest is dropped
QUEUE_SIZE = 2


class LiveAnalyser(StreamAnalyser):
    """A :class:`StreamAnalyser` for real-time input; thread-safe (see the module docstring).

    Parameters
    ----------
    queue_size : int
        Windows waiting for the classifier at most.
    keep_seconds : float
        How far back :meth:`recent` reaches.
    on_result : callable, optional
        Called (in the worker thread) with each :class:`WindowResult`.
    """

    def __init__(self, bundle, sample_rate: int, *, queue_size: int = QUEUE_SIZE, keep_seconds: float = 60.0,
                 on_result=None, **kwargs):
        super().__init__(bundle, sample_rate, **kwargs)
        self.queue_size = max(1, int(queue_size))
        self.keep_seconds = keep_seconds
        self.on_result = on_result
        self._queue: collections.deque = collections.deque()
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._busy = False
        self._stopped = False
        self._window_answers: collections.deque = collections.deque()
        self._worker = threading.Thread(target=self._work, name="ser-live-classifier", daemon=True)
        self._worker.start()

    def feed(self, block) -> list[WindowResult]:
        with self._lock:
            return super().feed(block)

    def finish(self) -> list[WindowResult]:
        with self._lock:
            out = super().finish()
            self._stopped = True
            self._wake.notify_all()
        self._worker.join()
        return out + self.results()

    def close(self) -> None:
        """Stop the worker without answering the windows still waiting."""
        with self._lock:
            self._queue.clear()
            self._stopped = True
            self._wake.notify_all()
        self._worker.join()

    def results(self) -> list[WindowResult]:
        with self._lock:
            return super().results()

    def recent(self) -> list[WindowResult]:
        """The answers of the last ``keep_seconds`` (oldest first)."""
        with self._lock:
            return list(self._window_answers)

    def _submit(self, jobs) -> None:  # called with the lock held
        for job in jobs:
            self._queue.append(job)
            while len(self._queue) > self.queue_size:
                old = self._queue.popleft()
                self.dropped += 1
                self._answer(old.window, "dropped", None)
        self._wake.notify_all()

    def _drain(self) -> None:  # called with the lock held by finish()
        while self._queue or self._busy:
            self._wake.wait()

    def _release(self, w, status, proba, done) -> None:
        super()._release(w, status, proba, done)
        result = self._out[-1]
        self._window_answers.append(result)
        while self._window_answers and self._window_answers[0].end < result.end - self.keep_seconds:
            self._window_answers.popleft()
        if self.on_result is not None:
            self.on_result(result)

    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._stopped:
                    self._wake.wait()
                if not self._queue:
                    return
                jobs = [self._queue.popleft() for _ in range(len(self._queue))]
                self._busy = True
            try:
                answers = self._classify([j.samples for j in jobs])
            finally:
                with self._lock:
                    for job, proba in zip(jobs, answers):
                        self._answer(job.window, "ok" if proba is not None else "no_speech", proba)
                    self._busy = False
                    self._wake.notify_all()


def play(analyser: StreamAnalyser, source, *, realtime: bool = True, block_seconds: float = 0.1,
         stop: threading.Event | None = None):
    """Feed ``source`` (a path, bytes or file object) to ``analyser`` block by block; yield answers as they come.

    The recording is resampled to the analyser's ``sample_rate`` if it differs
    (make the analyser at the file's own rate, ``audio_info(source).sample_rate``,
    to get exactly the answers of ``ser predict --segments``). With
    ``realtime``, blocks are fed at the pace of the recording, as a microphone
    would deliver them; ``stop`` ends early. The analyser is finished at the end.
    """
    start = time.monotonic()
    fed = 0.0
    for block in iter_blocks(source, sample_rate=analyser.sample_rate, block_seconds=block_seconds):
        if stop is not None and stop.is_set():
            break
        fed += block.shape[0] / analyser.sample_rate
        if realtime:
            delay = start + fed - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        yield from analyser.feed(block)
    yield from analyser.finish()
