"""What the history page shows, computed without Streamlit: clips per day, the chart, one page of the table."""
from __future__ import annotations

import base64
import re
from collections import Counter
from datetime import date, datetime
from zoneinfo import ZoneInfo

from ser_frontends.app import history_view

BERLIN = ZoneInfo("Europe/Berlin")  # summer time starts on 29 Mar 2026: that day has 23 hours


def at(day: str, hour: int, minute: int = 0) -> float:
    return datetime.fromisoformat(f"{day}T{hour:02d}:{minute:02d}").replace(tzinfo=BERLIN).timestamp()


PAIRS = [(at("2026-03-28", 23, 59), "sad"), (at("2026-03-29", 0, 0), "happy"), (at("2026-03-29", 23, 59), "happy"),
         (at("2026-03-29", 12), "very_sad"), (at("2026-03-31", 8), "<b>odd</b>"), (at("2026-04-02", 9), "sad")]


def chart_titles(chart: str) -> dict[str, str]:
    return dict(re.findall(r'title="(\d{4}-\d\d-\d\d): (.*?)"', chart))


def test_clips_per_day_are_the_entries_of_each_local_day():
    counts = history_view.daily_counts(PAIRS, BERLIN, date(2026, 3, 28), date(2026, 4, 1))
    assert list(counts) == [date(2026, 3, d) for d in range(28, 32)] + [date(2026, 4, 1)]  # every day, empty ones too
    expected = Counter()
    for t, emotion in PAIRS:
        expected[(datetime.fromtimestamp(t, BERLIN).date(), emotion)] += 1
    got = Counter({(day, e): n for day, c in counts.items() for e, n in c.items()})
    assert got == Counter({k: n for k, n in expected.items() if k[0] <= date(2026, 4, 1)})  # 2 Apr is outside
    assert counts[date(2026, 3, 29)] == {"happy": 2, "very_sad": 1} and not counts[date(2026, 3, 30)]


def test_the_chart_shows_each_days_clips_and_escapes_labels():
    counts = history_view.daily_counts(PAIRS, BERLIN, date(2026, 3, 28), date(2026, 4, 2))
    chart = history_view.chart_html(counts)
    titles = chart_titles(chart)
    assert titles == {"2026-03-28": "1 clips (Sad 1)", "2026-03-29": "3 clips (Happy 2, Very sad 1)",
                      "2026-03-31": "1 clips (&lt;b&gt;odd&lt;/b&gt; 1)", "2026-04-02": "1 clips (Sad 1)"}
    assert "<b>odd" not in chart and "&lt;b&gt;odd&lt;/b&gt;</span>" in chart  # in the legend too, as text
    (image,) = re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', chart)
    svg = base64.b64decode(image).decode()
    assert svg.count("<path ") == 4 and "odd" not in svg  # one path per emotion; no label inside the image
    bars = dict(re.findall(r'fill="(#[0-9a-f]{6})" d="([^"]+)"', svg))
    sad = re.findall(r"M([\d.]+) ([\d.]+)h[\d.]+v(\d+)", bars["#1f77b4"])
    assert [(int(float(x)), int(base), int(n)) for x, base, n in sad] == [(0, 0, 1), (5, 0, 1)]  # day 0 and day 5
    happy = re.findall(r"M([\d.]+) ([\d.]+)h[\d.]+v(\d+)", bars["#ffbf00"])
    assert [(int(float(x)), int(base), int(n)) for x, base, n in happy] == [(1, 0, 2)]  # stacked under "very sad"
    assert re.search(r">0</text>.*>3</text>", svg)  # the axis runs up to the busiest day


def test_the_chart_of_a_range_without_entries_is_empty_axes():
    chart = history_view.chart_html(history_view.daily_counts([], BERLIN, date(2026, 1, 1), date(2026, 1, 7)))
    assert chart_titles(chart) == {} and "over 7 days" in chart


def test_one_table_page_escapes_notes_and_shows_local_times():
    rows = [(7, at("2026-03-29", 3, 30), "very_sad", 0.4567, "<script>alert(1)</script>"), (3, at("2026-03-28", 9), "calm", None, "")]
    table = history_view.table_html(rows, BERLIN)
    assert "<script>" not in table and "&lt;script&gt;alert(1)&lt;/script&gt;" in table
    cells = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td>", table)
    assert cells == [("7", "2026-03-29 03:30", "Very sad", "45.7%"), ("3", "2026-03-28 09:00", "Calm", "0.0%")]
    assert [history_view.pages(n) for n in (0, 1, 50, 51, 10_000)] == [1, 1, 1, 2, 200]
