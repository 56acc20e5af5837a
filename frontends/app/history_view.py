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


def _times(rows, tz: tzinfo):
    import pandas as pd

    return pd.to_datetime([r[1] for r in rows], unit="s", utc=True).tz_convert(tz)


def table(rows, tz: tzinfo):
    """The table of ``UserData.summary_rows``, newest first: number, time, emotion, its probability, note."""
    import pandas as pd

    emotions = pd.Series([r[2] for r in rows], dtype="category")
    return pd.DataFrame({
        "Entry": [r[0] for r in rows],
        "Time": _times(rows, tz).strftime("%Y-%m-%d %H:%M"),
        "Emotion": emotions.cat.rename_categories([title_for(c) for c in emotions.cat.categories]),
        "Probability": [percent(r[3] or 0.0) for r in rows],
        "Note": [r[4] for r in rows],
    })


def daily_counts(rows, tz: tzinfo):
    """Clips per day (rows, every day of the span) and emotion (columns), from ``UserData.summary_rows``."""
    import pandas as pd

    if not rows:
        return pd.DataFrame()
    frame = pd.DataFrame({"Day": _times(rows, tz).date, "Emotion": [title_for(r[2]) for r in rows]})
    counts = frame.groupby(["Day", "Emotion"]).size().unstack(fill_value=0)
    days = pd.date_range(min(counts.index), max(counts.index), freq="D").date
    return counts.reindex(days, fill_value=0).rename_axis("Day")
