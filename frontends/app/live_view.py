"""What the Live page shows, computed without Streamlit: the current state, the strip, the CSV."""
from __future__ import annotations

import html
from dataclasses import dataclass

from ser_frontends.app.logic import icon_for, title_for

#: an answer older than this (seconds of audio) no longer counts as "now"
STALE = 2.5
#: strip colours per emotion (others get grey-blue); silence is the strip's background
COLOURS = {"angry": "#d62728", "calm": "#17becf", "disgust": "#8c564b", "fearful": "#9467bd",
           "happy": "#ffbf00", "neutral": "#7f7f7f", "sad": "#1f77b4", "surprised": "#ff7f0e"}
OTHER_COLOUR = "#5f7f9f"
NO_SPEECH_COLOUR = "#d9d9d9"


@dataclass(frozen=True)
class LiveState:
    """The big line of the page: an emotion, or silence / listening."""

    title: str
    icon: str
    label: str | None = None
    at: str = ""  # the answered window's span, m:ss
    latency: float | None = None  # seconds from its last sample to the answer (server side)
    answered_at: float = 0.0
    index: int = -1


def current(recent, now: float, in_speech: bool) -> LiveState:
    """The state to show, from the analyser's recent answers and whether speech is going on now."""
    from ser_framework import clock

    last = next((r for r in reversed(recent) if r.status != "dropped"), None)
    fresh = last is not None and now - last.end <= STALE
    if last is not None and last.status == "ok" and (fresh or in_speech):
        return LiveState(title_for(last.label), icon_for(last.label), last.label,
                         f"{clock(last.start)}-{clock(last.end)}", last.latency, last.answered_at, last.index)
    if in_speech:
        return LiveState("Listening…", "hearing")
    return LiveState("Silence", "volume_off")


def strip_html(recent, now: float, seconds: float) -> str:
    """The last ``seconds`` as a bar: one coloured block per answered window, silence left blank."""
    start = max(0.0, now - seconds)
    blocks = []
    for r in recent:
        if r.status == "dropped" or r.end <= start:
            continue
        left = 100 * (max(r.start, start) - start) / seconds
        width = 100 * (r.end - max(r.start, start)) / seconds
        colour = COLOURS.get(r.label or "", OTHER_COLOUR) if r.status == "ok" else NO_SPEECH_COLOUR
        tip = html.escape(f"{title_for(r.label)} {r.confidence:.0%}" if r.status == "ok" else "no speech")
        blocks.append(f'<div title="{tip}" data-label="{html.escape(r.label or "")}" style="position:absolute;'
                      f'left:{left:.2f}%;width:{width:.2f}%;top:0;bottom:0;background:{colour};opacity:.75"></div>')
    return ('<div class="ser-live-strip" style="position:relative;height:1.6rem;background:#f3f3f3;'
            f'border-radius:4px;overflow:hidden">{"".join(blocks)}</div>'
            f'<div style="display:flex;justify-content:space-between;font-size:.75rem;color:#888">'
            f'<span>-{seconds:.0f} s</span><span>now</span></div>')


def timeline_csv(analyser) -> bytes:
    """The session's segments as CSV: ``start,end,label,<one column per label>``."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["start", "end", "label", *analyser.labels])
    for s in analyser.segments:
        writer.writerow([round(s.start, 3), round(s.end, 3), s.label,
                         *(round(s.probabilities[lab], 6) for lab in analyser.labels)])
    return out.getvalue().encode()
