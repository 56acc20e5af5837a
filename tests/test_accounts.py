"""Accounts: password storage, wrong passwords, throttling of repeated failures, name rules."""
from __future__ import annotations

import logging
import sqlite3

import pytest

from ser_framework import AccountError, DataStore, SignInThrottled, local_user, sign_in, sign_up
from ser_framework.store.accounts import MAX_ACCOUNT_FAILURES, MAX_CLIENT_FAILURES, WINDOW_S, WRONG

PASSWORD = "correct horse battery staple"


@pytest.fixture
def store(tmp_path):
    return DataStore(tmp_path)


def test_the_database_holds_no_clear_password(store, caplog):
    caplog.set_level(logging.DEBUG)
    alice = sign_up(store, "alice", PASSWORD)
    bob = sign_up(store, "bob", PASSWORD)
    assert sign_in(store, "alice", PASSWORD).user_id == alice.user_id
    with store.connection() as conn:
        hashes = [h for (h,) in conn.execute("SELECT password_hash FROM users ORDER BY id")]
        dump = "\n".join(conn.iterdump())
    assert all(h.startswith("$argon2id$") for h in hashes)
    assert hashes[0] != hashes[1]  # a salt of its own: the same password does not give the same hash
    assert PASSWORD not in dump
    raw = b"".join(p.read_bytes() for p in store.folder.iterdir() if p.name.startswith("ser.db"))
    assert PASSWORD.encode() not in raw and PASSWORD.encode("utf-16-le") not in raw  # nor in the WAL
    assert all(PASSWORD not in r.getMessage() for r in caplog.records)  # never logged
    assert bob.user_id != alice.user_id


def test_a_wrong_password_and_an_unknown_name_get_the_same_answer(store):
    sign_up(store, "alice", PASSWORD)
    with pytest.raises(AccountError) as wrong:
        sign_in(store, "alice", PASSWORD + "!")
    with pytest.raises(AccountError) as unknown:
        sign_in(store, "nobody", PASSWORD)
    assert str(wrong.value) == str(unknown.value) == WRONG
    assert sign_in(store, "ALICE", PASSWORD).name == "alice"  # names are case-insensitive


def test_repeated_failures_throttle_the_account_until_the_window_passes(store):
    sign_up(store, "alice", PASSWORD)
    now = 1_000_000.0
    for i in range(MAX_ACCOUNT_FAILURES):
        with pytest.raises(AccountError, match=WRONG):
            sign_in(store, "alice", f"guess {i}", client="10.0.0.9", now=now + i)
    with pytest.raises(SignInThrottled, match="too many failed sign-ins") as throttled:
        sign_in(store, "alice", PASSWORD, client="10.0.0.1", now=now + 10)  # even the right password, from anywhere
    assert 0 < throttled.value.retry_after <= WINDOW_S
    later = now + WINDOW_S + 1
    assert sign_in(store, "alice", PASSWORD, now=later).name == "alice"
    with store.read() as conn:  # a good sign-in clears the account's failures
        assert conn.execute("SELECT COUNT(*) FROM sign_in_failures WHERE account = 'alice'").fetchone()[0] == 0


def test_one_client_failing_on_many_accounts_is_throttled(store):
    sign_up(store, "alice", PASSWORD)
    now = 2_000_000.0
    for i in range(MAX_CLIENT_FAILURES):
        with pytest.raises(AccountError):
            sign_in(store, f"user{i}", "whatever1", client="203.0.113.5", now=now)
    with pytest.raises(SignInThrottled):
        sign_in(store, "alice", PASSWORD, client="203.0.113.5", now=now + 1)
    assert sign_in(store, "alice", PASSWORD, client="198.51.100.7", now=now + 1).name == "alice"
    with pytest.raises(AccountError):  # a failure after the window: the old ones are dropped
        sign_in(store, "nobody", "whatever1", client="203.0.113.5", now=now + WINDOW_S + 1)
    with store.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM sign_in_failures").fetchone()[0] == 1


def test_sign_up_rules(store):
    sign_up(store, "alice", PASSWORD)
    with pytest.raises(AccountError, match="taken"):
        sign_up(store, "Alice", PASSWORD)
    with pytest.raises(AccountError, match="at least 8"):
        sign_up(store, "carol", "short")
    for bad in ("", " ", "-dash", "a b", "x" * 65, "name'; DROP TABLE users; --"):
        with pytest.raises(AccountError, match="a name is"):
            sign_up(store, bad, PASSWORD)
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("SELECT name FROM users").fetchall() == [("alice",)]


def test_the_command_line_account_cannot_sign_in(store):
    local_user(store)
    with pytest.raises(AccountError, match=WRONG):
        sign_in(store, "local", "")
    with pytest.raises(AccountError, match="taken"):
        sign_up(store, "local", PASSWORD)
