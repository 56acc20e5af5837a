"""The account page: sign in or sign up; once signed in, the voice profile, settings, sign out, deletion.

A new account is led through enrolment first: a few sentences in the
person's ordinary voice, uploaded or recorded, make their speaker profile.
"""
from __future__ import annotations

import streamlit as st

from ser_framework import AccountError, SerError, SignInThrottled, sign_in, sign_up
from ser_frontends.app import logic, session

#: the name of the profile the app makes for each account
APP_PROFILE = "my voice"
#: recordings made on this page, kept until the profile is made: list of (name, bytes)
RECORDINGS_KEY = "ser_enrol_recordings"
#: the message shown once after an enrolment
DONE_KEY = "ser_enrolled"
#: enrolments made in this session: a new one starts with an empty uploader
ENROLMENTS_KEY = "ser_enrolments"


def _sign_in_form() -> None:
    with st.form("sign-in", enter_to_submit=True):
        name = st.text_input("Name", key="sign-in-name", autocomplete="username")
        password = st.text_input("Password", type="password", key="sign-in-password", autocomplete="current-password")
        if st.form_submit_button("Sign in", type="primary"):
            try:
                user = sign_in(session.store(), name, password, client=session.client_address())
            except SignInThrottled as exc:
                st.error(str(exc), icon=":material/timer:")
                return
            except AccountError as exc:
                st.error(str(exc).capitalize(), icon=":material/error:")
                return
            session.sign_in_as(user)
            st.rerun()


def _sign_up_form() -> None:
    with st.form("sign-up", enter_to_submit=True):
        name = st.text_input("Choose a name", key="sign-up-name", autocomplete="username",
                             help="1-64 letters, digits or . _ @ -")
        password = st.text_input("Choose a password", type="password", key="sign-up-password",
                                 autocomplete="new-password", help="At least 8 characters")
        if st.form_submit_button("Create my account", type="primary"):
            try:
                user = sign_up(session.store(), name, password)
            except AccountError as exc:
                st.error(str(exc).capitalize(), icon=":material/error:")
                return
            session.sign_in_as(user, new=True)
            st.rerun()


def _enrolment(user) -> None:
    """Record or upload a few sentences; they make (or extend) the account's voice profile."""
    from ser_framework import MIN_ENROL_CLIPS, SpeakerProfile

    existing = next((s.profile for s in user.profiles() if s.profile.name == APP_PROFILE), None)
    st.subheader("Your voice", anchor=False)
    if st.session_state.get(DONE_KEY):
        st.success(st.session_state.pop(DONE_KEY), icon=":material/check:")
    if existing is None:
        st.markdown(f"Say at least **{MIN_ENROL_CLIPS} sentences** in your ordinary, calm voice — for example, "
                    "what you did yesterday — recording each one, or upload recordings of them. "
                    "From then on, your clips are judged against your own voice.")
    else:
        st.caption(f"Your voice profile is made of {existing.n_clips} clips. Add more to refine it.")
    recordings = st.session_state.setdefault(RECORDINGS_KEY, [])
    left, right = st.columns(2)
    uploads = left.file_uploader("Upload sentences", type=logic.UPLOAD_TYPES, accept_multiple_files=True,
                                 key=f"enrol-upload-{st.session_state.get(ENROLMENTS_KEY, 0)}")
    recorded = right.audio_input("Record a sentence", key=f"enrol-record-{len(recordings)}", sample_rate=48000)
    if recorded is not None:
        recordings.append((f"recording {len(recordings) + 1}", recorded.getvalue()))
        st.rerun()  # a fresh recorder for the next sentence
    clips = [(f.name, f.getvalue()) for f in uploads or []] + recordings
    if recordings:
        st.caption(f"{len(recordings)} sentence(s) recorded.")
    label = "Make my voice profile" if existing is None else "Add these to my voice profile"
    if st.button(label, disabled=not clips, type="primary", key="enrol"):
        import io

        bundle = session.bundle()
        sources = []
        for name, data in clips:
            source = io.BytesIO(data)
            source.name = name
            sources.append(source)
        try:
            with st.spinner("Listening to your voice…"):
                made = (SpeakerProfile.enrol(bundle, sources, APP_PROFILE) if existing is None
                        else existing.updated(bundle, sources))
        except SerError as exc:
            st.error(" ".join(str(exc).split()), icon=":material/error:")
            return
        user.save_profile(made)
        st.session_state[RECORDINGS_KEY] = []
        st.session_state[ENROLMENTS_KEY] = st.session_state.get(ENROLMENTS_KEY, 0) + 1
        st.session_state[session.NEW_ACCOUNT_KEY] = False
        st.session_state[DONE_KEY] = f"Your voice profile is ready ({made.n_clips} clips)."
        st.rerun()


def _settings(user) -> None:
    st.subheader("Settings", anchor=False)
    keep = st.toggle("Keep my recordings with my history", value=user.keep_audio, key="keep-audio",
                     help="Off: only the emotion, its probabilities and your note are kept. "
                          "Turning this off deletes the recordings kept so far.")
    if keep != user.keep_audio:
        user.set_keep_audio(keep)
    if st.button("Sign out", icon=":material/logout:", key="sign-out"):
        session.sign_out()
        st.rerun()
    with st.expander("Delete my account"):
        st.write("This deletes your account, voice profile and whole history, at once and for good.")
        with st.form("delete-account", border=False):
            password = st.text_input("Your password, to confirm", type="password", key="delete-password")
            if st.form_submit_button("Delete my account and all its data", type="primary"):
                try:
                    sign_in(session.store(), user.name, password, client=session.client_address())
                except AccountError as exc:
                    st.error(str(exc).capitalize(), icon=":material/error:")
                    return
                user.delete_account()
                session.sign_out()
                st.session_state["ser_deleted"] = True
                st.rerun()


def render() -> None:
    user = session.current_user()
    if user is None:
        st.header("Your account", anchor=False)
        if st.session_state.pop("ser_deleted", False):
            st.success("Your account and all its data were deleted.", icon=":material/check:")
        st.caption("With an account, your clips are judged against your own voice and kept in a private "
                   "history. The analysis page works without one.")
        sign_in_tab, sign_up_tab = st.tabs(["Sign in", "Sign up"])
        with sign_in_tab:
            _sign_in_form()
        with sign_up_tab:
            _sign_up_form()
        return
    st.header(f"Signed in as {user.name}", anchor=False)
    if st.session_state.get(session.NEW_ACCOUNT_KEY):
        st.info("Welcome! One step first: let the app learn your ordinary voice.", icon=":material/waving_hand:")
    _enrolment(user)
    _settings(user)
