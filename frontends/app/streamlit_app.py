"""The web app: the analysis and Live pages for everyone; account and history pages for signed-in users.

Start it with ``ser app [--model BUNDLE] [--port N]`` or
``streamlit run frontends/app/streamlit_app.py [-- --model BUNDLE]``.
Settings are described in :mod:`ser_frontends.app.logic`; accounts, profiles
and history are kept in the data folder (``SER_DATA_DIR``, see
:mod:`ser_framework.store`). The pages are in ``views/`` (their code in
``analysis_page``, ``live_page``, ``account_page`` and ``history_page``).
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from ser_framework import SerError
from ser_frontends.app import session

VIEWS = Path(__file__).resolve().parent / "views"

CSS = """
<style>
.st-key-ser-answer h1, .st-key-ser-live-answer h1 { font-size: 4rem; line-height: 1.1; padding: 0.5rem 0 0.25rem; }
.st-key-ser-answer h1 span[role="img"], .st-key-ser-live-answer h1 span[role="img"] {
  font-size: 4.5rem; vertical-align: middle !important; }
.st-key-ser-nav { gap: 0.25rem 1rem; }
</style>
"""


def main() -> None:
    st.set_page_config(page_title="Speech emotion",  # no page_icon: a Material favicon is fetched from Google
                       layout="centered", initial_sidebar_state="collapsed")
    st.html(CSS)
    user = session.current_user()
    # no page icons: a page's icon becomes the favicon, which Streamlit fetches from Google
    analyse = st.Page(VIEWS / "analyse.py", title="Analyse", default=True)
    account = st.Page(VIEWS / "account.py", title=user.name if user else "Sign in", url_path="account")
    live = st.Page(VIEWS / "live.py", title="Live", url_path="live")
    history = st.Page(VIEWS / "history.py", title="History", url_path="history")
    pages = [analyse, live, history, account] if user else [analyse, live, account]
    icons = {analyse: "graphic_eq", live: "mic", history: "history", account: "account_circle" if user else "login"}
    page = st.navigation(pages, position="hidden")  # no sidebar: a row of links instead
    with st.container(key="ser-nav", horizontal=True, horizontal_alignment="right"):
        for p in pages:
            if p is not page:
                st.page_link(p, icon=f":material/{icons[p]}:")
    try:
        page.run()
    except SerError as exc:  # e.g. a data folder that cannot be written: one line, no traceback
        st.error(" ".join(str(exc).split()), icon=":material/error:")


main()
