"""The history page (run by st.navigation in streamlit_app.py; the code is in ser_frontends.app.history_page)."""
from ser_frontends.app.history_page import render

render()
