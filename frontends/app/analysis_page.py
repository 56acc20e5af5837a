"""The analysis page: upload or record a clip and read its dominant emotion.

Anyone can use it without an account. For a signed-in user the clip is
judged with their voice profile (when they have one the model can use) and
the answer is kept in their private history, with a note.
"""
from __future__ import annotations

import logging

import streamlit as st

from ser_framework import MIN_CONFIDENCE, SerError
from ser_frontends.app import logic, session

log = logging.getLogger("ser_frontends.app")
#: the last clip analysed in this session and its outcome: (clip key, Outcome, history entry id or None)
LAST_KEY = "ser_last"


def _remember(source: str) -> None:
    st.session_state["ser_active"] = source


def _chosen_clip(upload, recording):
    """The clip the person gave last: both widgets may hold one."""
    clips = {"upload": upload, "record": recording}
    return clips.get(st.session_state.get("ser_active")) or upload or recording


def show_answer(answer: logic.Answer) -> None:
    with st.container(key="ser-answer"):
        st.title(f":material/{answer.icon}: {answer.title}", anchor=False)
        if answer.uncertain:
            st.caption(f"The model is not sure: no emotion reaches {MIN_CONFIDENCE:.0%}.")
        if answer.segments:
            st.caption(f"Dominant emotion over the {answer.duration / 60:.1f}-minute recording")
        rows = "\n".join(f"| {title} | {pct} |" for title, pct in answer.rows())
        st.markdown(f"| Emotion | Probability |\n|:--|--:|\n{rows}")
    if answer.segments:
        with st.container(key="ser-timeline"):
            st.subheader("Timeline", anchor=False)
            st.dataframe(answer.segment_rows(), hide_index=True)


def _outcome(bundle, clip, user, max_seconds: float) -> tuple[logic.Outcome, int | None]:
    """Analyse the clip once (reruns, e.g. typing a note, reuse the answer); a signed-in user's is kept."""
    key = (clip.file_id, None if user is None else user.user_id)
    last = st.session_state.get(LAST_KEY)
    if last and last[0] == key:
        return last[1], last[2]
    profile = logic.profile_for(user, bundle) if user is not None else None
    bar = st.empty()

    def progress(done, total):
        bar.progress(min(done / total, 1.0) if total else 1.0, text=f"Listening… {done:.0f} of {total:.0f} s")

    data = clip.getvalue()
    with st.spinner("Listening…"):
        try:
            outcome = logic.analyse(bundle, data, clip.name, max_seconds=max_seconds,
                                    max_bytes=int(st.get_option("server.maxUploadSize")) * 2**20,
                                    progress=progress, profile=profile)
        except Exception:  # a bug, not the person's fault: log it, keep the page usable
            log.exception("prediction failed for %s", clip.name)
            outcome = logic.Outcome(error=f"{clip.name}: this clip could not be analysed; please try another one.")
    bar.empty()
    entry = None
    if user is not None and outcome.answer is not None:
        answer = outcome.answer
        entry = user.record(answer.label, answer.probabilities, model=logic.model_id(bundle),
                            audio=data if user.keep_audio else None)
    st.session_state[LAST_KEY] = (key, outcome, entry)
    return outcome, entry


def _note_form(user, entry: int) -> None:
    with st.container(key="ser-kept"):
        st.caption(":material/history: Kept in your private history.")
        with st.form(key=f"note-{entry}", border=False, enter_to_submit=True):
            note = st.text_input("Note", placeholder="What was happening? (optional)", max_chars=2000)
            if st.form_submit_button("Save note"):
                user.set_note(entry, note)
                st.caption(":material/check: Note saved.")


def render() -> None:
    st.header("Which emotion is in this voice?", anchor=False)
    try:
        max_seconds = logic.max_seconds_setting()
        bundle = session.bundle()
    except SerError as exc:
        st.error(" ".join(str(exc).split()), icon=":material/error:")
        st.stop()
    user = session.current_user()
    limit = f"{max_seconds / 60:g} minutes" if max_seconds >= 120 else f"{max_seconds:g} seconds"
    st.caption(f"Upload a recording (WAV, MP3, M4A, OGG, FLAC, WebM, ...) or record your voice, up to {limit}. "
               f"Recordings longer than {logic.TIMELINE_AFTER:g} seconds get a timeline of emotions.")

    left, right = st.columns(2)
    upload = left.file_uploader("Upload a recording", type=logic.UPLOAD_TYPES, key="upload",
                                on_change=_remember, args=("upload",))
    recording = right.audio_input("Record in the browser", key="record", sample_rate=48000,
                                  on_change=_remember, args=("record",))
    clip = _chosen_clip(upload, recording)
    if clip is None:
        return
    outcome, entry = _outcome(bundle, clip, user, max_seconds)
    if outcome.error:
        with st.container(key="ser-error"):
            st.error(outcome.error, icon=":material/error:")
        return
    show_answer(outcome.answer)
    if outcome.profile_note:
        st.caption(outcome.profile_note)
    if entry is not None:
        _note_form(user, entry)
