"""The history page of a signed-in user: emotions over days, a table, date filter, exports, deletion."""
from __future__ import annotations

import time
from datetime import date

import streamlit as st

from ser_framework import history_csv, history_json
from ser_frontends.app import history_view, session

#: session key of the table's page: ``(date bounds, page number)``
PAGING_KEY = "history-paging"


def _dates(first: date, last: date) -> tuple[date, date]:
    picked = st.date_input("Dates", value=(first, last), key="history-dates", format="YYYY-MM-DD")
    if isinstance(picked, date):
        return picked, picked
    if len(picked) == 1:  # the second date is still being chosen
        return picked[0], picked[0]
    return picked[0], picked[1]


def _delete_form(user) -> None:
    with st.form("delete-entry", border=False, enter_to_submit=True):
        left, right = st.columns([1, 2], vertical_alignment="bottom")
        number = left.number_input("Entry", min_value=1, step=1, value=None, key="delete-entry-id")
        if right.form_submit_button("Delete this entry", icon=":material/delete:") and number is not None:
            if user.delete_entry(int(number)):
                st.toast(f"Entry {int(number)} deleted.")
                st.rerun()
            st.error(f"You have no entry {int(number)}.", icon=":material/error:")


def _turn(bounds: tuple[float, float], page: int) -> None:
    st.session_state[PAGING_KEY] = (bounds, page)


def _table_page(user, bounds: tuple[float, float], count: int, tz) -> None:
    """One page of the table, newest first, with buttons to the newer and older pages (back to the first on a new range)."""
    saved = st.session_state.get(PAGING_KEY)
    pages = history_view.pages(count)
    page = min(saved[1], pages - 1) if saved and saved[0] == bounds else 0
    st.session_state[PAGING_KEY] = (bounds, page)
    rows = user.summary_rows(*bounds, limit=history_view.PAGE_SIZE, offset=page * history_view.PAGE_SIZE)
    if not rows:
        st.caption("No entries between these dates.")
        return
    st.html(history_view.table_html(rows, tz))
    left, middle, right = st.columns([2, 3, 2], vertical_alignment="center")
    left.button("Newer", icon=":material/arrow_back:", disabled=page == 0, on_click=_turn, args=(bounds, page - 1),
                key="history-newer")
    first = page * history_view.PAGE_SIZE
    middle.caption(f"Entries {first + 1}–{first + len(rows)} of {count}, newest first"
                   f" (page {page + 1} of {pages})")
    right.button("Older", icon=":material/arrow_forward:", disabled=page >= pages - 1, on_click=_turn,
                 args=(bounds, page + 1), key="history-older")


def render() -> None:
    user = session.current_user()
    st.header("Your history", anchor=False)
    if user is None:
        st.info("Sign in to see your history.", icon=":material/lock:")
        return
    span = user.time_span()
    if span is None:
        st.caption("No entries yet: analyse a clip while signed in and it appears here.")
        return
    tz = history_view.timezone(st.context.timezone)
    today = history_view.day_of(time.time(), tz)  # up to today: entries added later in this session show too
    first, last = _dates(history_view.day_of(span[0], tz), max(today, history_view.day_of(span[1], tz)))
    bounds = history_view.day_bounds(first, last, tz)
    count = user.count(*bounds)
    st.caption(f"{count} entries from {first:%d %b %Y} to {last:%d %b %Y}")
    with st.container(key="history-chart"):  # drawn here: the browser loads no chart code for it
        st.html(history_view.chart_html(history_view.daily_counts(user.emotion_times(*bounds), tz, first, last)))
    with st.container(key="history-table"):
        _table_page(user, bounds, count, tz)
    left, right = st.columns(2)
    stem = f"emotion-history-{first:%Y%m%d}-{last:%Y%m%d}"
    left.download_button("Export CSV", data=lambda: history_csv(user.entries(*bounds)), file_name=f"{stem}.csv", mime="text/csv",
                         icon=":material/download:", on_click="ignore", key="export-csv")
    right.download_button("Export JSON", data=lambda: history_json(user.entries(*bounds)), file_name=f"{stem}.json",
                          mime="application/json", icon=":material/download:", on_click="ignore", key="export-json")
    _delete_form(user)
