"""What the web app does with a clip, without Streamlit: bytes in, an answer or a message out.

The page (``streamlit_app.py``) only draws what :func:`analyse` returns, so the
upload and the in-browser recording go through exactly the same code.

Settings (environment variables, read when the page starts):

``SER_MODEL``
    Model bundle folder to serve (default: the model shipped with ser-framework).
    ``ser app --model BUNDLE`` sets it.
``SER_PLUGINS_DIRS``
    Folders of local plugin modules the bundle needs, separated by ``os.pathsep``.
    ``ser app --plugins-dir DIR`` sets it.
``SER_APP_MAX_SECONDS``
    Longest recording accepted, in seconds (default :data:`MAX_SECONDS`).
    ``ser app --max-seconds N`` sets it. Recordings longer than
    :data:`TIMELINE_AFTER` seconds get an emotion timeline (speech segments,
    each with its emotion) and the overall dominant emotion.

The upload size is capped by Streamlit itself: ``[server] maxUploadSize`` (MB) in
``frontends/app/.streamlit/config.toml``, which Streamlit reads next to the app
file whether it is started by ``ser app`` or ``streamlit run``.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass, field

from ser_framework import AUDIO_SUFFIXES, EmptyAudioError, SerError

MODEL_ENV = "SER_MODEL"
PLUGINS_DIRS_ENV = "SER_PLUGINS_DIRS"
MAX_SECONDS_ENV = "SER_APP_MAX_SECONDS"
#: Longest recording the page accepts, in seconds (one hour).
MAX_SECONDS = 3600.0
#: Recordings longer than this (seconds) get a timeline instead of one answer.
TIMELINE_AFTER = 30.0
#: File endings the upload buttons offer: every format the decoder reads (WAV, FLAC, MP3, OGG, M4A, WebM, ...)
UPLOAD_TYPES = [suffix.lstrip(".") for suffix in AUDIO_SUFFIXES]
#: How many emotions the page lists under the dominant one.
TOP_N = 3

#: Material Symbols (rendered by Streamlit as ``:material/NAME:``) per emotion.
ICONS = {
    "angry": "sentiment_extremely_dissatisfied",
    "calm": "sentiment_calm",
    "disgust": "sick",
    "fearful": "sentiment_stressed",
    "happy": "sentiment_very_satisfied",
    "neutral": "sentiment_neutral",
    "sad": "sentiment_sad",
    "surprised": "sentiment_excited",
}
#: Other spellings used by other corpora (EmoDB, CREMA-D, ...).
ALIASES = {
    "anger": "angry", "ang": "angry", "disgusted": "disgust", "dis": "disgust",
    "fear": "fearful", "fea": "fearful", "happiness": "happy", "hap": "happy", "joy": "happy",
    "neu": "neutral", "sadness": "sad", "surprise": "surprised", "boredom": "calm",
}
FALLBACK_ICON = "record_voice_over"
#: shown instead of an emotion's icon when the answer is uncertain (top probability below
#: ``ser_framework.MIN_CONFIDENCE``)
UNCERTAIN_ICON = "help"


def icon_for(label: str) -> str:
    key = label.strip().lower()
    return ICONS.get(ALIASES.get(key, key), FALLBACK_ICON)


def title_for(label: str) -> str:
    """``"fearful"`` -> ``"Fearful"``; ``"very_happy"`` -> ``"Very happy"``."""
    text = label.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def percent(p: float) -> str:
    return f"{100.0 * p:.1f}%"


@dataclass(frozen=True)
class Answer:
    """What the page shows for one clip."""

    label: str
    title: str
    icon: str
    top: list[tuple[str, float]]
    duration: float
    #: for long recordings: ``ser_framework.timeline.Segment`` objects; empty for one clip
    segments: list = field(default_factory=list)
    #: the top probability is low: ``title`` names the close alternatives instead of one emotion
    uncertain: bool = False
    #: every label's probability (what a signed-in user's history keeps)
    probabilities: dict = field(default_factory=dict)

    def segment_rows(self) -> list[dict]:
        """One compact row per speech segment: times as m:ss, emotion, its probability."""
        from ser_framework import clock

        return [{"From": clock(s.start), "To": clock(s.end), "Emotion": title_for(s.label),
                 "Probability": percent(s.probabilities[s.label])} for s in self.segments]

    def rows(self) -> list[tuple[str, str]]:
        """``[(title, "62.3%"), ...]``, highest first."""
        return [(title_for(lab), percent(p)) for lab, p in self.top]


@dataclass(frozen=True)
class Outcome:
    """Either an answer or a short message for the person; never both."""

    answer: Answer | None = None
    error: str | None = None
    #: for a signed-in user: whether their voice profile judged the clip, and if not, why
    profile_note: str | None = None


def max_seconds_setting() -> float:
    raw = os.environ.get(MAX_SECONDS_ENV, "").strip()
    if not raw:
        return MAX_SECONDS
    try:
        value = float(raw)
    except ValueError:
        raise SerError(f"{MAX_SECONDS_ENV}={raw!r} is not a number of seconds") from None
    if not value > 0:
        raise SerError(f"{MAX_SECONDS_ENV} must be above 0 seconds, not {raw}")
    return value


def _options(argv, name: str) -> list[str]:
    args, out = list(argv or []), []
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            out.append(args[i + 1])
        elif arg.startswith(name + "="):
            out.append(arg.split("=", 1)[1])
    return out


def model_setting(argv: list[str] | None = None) -> str | None:
    """The bundle to serve: ``--model X`` after ``--`` on ``streamlit run``, else ``$SER_MODEL``."""
    found = _options(argv, "--model")
    return found[-1] if found else (os.environ.get(MODEL_ENV) or None)


def plugins_dirs_setting(argv: list[str] | None = None) -> tuple[str, ...]:
    """Local plugin folders: ``--plugins-dir X`` (repeatable) after ``--``, else ``$SER_PLUGINS_DIRS``."""
    found = _options(argv, "--plugins-dir")
    if not found:
        found = [d for d in os.environ.get(PLUGINS_DIRS_ENV, "").split(os.pathsep) if d]
    return tuple(found)


def load_model(path: str | None = None, plugins_dirs=()):
    """Load the bundle and run it once on a synthetic sound, so the first real answer is quick."""
    import numpy as np

    from ser_framework import load_bundle

    bundle = load_bundle(path, plugins_dirs=plugins_dirs)
    rng = np.random.default_rng(0)
    bundle.predict_waveform((0.1 * rng.standard_normal(bundle.pipeline.sample_rate)).astype(np.float32),
                            check_speech=False)  # noise: the voice check would refuse it
    return bundle


def answer_for(prediction, duration: float, segments=()) -> Answer:
    """The page's answer for a ``ser_framework.Prediction``: one emotion, or "Uncertain: a or b"."""
    if prediction.uncertain:
        close = [title_for(lab).lower() for lab, _ in prediction.alternatives()]
        title = "Uncertain: " + (" or ".join(close) if len(close) > 1 else f"perhaps {close[0]}")
        icon = UNCERTAIN_ICON
    else:
        title, icon = title_for(prediction.label), icon_for(prediction.label)
    return Answer(label=prediction.label, title=title, icon=icon, top=prediction.top(TOP_N), duration=duration,
                  segments=list(segments), uncertain=prediction.uncertain,
                  probabilities=dict(prediction.probabilities))


def analyse(bundle, data: bytes, name: str = "the upload", *, max_seconds: float = MAX_SECONDS,
            max_bytes: int | None = None, timeline_after: float = TIMELINE_AFTER, progress=None,
            profile=None) -> Outcome:
    """Predict a recording given as file bytes; person-caused problems become ``Outcome.error``.

    Recordings longer than ``timeline_after`` seconds get a timeline (see
    :func:`ser_framework.emotion_timeline`); ``progress(done_s, total_s)`` is
    called while it is computed. ``profile``: the speaker's
    ``SpeakerProfile``, used for single clips when the model can use it
    (``Outcome.profile_note`` says whether it was).
    """
    if max_bytes is not None and len(data) > max_bytes:
        return Outcome(error=f"{name}: the file is too large ({len(data) / 2**20:.1f} MB); "
                             f"the limit is {max_bytes / 2**20:g} MB")
    source = io.BytesIO(data)
    source.name = name
    try:
        if not data:
            raise EmptyAudioError(f"{name}: the file is empty (0 bytes)")
        from ser_framework import audio_info

        duration = audio_info(source).duration
        source.seek(0)
        if duration > timeline_after:
            return _long_recording(bundle, source, name, duration, max_seconds, progress)
        y = bundle.pipeline.load(source, max_duration=max_seconds)
        prediction, note = _predict(bundle, y, name, profile)
    except SerError as exc:
        return Outcome(error=" ".join(str(exc).split()))
    return Outcome(answer=answer_for(prediction, len(y) / bundle.pipeline.sample_rate), profile_note=note)


def _predict(bundle, y, name, profile):
    """``(prediction, note)``: with the speaker's profile when the model can use it, else without, saying why."""
    from ser_framework import ProfileError

    if profile is None:
        return bundle.predict_waveform(y, name), None
    try:
        return (bundle.predict_waveform(y, name, profile=profile),
                f"Judged against your own voice (your profile of {profile.n_clips} clips).")
    except ProfileError as exc:
        return bundle.predict_waveform(y, name), f"Judged without your voice profile: {' '.join(str(exc).split())}"


def model_id(bundle) -> str:
    """What a history entry records about the model: its folder's name and when it was made."""
    return f"{bundle.path.name} {bundle.manifest.get('created', '')}".strip()


def profile_for(user, bundle):
    """The user's most recently updated profile made in ``bundle``'s feature space, or None."""
    usable = [s for s in user.profiles() if s.profile.model_key == bundle.feature_space]
    return max(usable, key=lambda s: s.updated).profile if usable else None


def _long_recording(bundle, source, name, duration, max_seconds, progress) -> Outcome:
    from ser_framework import AudioTooLongError, Prediction
    from ser_framework import emotion_timeline as timeline

    if duration > max_seconds:
        raise AudioTooLongError(f"{name}: too long: {duration:.1f} s, the limit is {max_seconds:g} s")
    result = timeline(bundle, source, name=name, progress=progress)
    label, probabilities = result.overall()
    if label is None:
        return Outcome(error=f"{name}: no speech found in this {duration:.0f}-second recording")
    return Outcome(answer=answer_for(Prediction(name, label, probabilities), duration, result.segments))
