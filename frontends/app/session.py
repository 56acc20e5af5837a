"""What every page of the app shares: the model, the data store and who is signed in.

Who is signed in lives only in the server-side session (``st.session_state``,
one per browser tab): the user's id is put there by signing in and read from
there, never from the page's inputs or the URL's query parameters. Every
query for personal data goes through the :class:`ser_framework.UserData` made
from that id, which scopes it to that user.
"""
from __future__ import annotations

import sys

import streamlit as st

from ser_framework import AccountError
from ser_frontends.app import logic

USER_KEY = "ser_user_id"
#: set after sign-up: the account page then leads the person through enrolment first
NEW_ACCOUNT_KEY = "ser_new_account"


@st.cache_resource(show_spinner="Loading the model…")
def get_bundle(path: str | None, plugins_dirs: tuple[str, ...] = ()):
    """One bundle per server process and model path, shared by every session and rerun."""
    return logic.load_model(path, plugins_dirs)


def bundle():
    """The served bundle (``SerError`` if it cannot be loaded)."""
    return get_bundle(logic.model_setting(sys.argv[1:]), logic.plugins_dirs_setting(sys.argv[1:]))


@st.cache_resource(show_spinner=False)
def get_store(folder: str | None):
    from ser_framework import DataStore

    return DataStore(folder)


def store():
    """The data store of ``$SER_DATA_DIR`` (or the default data folder), one per server process and folder."""
    import os

    return get_store(os.environ.get("SER_DATA_DIR") or None)


def current_user():
    """The signed-in user's :class:`ser_framework.UserData`, or None."""
    from ser_framework import user_by_id

    user_id = st.session_state.get(USER_KEY)
    if user_id is None:
        return None
    try:
        return user_by_id(store(), user_id)
    except AccountError:  # deleted meanwhile (e.g. in another tab)
        sign_out()
        return None


def sign_in_as(user, new: bool = False) -> None:
    st.session_state[USER_KEY] = user.user_id
    st.session_state[NEW_ACCOUNT_KEY] = new


def sign_out() -> None:
    for key in list(st.session_state):
        del st.session_state[key]  # nothing of the account stays in the session


def client_address() -> str | None:
    """The browser's address, for throttling failed sign-ins per client."""
    address = st.context.ip_address
    return address if isinstance(address, str) else None  # None without a browser (AppTest)
