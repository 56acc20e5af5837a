"""The app's Live page: the microphone streams to the server over WebRTC, the answer follows the voice.

The browser sends the microphone over WebRTC (streamlit-webrtc with aiortc, on
this machine; no STUN/TURN or other outside service: ``iceServers`` is empty).
A sink hands each audio frame (on aiortc's event loop) to the session's :class:`ser_framework.LiveAnalyser`
(voice activity, windows, classification in a worker thread behind a bounded
queue); a fragment redraws the current emotion, the last minute as a strip
and the dropped-window count a few times a second. On stop, the session's
timeline can be downloaded as CSV. Every session shares the one loaded model.
"""
from __future__ import annotations

import time

import numpy as np
import streamlit as st

from ser_frontends.app import live_view

#: how often the answer is redrawn (seconds)
REFRESH = 0.5
#: the strip shows this many seconds
STRIP_SECONDS = 60.0
RTC = {"iceServers": []}  # local only: no STUN/TURN server is contacted


def frame_samples(frame) -> tuple[np.ndarray, int]:
    """Mono float32 samples and the rate of an ``av.AudioFrame`` (packed or planar, int or float)."""
    data = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if frame.format.is_planar:
        y = data.reshape(channels, -1).mean(axis=0)
    else:
        y = data.reshape(-1, channels).mean(axis=1)
    if np.issubdtype(data.dtype, np.integer):
        y = y / float(np.iinfo(data.dtype).max + 1)
    return y.astype(np.float32), int(frame.sample_rate)


class Session:
    """One browser session's live state: the analyser is made at the first frame (when its rate is known)."""

    def __init__(self, bundle):
        self.bundle = bundle
        self.analyser = None
        self.shown: list[float] = []  # seconds from a window's last sample to its answer on the page
        self.last_shown = -1
        self.sink = None  # the WebRTC sink handing this session's audio frames to on_frame

    def on_frame(self, frame):
        y, rate = frame_samples(frame)
        if self.analyser is None or self.analyser.sample_rate != rate or self.analyser.finished:
            from ser_framework import LiveAnalyser

            self.analyser = LiveAnalyser(self.bundle, rate, keep_seconds=STRIP_SECONDS)
        self.analyser.feed(y)

    def stop(self):
        if self.analyser is not None and not self.analyser.finished:
            self.analyser.finish()


@st.cache_resource(show_spinner=False)
def warmed_up(_bundle, path: str) -> bool:
    """Run the model once per process before the first session streams (not on the audio thread)."""
    from ser_framework import StreamAnalyser

    StreamAnalyser(_bundle, 16000).warm_up()
    return True


def page(bundle) -> None:
    from streamlit_webrtc import CallbackSinkTrack, WebRtcMode, webrtc_streamer

    st.header("Live", anchor=False)
    st.caption("Press START, allow the microphone and speak: the emotion follows your voice "
               "(a new answer about every 1.5 s of speech). Press STOP to download the session's timeline.")
    warmed_up(bundle, str(bundle.path))
    if "ser_live" not in st.session_state or st.session_state["ser_live"].bundle is not bundle:
        st.session_state["ser_live"] = Session(bundle)
    session: Session = st.session_state["ser_live"]
    if session.sink is None:
        session.sink = CallbackSinkTrack(session.on_frame, kind="audio")
    ctx = webrtc_streamer(key="ser-live", mode=WebRtcMode.SENDONLY, rtc_configuration=RTC,
                          media_stream_constraints={"audio": True, "video": False},
                          sink_audio_track=session.sink)
    playing = bool(ctx.state.playing)
    if not playing:
        session.stop()
    show(session, playing)


@st.fragment(run_every=REFRESH)
def show(session: Session, playing: bool) -> None:
    analyser = session.analyser
    if analyser is None:
        return
    recent = analyser.recent()
    now = analyser.duration
    state = live_view.current(recent, now, analyser.in_speech)
    with st.container(key="ser-live-answer"):
        st.title(f":material/{state.icon}: {state.title}", anchor=False)
        if state.latency is not None:
            if state.index != session.last_shown:  # first drawn now: from the window's end to the screen
                session.last_shown = state.index
                session.shown.append(state.latency + time.monotonic() - state.answered_at)
            st.caption(f"{state.at} · on screen {session.shown[-1]:.2f} s after the window ended")
    st.html(live_view.strip_html(recent, now, STRIP_SECONDS))
    if analyser.dropped:
        st.caption(f"{analyser.dropped} window(s) skipped: the computer fell behind real time.")
    if not playing and analyser.segments:
        st.download_button("Download the session's timeline (CSV)", live_view.timeline_csv(analyser),
                           file_name="live-timeline.csv", mime="text/csv", key="ser-live-csv")
