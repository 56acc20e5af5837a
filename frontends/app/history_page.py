"""The history page of a signed-in user: emotions over days, a table, date filter, exports, deletion."""
from __future__ import annotations

from datetime import date

import streamlit as st

from ser_framework import history_csv, history_json
from ser_frontends.app import history_view, session


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
    import time

    today = history_view.day_of(time.time(), tz)  # up to today: entries added later in this session show too
    first, last = _dates(history_view.day_of(span[0], tz), max(today, history_view.day_of(span[1], tz)))
    bounds = history_view.day_bounds(first, last, tz)
    rows = user.summary_rows(*bounds)
    st.caption(f"{len(rows)} entries from {first:%d %b %Y} to {last:%d %b %Y}")
    with st.container(key="history-chart"):
        st.bar_chart(history_view.daily_counts(rows, tz), x_label="Day", y_label="Clips", height=260)
    with st.container(key="history-table"):
        st.dataframe(history_view.table(rows, tz), hide_index=True)
    left, right = st.columns(2)
    stem = f"emotion-history-{first:%Y%m%d}-{last:%Y%m%d}"
    left.download_button("Export CSV", data=lambda: history_csv(user.entries(*bounds)), file_name=f"{stem}.csv", mime="text/csv",
                         icon=":material/download:", on_click="ignore", key="export-csv")
    right.download_button("Export JSON", data=lambda: history_json(user.entries(*bounds)), file_name=f"{stem}.json",
                          mime="application/json", icon=":material/download:", on_click="ignore", key="export-json")
    _delete_form(user)
