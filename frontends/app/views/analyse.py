"""The analyse page (run by st.navigation in streamlit_app.py; the code is in ser_frontends.app.analysis_page)."""
from ser_frontends.app.analysis_page import render

render()
