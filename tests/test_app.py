"""The Streamlit page, driven in-process with ``streamlit.testing.v1.AppTest``."""
from __future__ import annotations

import re

import pytest
from app_support import APP_FILE, CLIP, CORPUS, bundle_for_tests, m4a_bytes, wav_bytes

pytestmark = pytest.mark.corpus

PERCENT = re.compile(r"^\d{1,3}\.\d%$")


@pytest.fixture(scope="session")
def model(tmp_path_factory):
    assert CLIP.is_file(), f"the corpus is missing: {CORPUS}"
    return bundle_for_tests(tmp_path_factory)


@pytest.fixture
def app(model, monkeypatch):
    from streamlit.testing.v1 import AppTest

    if model is None:
        monkeypatch.delenv("SER_MODEL", raising=False)
    else:
        monkeypatch.setenv("SER_MODEL", model)
    monkeypatch.delenv("SER_APP_MAX_SECONDS", raising=False)
    at = AppTest.from_file(str(APP_FILE), default_timeout=60)
    at.run()
    assert not at.exception
    return at


@pytest.fixture(scope="session")
def expected(model, tmp_path_factory):
    """The answer of the core prediction path (``Bundle.predict`` on a .wav file) for CLIP."""
    from ser_framework.bundle import load_bundle

    wav = tmp_path_factory.mktemp("clip") / "clip.wav"
    wav.write_bytes(wav_bytes())
    return load_bundle(model).predict(wav)


def answer_of(at):
    """(title shown, [(emotion, percent), ...]) read from the page."""
    assert not at.exception
    assert not at.error, at.error[0].value
    assert len(at.title) == 1
    table = [m.value for m in at.markdown if "| Emotion |" in m.value]
    assert len(table) == 1
    rows = [line.strip("|").split("|") for line in table[0].splitlines()[2:]]
    return at.title[0].value, [(a.strip(), b.strip()) for a, b in rows]


def check_answer(at, expected):
    title, rows = answer_of(at)
    from ser_frontends.app.logic import UNCERTAIN_ICON, answer_for, icon_for

    if expected.uncertain:  # a question-mark icon and the close alternatives in words
        assert title == f":material/{UNCERTAIN_ICON}: {answer_for(expected, 0).title}"
        assert all(lab in title for lab, _ in expected.alternatives())
    else:
        word = expected.label.capitalize()
        assert title == f":material/{icon_for(expected.label)}: {word}"  # an icon and the name in words
    assert [r[0] for r in rows] == [lab.capitalize() for lab, _ in expected.top(3)]
    assert [r[1] for r in rows] == [f"{100 * p:.1f}%" for _, p in expected.top(3)]
    values = [float(pct.rstrip("%")) for _, pct in rows]
    assert all(PERCENT.match(pct) for _, pct in rows)
    assert values == sorted(values, reverse=True)
    return title, rows


def test_page_starts_without_an_answer(app):
    assert len(app.file_uploader) == 1
    assert {".wav", ".flac", ".mp3", ".ogg", ".m4a", ".webm", ".amr"} <= set(app.file_uploader[0].allowed_type)
    assert len(app.audio_input) == 1
    assert not app.title and not app.error
    assert not app.sidebar.children  # no sidebar


def test_upload_shows_dominant_emotion_and_top3(app, expected):
    app.file_uploader[0].set_value(("clip.wav", wav_bytes(), "audio/wav"))
    app.run()
    check_answer(app, expected)


def test_a_phone_voice_memo_is_answered_as_the_core_answers_it(app, model, tmp_path):
    """An M4A (AAC) upload, which libsndfile cannot read, is decoded with FFmpeg like any other clip."""
    from ser_framework.bundle import load_bundle

    memo = tmp_path / "memo.m4a"
    memo.write_bytes(m4a_bytes())
    app.file_uploader[0].set_value(("memo.m4a", memo.read_bytes(), "audio/mp4"))
    app.run()
    check_answer(app, load_bundle(model).predict(memo))


def test_recording_gives_the_same_answer_as_upload(app, expected):
    data = wav_bytes()
    app.file_uploader[0].set_value(("clip.wav", data, "audio/wav"))
    app.run()
    uploaded = check_answer(app, expected)
    app.file_uploader[0].set_value(None)
    app.run()
    assert not app.title
    app.audio_input[0].set_value(("recording.wav", data, "audio/wav"))
    app.run()
    assert check_answer(app, expected) == uploaded


def test_the_latest_clip_is_the_one_answered(app, expected):
    app.file_uploader[0].set_value(("clip.wav", wav_bytes(), "audio/wav"))
    app.run()
    check_answer(app, expected)
    app.audio_input[0].set_value(("recording.wav", wav_bytes(seconds=0.02), "audio/wav"))
    app.run()
    assert not app.title and "too short" in app.error[0].value


BAD_INPUTS = {
    "not audio": (lambda: b"just some text, not a recording\n" * 20, "not an audio file"),
    "empty": (lambda: b"", "empty"),
    "too short": (lambda: wav_bytes(seconds=0.05), "too short"),
    "corrupt": (lambda: wav_bytes()[:44] + bytes(range(256)) * 4, None),
    "silent": (lambda: bytes(wav_bytes()[:44]) + bytes(96000), "silent"),
}


@pytest.mark.parametrize("kind", BAD_INPUTS)
def test_bad_upload_gets_a_message_and_the_page_keeps_working(app, expected, kind):
    make, words = BAD_INPUTS[kind]
    app.file_uploader[0].set_value(("bad.wav", make(), "audio/wav"))
    app.run()
    assert not app.exception
    assert not app.title
    assert len(app.error) == 1
    message = app.error[0].value
    assert message.startswith("bad.wav: ") and "Traceback" not in message and len(message) < 200
    if words:
        assert words in message
    app.file_uploader[0].set_value(("clip.wav", wav_bytes(), "audio/wav"))
    app.run()
    check_answer(app, expected)


def test_too_long_clip_is_refused_by_the_duration_setting(model, monkeypatch):
    from streamlit.testing.v1 import AppTest

    if model is not None:
        monkeypatch.setenv("SER_MODEL", model)
    monkeypatch.setenv("SER_APP_MAX_SECONDS", "1.5")
    at = AppTest.from_file(str(APP_FILE), default_timeout=60)
    at.run()
    assert "1.5 seconds" in at.caption[0].value
    at.file_uploader[0].set_value(("long.wav", wav_bytes(), "audio/wav"))
    at.run()
    assert not at.exception and not at.title
    assert "too long" in at.error[0].value and "1.5 s" in at.error[0].value
    at.file_uploader[0].set_value(("short.wav", wav_bytes(seconds=1.2), "audio/wav"))
    at.run()
    answer_of(at)


def test_a_missing_model_is_reported_in_the_page(monkeypatch, tmp_path):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("SER_MODEL", str(tmp_path / "no-such-bundle"))
    at = AppTest.from_file(str(APP_FILE), default_timeout=60)
    at.run()
    assert not at.exception
    assert "model bundle not found" in at.error[0].value
    assert not at.file_uploader


def test_upload_size_limit_is_set_in_the_app_config():
    import tomllib

    config = tomllib.loads((APP_FILE.parent / ".streamlit/config.toml").read_text())
    assert 1 <= config["server"]["maxUploadSize"] <= 200


def test_analyse_refuses_files_over_the_size_limit(model):
    from ser_frontends.app import logic

    bundle = logic.load_model(model)
    data = wav_bytes()
    small = logic.analyse(bundle, data, "clip.wav", max_bytes=len(data) - 1)
    assert small.answer is None and "too large" in small.error
    assert logic.analyse(bundle, data, "clip.wav", max_bytes=len(data)).answer is not None


def test_icons_are_material_symbols_not_emoji():
    from streamlit.material_icon_names import ALL_MATERIAL_ICONS

    from ser_frontends.app import logic

    for label in [*logic.ICONS, *logic.ALIASES, "something-else"]:
        icon = logic.icon_for(label)
        assert icon in ALL_MATERIAL_ICONS and icon.isascii()
    assert len(set(logic.ICONS.values())) == len(logic.ICONS)  # one icon per emotion


def test_ser_app_refuses_a_folder_that_is_not_a_bundle(tmp_path):
    from click.testing import CliRunner

    from ser_frontends.cli.main import cli

    result = CliRunner().invoke(cli, ["app", "--model", str(tmp_path), "--port", "8765"])
    assert result.exit_code == 1
    assert "not a model bundle" in result.output and "Traceback" not in result.output


def test_ser_app_serves_the_app_file_headless_on_the_chosen_port():
    from ser_frontends.cli.app_cmd import APP_FILE, streamlit_command

    cmd = streamlit_command(8765)
    assert APP_FILE == globals()["APP_FILE"].resolve() and APP_FILE.is_file()
    assert cmd[1:5] == ["-m", "streamlit", "run", str(APP_FILE)]
    flags = dict(zip(cmd[5::2], cmd[6::2]))
    assert flags == {"--server.port": "8765", "--server.headless": "true", "--browser.gatherUsageStats": "false"}


def test_the_model_is_loaded_once_for_all_sessions_and_reruns(model, monkeypatch):
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from ser_frontends.app import logic

    if model is not None:
        monkeypatch.setenv("SER_MODEL", model)
    loads = []
    real = logic.load_model
    monkeypatch.setattr(logic, "load_model", lambda path, plugins_dirs=(): loads.append(path) or real(path, plugins_dirs))
    st.cache_resource.clear()
    sessions = [AppTest.from_file(str(APP_FILE), default_timeout=60) for _ in range(2)]
    for at in sessions:
        at.run()
        at.file_uploader[0].set_value(("clip.wav", wav_bytes(), "audio/wav"))
        at.run()
        answer_of(at)
    assert loads == [model]
    st.cache_resource.clear()


def test_long_recording_shows_overall_emotion_and_a_timeline(app, model, tmp_path):
    """A recording longer than TIMELINE_AFTER gets segments, not one answer for the whole file."""
    from ser_framework import Prediction
    from ser_framework.bundle import load_bundle
    from ser_framework.timeline import timeline
    from ser_framework.timeline.stitch import stitch_clips
    from ser_frontends.app.logic import TIMELINE_AFTER, answer_for, title_for

    clips = sorted((CORPUS / "Actor_01").glob("*.flac"))[::6][:9]
    long_wav = tmp_path / "long.wav"
    spans = stitch_clips(clips, long_wav, gap=(1.0, 2.0), seed=1, subtype="PCM_16")
    assert spans[-1]["end"] > TIMELINE_AFTER
    app.file_uploader[0].set_value(("long.wav", long_wav.read_bytes(), "audio/wav"))
    app.run()
    assert not app.exception and not app.error
    expected = timeline(load_bundle(model), str(long_wav))
    label, probabilities = expected.overall()
    assert app.title[0].value.endswith(answer_for(Prediction("long.wav", label, probabilities), 0).title)
    frame = app.dataframe[0].value
    assert list(frame.columns) == ["From", "To", "Emotion", "Probability"]
    assert len(frame) == len(expected.segments) >= len(clips) // 2
    assert list(frame["Emotion"]) == [title_for(s.label) for s in expected.segments]
