"""Build a long test recording from separate clips, for checking a timeline.

Clips are written one after another with a pause of low noise between them,
block by block (nothing is held whole), and their spans are returned so a
timeline can be compared clip by clip (:func:`agreement`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..audio import load_audio


def stitch_clips(paths, out, *, sample_rate: int = 48000, gap: float | tuple[float, float] = (0.5, 2.0),
                 noise_dbfs: float = -70.0, seed: int = 0, repeat_until: float | None = None,
                 subtype: str | None = None) -> list[dict]:
    """Write ``paths`` (cycled until ``repeat_until`` seconds if given) into one file ``out``.

    Parameters
    ----------
    gap : float or (low, high)
        Pause before each clip in seconds (drawn uniformly from the range).
    noise_dbfs : float
        RMS level of the white noise filling the pauses (``-inf`` for digital silence).

    Returns
    -------
    list of dict
        ``{"path", "start", "end", "index"}`` per clip written (seconds).
    """
    import soundfile as sf

    rng = np.random.default_rng(seed)
    paths = [str(p) for p in paths]
    cache: dict[str, np.ndarray] = {}
    spans = []
    pos = 0
    amp = 0.0 if not np.isfinite(noise_dbfs) else 10 ** (noise_dbfs / 20)
    with sf.SoundFile(str(out), "w", samplerate=sample_rate, channels=1, subtype=subtype,
                      format=Path(out).suffix[1:].upper() or "WAV") as f:
        i = 0
        while True:
            if repeat_until is None and i >= len(paths):
                break
            if repeat_until is not None and pos / sample_rate >= repeat_until:
                break
            p = paths[i % len(paths)]
            if p not in cache:
                if len(cache) > 200:
                    cache.clear()
                cache[p] = load_audio(p, sample_rate=sample_rate, max_duration=None, reject_silence=False)
            clip = cache[p]
            g = gap if isinstance(gap, (int, float)) else rng.uniform(*gap)
            n_gap = int(g * sample_rate)
            f.write((amp * rng.standard_normal(n_gap)).astype(np.float32))
            pos += n_gap
            f.write(clip)
            spans.append({"path": p, "index": i, "start": pos / sample_rate, "end": (pos + clip.size) / sample_rate})
            pos += clip.size
            i += 1
        n_tail = int((gap if isinstance(gap, (int, float)) else gap[0]) * sample_rate)
        f.write((amp * rng.standard_normal(n_tail)).astype(np.float32))
    return spans


def dominant_label(segments, start: float, end: float) -> str | None:
    """The label covering most of ``[start, end]`` (``None`` if no segment overlaps it)."""
    cover: dict[str, float] = {}
    for s in segments:
        overlap = min(end, s.end) - max(start, s.start)
        if overlap > 0:
            cover[s.label] = cover.get(s.label, 0.0) + overlap
    return max(cover, key=cover.get) if cover else None


def agreement(segments, spans, clip_labels) -> dict:
    """Share of clips whose span is mostly labelled with the clip's own prediction."""
    hits = missed = 0
    for span, own in zip(spans, clip_labels):
        got = dominant_label(segments, span["start"], span["end"])
        missed += got is None
        hits += got == own
    n = len(spans)
    return {"n": n, "agree": hits, "agreement": hits / n if n else float("nan"), "no_speech_found": missed}
