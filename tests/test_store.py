"""The data store: migrations, concurrent writers, isolation between users, account deletion, exports, backup."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from ser_framework import AccountError, DataStore, ProfileError, SpeakerProfile, StoreError, local_user, sign_up
from ser_framework.store.db import DB_NAME, MIGRATIONS, SCHEMA_VERSION, connect, migrate

PROBS = {"angry": 0.7, "sad": 0.2, "calm": 0.1}


def profile(name="me", n=3, dim=4, seed=0):
    X = np.random.default_rng(seed).normal(size=(n, dim))
    return SpeakerProfile.from_features(X, name, "key0")


def tables(path):
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_an_empty_folder_gets_the_whole_schema(tmp_path):
    store = DataStore(tmp_path / "data")
    assert store.path == tmp_path / "data" / DB_NAME
    assert store.schema_version == SCHEMA_VERSION == len(MIGRATIONS)
    assert {"users", "profiles", "history", "sign_in_failures", "schema_version"} <= tables(store.path)
    with store.connection() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        plan = " ".join(r[-1] for r in conn.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM history WHERE user_id = ? AND time >= ? ORDER BY time", (1, 0.0)))
    assert "history_user_time" in plan  # the history page reads through the (user_id, time) index
    assert (store.path.stat().st_mode & 0o077) == 0  # personal data: the owner only
    DataStore(tmp_path / "data")  # opening again migrates nothing and keeps the version
    assert store.schema_version == SCHEMA_VERSION


def test_a_database_of_the_previous_schema_is_upgraded_with_its_data(tmp_path):
    path = tmp_path / DB_NAME
    conn = connect(path)
    assert migrate(conn, target=SCHEMA_VERSION - 1) == SCHEMA_VERSION - 1
    conn.execute("INSERT INTO users (id, name, password_hash, created) VALUES (7, 'old', NULL, 1.0)")
    conn.execute("INSERT INTO history (user_id, time, emotion, probabilities, note, model) "
                 "VALUES (7, 100.0, 'sad', ?, 'before the upgrade', 'm')", (json.dumps(PROBS),))
    conn.close()
    assert "sign_in_failures" not in tables(path)

    store = DataStore(tmp_path)
    assert store.schema_version == SCHEMA_VERSION
    assert "sign_in_failures" in tables(path)
    from ser_framework import user_by_id

    old = user_by_id(store, 7)
    assert [(e.emotion, e.note) for e in old.entries()] == [("sad", "before the upgrade")]
    old.record("calm", PROBS, model="m")
    assert old.count() == 2


def test_a_newer_schema_is_refused(tmp_path):
    DataStore(tmp_path)
    with sqlite3.connect(tmp_path / DB_NAME) as conn:
        conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    with pytest.raises(StoreError, match="newer"):
        DataStore(tmp_path)


WRITER = textwrap.dedent("""
    import sys, time
    from ser_framework import AccountError, DataStore, user_by_id
    from ser_framework.store.accounts import local_user
    folder, user_id, n, start_at = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    store = DataStore(folder)
    me = user_by_id(store, user_id)
    while time.time() < start_at:
        time.sleep(0.005)
    for i in range(n):
        me.record("angry", {"angry": 1.0}, model="m", note=f"{user_id}-{i}")
        if i % 10 == 0:
            local_user(store)  # the command line's account: an upsert racing the other writer
    print("done")
""")


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    import time

    store = DataStore(tmp_path)
    a, b = sign_up(store, "alice", "password-a"), sign_up(store, "bob", "password-b")
    n, start_at = 150, time.time() + 3.0
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), str(u.user_id), str(n), str(start_at)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for u in (a, b)]
    while time.time() < start_at:  # this process writes too, meanwhile
        time.sleep(0.005)
    for i in range(50):
        a.set_note(a.record("sad", PROBS, model="m"), f"main-{i}")
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert a.count() == n + 50 and b.count() == n
    assert {e.note for e in b.entries()} == {f"{b.user_id}-{i}" for i in range(n)}
    assert {e.note for e in a.entries()} == {f"{a.user_id}-{i}" for i in range(n)} | {f"main-{i}" for i in range(50)}
    assert store.counts()["users"] == 3  # alice, bob and one local account


def test_one_user_cannot_read_change_or_delete_another_users_data(tmp_path):
    store = DataStore(tmp_path)
    alice, bob = sign_up(store, "alice", "password-a"), sign_up(store, "bob", "password-b")
    alice.set_keep_audio(True)
    entry = alice.record("angry", PROBS, model="m", note="private", audio=b"RIFF....")
    alice.save_profile(profile("voice"))

    assert bob.entries() == [] and bob.count() == 0 and bob.time_span() is None
    assert bob.audio(entry) is None
    assert bob.set_note(entry, "mine now") is False
    assert bob.delete_entry(entry) is False
    with pytest.raises(ProfileError, match="no profile named 'voice'"):
        bob.profile("voice")
    with pytest.raises(ProfileError):
        bob.delete_profile("voice")
    bob.save_profile(profile("voice", seed=1))  # the same name in another account is another profile

    (kept,) = alice.entries()
    assert (kept.id, kept.note, kept.has_audio) == (entry, "private", True)
    assert alice.audio(entry) == b"RIFF...."
    assert alice.profile("voice") == profile("voice")
    assert bob.profile("voice") == profile("voice", seed=1)


def test_audio_is_kept_only_for_a_user_who_opted_in(tmp_path):
    store = DataStore(tmp_path)
    alice = sign_up(store, "alice", "password-a")
    with pytest.raises(StoreError, match="did not choose"):
        alice.record("sad", PROBS, model="m", audio=b"x")
    assert alice.count() == 0
    alice.set_keep_audio(True)
    entry = alice.record("sad", PROBS, model="m", audio=b"x")
    alice.set_keep_audio(False)  # opting out deletes what was kept
    assert alice.audio(entry) is None and alice.count() == 1


def test_deleting_an_account_leaves_no_row_behind(tmp_path):
    from ser_framework import sign_in
    from ser_framework.store.datastore import USER_TABLES

    store = DataStore(tmp_path)
    alice, bob = sign_up(store, "alice", "password-a"), sign_up(store, "bob", "password-b")
    for user in (alice, bob):
        user.set_keep_audio(True)
        user.save_profile(profile())
        for i in range(5):
            user.record("happy", PROBS, model="m", note=f"{user.name} secret note {i}", audio=b"AUDIO" + user.name.encode())
    with pytest.raises(AccountError):
        sign_in(store, "alice", "wrong password", client="10.0.0.1")

    alice.delete_account()

    with store.read() as conn:
        for table in ("profiles", "history"):
            assert conn.execute(f"SELECT COUNT(*) FROM {table} WHERE user_id = ?", (alice.user_id,)).fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM users WHERE id = ? OR name = 'alice'", (alice.user_id,)).fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM sign_in_failures WHERE account = 'alice'").fetchone()[0] == 0
        rows = {t: conn.execute(f"SELECT * FROM {t}").fetchall() for t in USER_TABLES}
    assert "alice" not in repr(rows)
    assert bob.count() == 5 and len(bob.profiles()) == 1  # the other account is untouched
    with store.connection() as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw = store.path.read_bytes()
    assert b"alice secret note" not in raw and b"AUDIOalice" not in raw  # secure_delete overwrote them
    assert b"bob secret note" in raw


def test_profiles_are_stored_replaced_listed_and_deleted(tmp_path):
    store = DataStore(tmp_path)
    me = local_user(store)
    assert local_user(store).user_id == me.user_id  # one local account
    me.save_profile(profile("b"))
    me.save_profile(profile("a", n=4))
    me.save_profile(profile("a", n=5))
    assert [(p.profile.name, p.profile.n_clips) for p in me.profiles()] == [("a", 5), ("b", 3)]
    me.delete_profile("a")
    with pytest.raises(ProfileError, match="profiles: b"):
        me.profile("a")


def test_history_pages_counts_and_chart_pairs(tmp_path):
    """What the history page reads: one table page at a time, the count and (time, emotion) in a date range."""
    store = DataStore(tmp_path)
    me, other = sign_up(store, "alice", "password-a"), sign_up(store, "bob", "password-b")
    for i in range(23):
        me.record(["sad", "angry", "calm"][i % 3], PROBS, model="m", note=f"n{i}", when=1000.0 + i)
        other.record("happy", {"happy": 1.0}, model="m", when=1000.5 + i)
    everything = me.summary_rows()
    assert [r[4] for r in everything] == [f"n{i}" for i in reversed(range(23))]  # newest first, only alice's
    pages = [me.summary_rows(limit=10, offset=o) for o in (0, 10, 20)]
    assert [len(p) for p in pages] == [10, 10, 3] and sum(pages, []) == everything
    assert me.summary_rows(limit=10, offset=30) == [] and me.summary_rows(offset=20) == everything[20:]
    assert me.count() == 23 and me.count(1005.0, 1010.0) == 5 and me.count(end=1000.0) == 0
    assert me.emotion_times(1005.0, 1008.0) == [(1005.0, "calm"), (1006.0, "sad"), (1007.0, "angry")]
    assert len(me.emotion_times()) == 23 and {e for _, e in other.emotion_times()} == {"happy"}


def test_history_exports_and_date_filter(tmp_path):
    import csv
    import io

    from ser_framework import history_csv, history_json

    store = DataStore(tmp_path)
    me = sign_up(store, "alice", "password-a")
    day = 86400.0
    for i in range(3):
        me.record(["sad", "angry", "calm"][i], PROBS, model="m", note=["", "=cmd()", "fine, thanks"][i], when=i * day)
    assert [e.emotion for e in me.entries(start=day, end=3 * day)] == ["calm", "angry"]
    assert [(r[2], r[3], r[4]) for r in me.summary_rows(start=day)] == [("calm", 0.1, "fine, thanks"), ("angry", 0.7, "=cmd()")]
    entries = me.entries()
    data = json.loads(history_json(entries))
    assert [d["emotion"] for d in data] == ["calm", "angry", "sad"]
    assert data[0]["probabilities"] == PROBS and data[0]["note"] == "fine, thanks"
    rows = list(csv.DictReader(io.StringIO(history_csv(entries))))
    assert [r["emotion"] for r in rows] == ["calm", "angry", "sad"]
    assert rows[0]["p_angry"] == "0.7000" and rows[0]["note"] == "fine, thanks"
    assert rows[1]["note"] == "'=cmd()"  # never a spreadsheet formula


def test_backup_is_a_complete_copy(tmp_path):
    store = DataStore(tmp_path / "data")
    me = sign_up(store, "alice", "password-a")
    me.record("sad", PROBS, model="m")
    copy = store.backup(tmp_path / "backup.db")
    assert copy.is_file()
    with sqlite3.connect(copy) as conn:
        assert conn.execute("SELECT COUNT(*) FROM history").fetchone()[0] == 1
    with pytest.raises(StoreError, match="already exists"):
        store.backup(copy)


@pytest.mark.parametrize("env, expected", [
    ({"SER_DATA_DIR": "mine", "XDG_DATA_HOME": "xdg"}, "mine"),
    ({"XDG_DATA_HOME": "xdg"}, "xdg/ser-framework"),
    ({}, "home/.local/share/ser-framework"),
])
def test_the_data_folder_is_chosen_by_environment(monkeypatch, tmp_path, env, expected):
    from ser_framework import data_dir

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ("SER_DATA_DIR", "XDG_DATA_HOME"):
        monkeypatch.delenv(name, raising=False)
        if name in env:
            monkeypatch.setenv(name, str(tmp_path / env[name]))
    assert data_dir() == tmp_path / expected
