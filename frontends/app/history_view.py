"""What the history page shows, without Streamlit: day bounds in the viewer's time zone, one page of the
table, the clips per day and their chart (an SVG image drawn here, so the browser loads no chart code)."""
from __future__ import annotations

import html
from collections import Counter
from datetime import date, datetime, time, timedelta, tzinfo

from ser_frontends.app.live_view import COLOURS, OTHER_COLOUR
from ser_frontends.app.logic import percent, title_for

#: entries in one page of the table
PAGE_SIZE = 50
#: the chart's drawing area in SVG units (it is scaled to the page's width)
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 700, 200, 34, 20, 8


def timezone(name: str | None) -> tzinfo:
    """The browser's time zone (an IANA name), else the server's."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name) if name else datetime.now().astimezone().tzinfo
    except (ZoneInfoNotFoundError, ValueError):
        return datetime.now().astimezone().tzinfo


def day_of(t: float, tz: tzinfo) -> date:
    return datetime.fromtimestamp(t, tz).date()


def day_bounds(first: date, last: date, tz: tzinfo) -> tuple[float, float]:
    """``(start, end)`` in seconds since the epoch: from ``first`` 00:00 up to (not including) the day after ``last``."""
    start = datetime.combine(first, time(), tz)
    end = datetime.combine(last + timedelta(days=1), time(), tz)
    return start.timestamp(), end.timestamp()


def pages(count: int) -> int:
    """How many table pages ``count`` entries fill (at least one)."""
    return max(1, -(-count // PAGE_SIZE))


def table_html(rows, tz: tzinfo) -> str:
    """One page of ``UserData.summary_rows`` as an HTML table: number, time, emotion, its probability, note."""
    head = "".join(f"<th>{h}</th>" for h in ("Entry", "Time", "Emotion", "Probability", "Note"))
    body = "".join(
        f"<tr><td>{r[0]}</td><td>{datetime.fromtimestamp(r[1], tz):%Y-%m-%d %H:%M}</td>"
        f"<td>{html.escape(title_for(r[2]))}</td><td>{percent(r[3] or 0.0)}</td><td>{html.escape(r[4] or '')}</td></tr>"
        for r in rows)
    return ('<style>.ser-history-table{width:100%;border-collapse:collapse;font-size:.875rem}'
            '.ser-history-table th,.ser-history-table td{text-align:left;padding:.25rem .5rem;'
            'border-bottom:1px solid rgba(128,128,128,.25)}.ser-history-table td:first-child,'
            '.ser-history-table td:nth-child(4){font-variant-numeric:tabular-nums}</style>'
            f'<table class="ser-history-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>')


def daily_counts(pairs, tz: tzinfo, first: date, last: date) -> dict[date, Counter]:
    """Clips per emotion on every day from ``first`` to ``last``, from ``UserData.emotion_times`` pairs."""
    days = {first + timedelta(days=i): Counter() for i in range((last - first).days + 1)}
    for t, emotion in pairs:
        day = day_of(t, tz)
        if day in days:
            days[day][emotion] += 1
    return days


def _x_ticks(days: list[date]) -> list[int]:
    """Up to 6 evenly spaced day indices to label."""
    step = max(1, -(-len(days) // 6))
    return list(range(0, len(days), step))


def _bars_svg(counts: dict[date, Counter], emotions: list[str], top: int) -> str:
    """Stacked bars per day, axes and dates as an SVG document (no text from the user in it).

    The bars are drawn in day and clip units (one transform scales them to the drawing area), which keeps
    the SVG small: about 60 kB for a year of days with every emotion on every day.
    """
    days = list(counts)
    bar, scale = (WIDTH - LEFT) / max(1, len(days)), (HEIGHT - BOTTOM - TOP) / top
    w = min(0.85, 24 / bar)  # a bar is at most 24 units wide (a day or a few of them fill no whole chart)
    paths = {e: [] for e in emotions}
    for i, c in enumerate(counts.values()):
        base = 0
        for e in emotions:
            if c[e]:
                paths[e].append(f"M{i + (0.85 - w) / 2:g} {base}h{w:.3g}v{c[e]}h-{w:.3g}z")
                base += c[e]
    label = "%d %b %Y" if len(days) > 60 else "%d %b"
    axis = [f'<line x1="{LEFT}" x2="{WIDTH}" y1="{y:.1f}" y2="{y:.1f}" stroke="#8888"/>'
            f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">{n}</text>'
            for n in sorted({0, top // 2, top}) for y in [HEIGHT - BOTTOM - n * scale]]
    axis += [f'<text x="{LEFT + (i + 0.425) * bar:.1f}" y="{HEIGHT - 4}" text-anchor="middle">{days[i]:{label}}</text>'
             for i in _x_ticks(days)]  # under the middle of the day's bar
    bars = [f'<path fill="{COLOURS.get(e, OTHER_COLOUR)}" d="{"".join(p)}"/>' for e, p in paths.items()]
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
            f'style="font:11px sans-serif;fill:#888">{"".join(axis)}'
            f'<g transform="translate({LEFT} {HEIGHT - BOTTOM}) scale({bar:.4f} {-scale:.4f})">{"".join(bars)}</g></svg>')


def chart_html(counts: dict[date, Counter]) -> str:
    """The chart of clips per day and emotion: the bars as an SVG image, a hover title per day with clips, a legend."""
    import base64

    emotions = sorted({e for c in counts.values() for e in c})
    top = max((sum(c.values()) for c in counts.values()), default=0) or 1
    image = base64.b64encode(_bars_svg(counts, emotions, top).encode()).decode()
    width = 100 * (WIDTH - LEFT) / WIDTH / max(1, len(counts))
    tips = []
    for i, (day, c) in enumerate(counts.items()):
        if c:
            tip = html.escape(", ".join(f"{title_for(e)} {c[e]}" for e in emotions if c[e]))
            tips.append(f'<i style="left:{100 * LEFT / WIDTH + i * width:.3f}%;width:{width:.3f}%" '
                        f'title="{day:%Y-%m-%d}: {sum(c.values())} clips ({tip})"></i>')
    legend = "".join(f'<span><b style="background:{COLOURS.get(e, OTHER_COLOUR)}"></b>{html.escape(title_for(e))}</span>'
                     for e in emotions)
    return ('<style>.ser-history-chart{position:relative}.ser-history-chart img{width:100%;display:block}'
            f'.ser-history-chart i{{position:absolute;top:{100 * TOP / HEIGHT:.2f}%;bottom:{100 * BOTTOM / HEIGHT:.2f}%}}'
            '.ser-history-legend{display:flex;flex-wrap:wrap;gap:.25rem 1rem;font-size:.8rem}'
            '.ser-history-legend b{display:inline-block;width:.7rem;height:.7rem;margin-right:.25rem}</style>'
            f'<div class="ser-history-chart"><img src="data:image/svg+xml;base64,{image}" '
            f'alt="Clips per day and emotion over {len(counts)} days">{"".join(tips)}</div>'
            f'<div class="ser-history-legend">{legend}</div>')
