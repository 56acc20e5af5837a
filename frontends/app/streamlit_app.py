"""The web page: upload or record a clip and read its dominant emotion.

Start it with ``ser app [--model BUNDLE] [--port N]`` or
``streamlit run frontends/app/streamlit_app.py [-- --model BUNDLE]``.
Settings are described in :mod:`ser_frontends.app.logic`.
"""
from __future__ import annotations

import logging
import sys

import streamlit as st

from ser_framework import MIN_CONFIDENCE, SerError
from ser_frontends.app import logic

log = logging.getLogger("ser_frontends.app")

CSS = """
<style>
.st-key-ser-answer h1, .st-key-ser-live-answer h1 { font-size: 4rem; line-height: 1.1; padding: 0.5rem 0 0.25rem; }
.st-key-ser-answer h1 span[role="img"], .st-key-ser-live-answer h1 span[role="img"] {
  font-size: 4.5rem; vertical-align: middle !important; }
</style>
"""


@st.cache_resource(show_spinner="Loading the model…")
def get_bundle(path: str | None, plugins_dirs: tuple[str, ...] = ()):
    """One bundle per server process and model path, shared by every session and rerun."""
    return logic.load_model(path, plugins_dirs)


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


def main() -> None:
    st.set_page_config(page_title="Speech emotion",  # no page_icon: a Material favicon is fetched from Google
                       layout="centered", initial_sidebar_state="collapsed")
    st.html(CSS)
    pages = [st.Page(analysis_page, title="Clip", default=True),
             st.Page(live, title="Live", url_path="live")]
    st.navigation(pages, position="top").run()


def shared_bundle():
    """The one bundle of this server process; on a bad model, an error line and stop."""
    try:
        return get_bundle(logic.model_setting(sys.argv[1:]), logic.plugins_dirs_setting(sys.argv[1:]))
    except SerError as exc:
        st.error(" ".join(str(exc).split()), icon=":material/error:")
        st.stop()


def live() -> None:
    from ser_frontends.app import live_page

    live_page.page(shared_bundle())


def analysis_page() -> None:
    st.header("Which emotion is in this voice?", anchor=False)
    try:
        max_seconds = logic.max_seconds_setting()
    except SerError as exc:
        st.error(" ".join(str(exc).split()), icon=":material/error:")
        st.stop()
    bundle = shared_bundle()
    max_mb = st.get_option("server.maxUploadSize")
    limit = f"{max_seconds / 60:g} minutes" if max_seconds >= 120 else f"{max_seconds:g} seconds"
    st.caption(f"Upload a WAV file or record your voice, up to {limit}. "
               f"Recordings longer than {logic.TIMELINE_AFTER:g} seconds get a timeline of emotions.")

    left, right = st.columns(2)
    upload = left.file_uploader("Upload a WAV file", type=["wav"], key="upload",
                                on_change=_remember, args=("upload",))
    recording = right.audio_input("Record in the browser", key="record", sample_rate=48000,
                                  on_change=_remember, args=("record",))
    clip = _chosen_clip(upload, recording)
    if clip is None:
        return
    bar = st.empty()

    def progress(done, total):
        bar.progress(min(done / total, 1.0) if total else 1.0, text=f"Listening… {done:.0f} of {total:.0f} s")

    with st.spinner("Listening…"):
        try:
            outcome = logic.analyse(bundle, clip.getvalue(), clip.name, max_seconds=max_seconds,
                                    max_bytes=int(max_mb) * 2**20, progress=progress)
        except Exception:  # a bug, not the person's fault: log it, keep the page usable
            log.exception("prediction failed for %s", clip.name)
            outcome = logic.Outcome(error=f"{clip.name}: this clip could not be analysed; please try another one.")
    bar.empty()
    if outcome.error:
        with st.container(key="ser-error"):
            st.error(outcome.error, icon=":material/error:")
    else:
        show_answer(outcome.answer)


main()
