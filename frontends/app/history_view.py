"""What the history page shows, without Streamlit: day bounds in the viewer's time zone, the table, the chart data."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo

from ser_frontends.app.logic import percent, title_for


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


def table(entries, tz: tzinfo):
    """One row per entry, newest first: its number, time, emotion, the emotion's probability, the note."""
    import pandas as pd

    return pd.DataFrame({
        "Entry": [e.id for e in entries],
        "Time": [datetime.fromtimestamp(e.time, tz).strftime("%Y-%m-%d %H:%M") for e in entries],
        "Emotion": [title_for(e.emotion) for e in entries],
        "Probability": [percent(e.probabilities.get(e.emotion, 0.0)) for e in entries],
        "Note": [e.note for e in entries],
    })


def daily_counts(entries, tz: tzinfo):
    """Clips per day (rows, every day of the span) and emotion (columns)."""
    import pandas as pd

    if not entries:
        return pd.DataFrame()
    frame = pd.DataFrame({"Day": [day_of(e.time, tz) for e in entries], "Emotion": [title_for(e.emotion) for e in entries]})
    counts = frame.groupby(["Day", "Emotion"]).size().unstack(fill_value=0)
    days = pd.date_range(min(counts.index), max(counts.index), freq="D").date
    return counts.reindex(days, fill_value=0).rename_axis("Day")
