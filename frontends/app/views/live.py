"""The Live page (run by st.navigation in streamlit_app.py; the code is in ser_frontends.app.live_page)."""
import streamlit as st

from ser_framework import SerError
from ser_frontends.app import live_page, session

try:
    bundle = session.bundle()
except SerError as exc:
    st.error(" ".join(str(exc).split()), icon=":material/error:")
    st.stop()
live_page.page(bundle)
