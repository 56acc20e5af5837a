"""Accounts in the app (driven in-process with AppTest): sign-up and enrolment, history, isolation, deletion."""
from __future__ import annotations

import pytest
from app_support import APP_FILE, CLIP, CORPUS, bundle_for_tests, wav_bytes

from ser_framework import DataStore, sign_up

pytestmark = pytest.mark.corpus

PASSWORD = "a long enough password"
#: three calm-voiced sentences of actor 5 (neutral, normal intensity)
ENROL_CLIPS = [CORPUS / f"Actor_05/03-01-01-01-{s}-05.flac" for s in ("01-01", "01-02", "02-01")]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    assert CLIP.is_file(), f"the corpus is missing: {CORPUS}"
    return bundle_for_tests(tmp_path_factory)


@pytest.fixture
def data_dir(tmp_path, monkeypatch, model):
    if model is None:
        monkeypatch.delenv("SER_MODEL", raising=False)
    else:
        monkeypatch.setenv("SER_MODEL", model)
    monkeypatch.setenv("SER_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def new_app():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP_FILE), default_timeout=60)
    at.run()
    assert not at.exception
    return at


def go(at, page: str):
    at.switch_page(f"views/{page}.py").run()
    assert not at.exception, at.exception
    return at


def press(at, label: str):
    next(b for b in at.button if b.label == label).click().run()
    assert not at.exception, at.exception
    return at


def sign_up_in_page(at, name):
    go(at, "account")
    at.text_input(key="sign-up-name").input(name)
    at.text_input(key="sign-up-password").input(PASSWORD)
    return press(at, "Create my account")


def sign_in_in_page(at, name, password=PASSWORD):
    go(at, "account")
    at.text_input(key="sign-in-name").input(name)
    at.text_input(key="sign-in-password").input(password)
    return press(at, "Sign in")


def analyse(at, data=None):
    go(at, "analyse")
    at.file_uploader[0].set_value(("clip.wav", data or wav_bytes(), "audio/wav")).run()
    assert not at.exception and len(at.title) == 1
    return at


def table_rows(at) -> list[list[str]]:
    """The history table's rows as shown: entry number and note."""
    import re

    tables = [h.value for h in at.html if "ser-history-table" in h.value]
    return [[m[0], m[1]] for t in tables for m in re.findall(r"<tr><td>(\d+)</td>.*?<td>([^<]*)</td></tr>", t)]


def test_sign_up_enrol_analyse_note_history_and_delete_entry(data_dir, model):
    at = sign_up_in_page(new_app(), "alice")
    assert at.header[0].value == "Signed in as alice"
    assert any("Welcome" in i.value for i in at.info)  # a new account is led to enrolment first
    at.file_uploader(key="enrol-upload-0").set_value(
        [(p.name.replace(".flac", ".wav"), wav_bytes(p), "audio/wav") for p in ENROL_CLIPS]).run()
    press(at, "Make my voice profile")
    assert any("voice profile is ready (3 clips)" in s.value for s in at.success), [e.value for e in at.error]
    store = DataStore(data_dir)
    with store.read() as conn:
        user_id = conn.execute("SELECT id FROM users WHERE name = 'alice'").fetchone()[0]
    from ser_framework import user_by_id

    alice = user_by_id(store, user_id)
    assert [p.profile.n_clips for p in alice.profiles()] == [3]
    assert not at.file_uploader(key="enrol-upload-1").value  # the uploaded sentences are not offered again

    analyse(at)
    judged = [c.value for c in at.caption if c.value.startswith("Judged ")]  # whether the profile judged the clip
    assert judged, [c.value for c in at.caption]
    if model is None:  # the shipped default carries a profile member: a signed-in user's profile is used
        assert judged == ["Judged against your own voice (your profile of 3 clips)."], judged
    (entry,) = alice.entries()
    assert entry.emotion and abs(sum(entry.probabilities.values()) - 1) < 1e-6 and not entry.has_audio
    note = next(t for t in at.text_input if t.label == "Note")
    note.input("after the meeting")
    press(at, "Save note")
    assert alice.entries()[0].note == "after the meeting"
    assert len(alice.entries()) == 1  # reruns (typing the note) did not keep the clip twice

    go(at, "history")
    assert any("1 entries" in c.value for c in at.caption)
    assert table_rows(at) == [[str(entry.id), "after the meeting"]]

    bob = sign_up(store, "bob", PASSWORD)
    bobs = bob.record("sad", {"sad": 1.0}, model="m", note="bob's")
    at.number_input(key="delete-entry-id").set_value(bobs)
    press(at, "Delete this entry")
    assert any(f"no entry {bobs}" in e.value for e in at.error)  # another user's entry: not found
    assert bob.count() == 1
    at.number_input(key="delete-entry-id").set_value(entry.id)
    press(at, "Delete this entry")
    assert alice.count() == 0


def test_the_url_and_page_inputs_cannot_reach_another_users_history(data_dir):
    store = DataStore(data_dir)
    alice = sign_up(store, "alice", PASSWORD)
    alice.record("angry", {"angry": 1.0}, model="m", note="alice's secret")
    at = new_app()
    at.query_params["user"] = str(alice.user_id)
    at.query_params["user_id"] = str(alice.user_id)
    at.run()
    with pytest.raises(ValueError, match="Known pages"):  # not signed in: no history page, whatever the URL says
        go(at, "history")
    assert "alice's secret" not in repr(at.main) and not table_rows(at)

    sign_up_in_page(at, "bob")
    at.query_params["user_id"] = str(alice.user_id)
    go(at, "history")
    assert "alice's secret" not in repr(at.main) and not table_rows(at)
    assert not any("alice's secret" in h.value for h in at.html)
    assert any("No entries yet" in c.value for c in at.caption)


def test_enrolment_by_recording_sentences_one_by_one(data_dir):
    at = sign_up_in_page(new_app(), "carol")
    for i, path in enumerate(ENROL_CLIPS):
        at.audio_input(key=f"enrol-record-{i}").set_value((f"rec{i}.wav", wav_bytes(path), "audio/wav")).run()
        assert any(f"{i + 1} sentence(s) recorded" in c.value for c in at.caption)
    press(at, "Make my voice profile")
    assert any("ready (3 clips)" in s.value for s in at.success), [e.value for e in at.error]
    assert not any("Welcome" in i.value for i in at.info)  # enrolled: no more welcome
    at.audio_input(key="enrol-record-0").set_value(("more.wav", wav_bytes(seconds=2.0), "audio/wav")).run()
    press(at, "Add these to my voice profile")
    assert any("ready (4 clips)" in s.value for s in at.success)


def test_an_unusable_data_folder_is_one_line_in_the_page(data_dir):
    data_dir.parent.mkdir(exist_ok=True)
    data_dir.write_text("a file where the data folder should be")
    at = sign_up_in_page(new_app(), "dave")
    assert "cannot create the data folder" in at.error[0].value
    go(at, "analyse")  # the analysis page still works without the data folder
    analyse(at)


def test_wrong_password_and_throttling_in_the_page(data_dir):
    from ser_framework.store.accounts import MAX_ACCOUNT_FAILURES

    sign_up(DataStore(data_dir), "alice", PASSWORD)
    at = new_app()
    for _ in range(MAX_ACCOUNT_FAILURES):
        sign_in_in_page(at, "alice", "not the password")
        assert [e.value for e in at.error] == ["Wrong name or password"]
    sign_in_in_page(at, "alice", PASSWORD)
    assert "too many failed sign-ins" in at.error[0].value
    assert at.header[0].value == "Your account"  # still signed out


def test_deleting_the_account_in_the_page_leaves_no_rows(data_dir):
    at = sign_up_in_page(new_app(), "alice")
    analyse(at)
    go(at, "account")
    at.toggle(key="keep-audio").set_value(True).run()
    analyse(at, wav_bytes(seconds=2.0))
    store = DataStore(data_dir)
    with store.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM history WHERE audio IS NOT NULL").fetchone()[0] == 1
    go(at, "account")
    at.text_input(key="delete-password").input(PASSWORD)
    press(at, "Delete my account and all its data")
    assert any("were deleted" in s.value for s in at.success)
    assert store.counts() == {"users": 0, "profiles": 0, "history": 0, "sign_in_failures": 0}


def test_history_pages_through_a_long_history_and_its_chart_counts_every_entry(data_dir):
    import re
    import time
    from collections import Counter
    from datetime import timedelta

    from ser_frontends.app import history_view

    alice = sign_up(DataStore(data_dir), "alice", PASSWORD)
    now = time.time()
    ids = [alice.record("sad" if i % 3 else "calm", {"sad": 0.6, "calm": 0.4}, model="m", note=f"n{i}",
                        when=now - 5 * 3600 * i) for i in range(120)]  # newest first, over 25 days
    at = sign_in_in_page(new_app(), "alice")
    go(at, "history")
    assert [int(r[0]) for r in table_rows(at)] == ids[:50]
    assert any(c.value.startswith("Entries 1–50 of 120") for c in at.caption)
    assert next(b for b in at.button if b.label == "Newer").disabled
    press(at, "Older")
    assert [int(r[0]) for r in table_rows(at)] == ids[50:100]
    press(at, "Older")
    assert [int(r[0]) for r in table_rows(at)] == ids[100:]
    assert next(b for b in at.button if b.label == "Older").disabled
    press(at, "Newer")
    assert [int(r[0]) for r in table_rows(at)] == ids[50:100]

    tz = history_view.timezone(None)  # AppTest has no browser time zone: the server's
    (chart,) = [h.value for h in at.html if "ser-history-chart" in h.value]
    shown = {day: int(n) for day, n in re.findall(r'title="(\d{4}-\d\d-\d\d): (\d+) clips', chart)}
    per_day = Counter(f"{history_view.day_of(e.time, tz):%Y-%m-%d}" for e in alice.entries())
    assert shown == per_day and sum(shown.values()) == 120

    last = history_view.day_of(now, tz)  # a new date range starts again at its newest entries
    at.date_input(key="history-dates").set_value((last - timedelta(days=2), last)).run()
    in_range = [e.id for e in alice.entries(*history_view.day_bounds(last - timedelta(days=2), last, tz))]
    assert [int(r[0]) for r in table_rows(at)] == in_range[:50] and len(in_range) < 50
    assert next(b for b in at.button if b.label == "Older").disabled
