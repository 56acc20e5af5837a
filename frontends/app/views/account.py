"""The account page (run by st.navigation in streamlit_app.py; the code is in ser_frontends.app.account_page)."""
from ser_frontends.app.account_page import render

render()
