"""Timelines as text: a readable table and CSV for spreadsheets."""
from __future__ import annotations

import csv
from pathlib import Path


def clock(seconds: float) -> str:
    """``75.25`` -> ``'1:15.2'``; hours shown when needed (``'1:02:03.0'``)."""
    tenths = int(round(seconds * 10))
    h, rest = divmod(tenths, 36000)
    m, rest = divmod(rest, 600)
    s = rest / 10
    return f"{h}:{m:02d}:{s:04.1f}" if h else f"{m}:{s:04.1f}"


def table(tl, top: int = 3) -> str:
    """A fixed-width table of one timeline, with a summary line first."""
    label, probs = tl.overall()
    head = f"{tl.path}: {len(tl.segments)} speech segment{'s' if len(tl.segments) != 1 else ''}, " \
           f"{clock(tl.speech_duration)} of speech in {clock(tl.duration)}"
    if label is None:
        return head + "; no speech found\n"
    overall = ", ".join(f"{k} {v:.0%}" for k, v in list(probs.items())[:top])
    lines = [f"{head}; overall: {label} ({overall})", f"  {'start':>9}  {'end':>9}  {'emotion':<10} probabilities"]
    for s in tl.segments:
        p = ", ".join(f"{k} {v:.0%}" for k, v in list(s.probabilities.items())[:top])
        lines.append(f"  {clock(s.start):>9}  {clock(s.end):>9}  {s.label:<10} {p}")
    return "\n".join(lines) + "\n"


def write_csv(timelines, path) -> Path:
    """One row per segment of every timeline: ``path,start,end,label,<one column per label>``."""
    timelines = list(timelines)
    labels: list[str] = []
    for tl in timelines:
        labels += [lab for lab in tl.labels if lab not in labels]
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["path", "start", "end", "label", *labels], restval="")
        writer.writeheader()
        for tl in timelines:
            writer.writerows(tl.rows())
    return path
