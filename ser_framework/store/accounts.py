"""Accounts: sign up, sign in (throttled), and finding the local account of the command line.

Passwords are hashed with Argon2id (argon2-cffi, a random salt per hash,
OWASP's recommended parameters: 19 MiB, 2 passes, 1 lane — about 0.1 s here,
so signing in stays quick on a busy server); a hash made with other
parameters is upgraded at the next sign-in. The clear password is never
stored, logged or kept. A wrong name and a wrong password get the same
answer. Failed sign-ins are recorded per account name and per client (the
app passes the browser's address); after :data:`MAX_ACCOUNT_FAILURES` for one
account, or :data:`MAX_CLIENT_FAILURES` from one client, within
:data:`WINDOW_S` seconds, sign-ins are refused without checking the password
until the oldest of those failures is older than the window.
"""
from __future__ import annotations

import re
import time as _time

from ..errors import AccountError, SignInThrottled
from .datastore import LOCAL_USER, DataStore
from .userdata import UserData

MIN_PASSWORD = 8
MAX_PASSWORD = 1024
#: failed sign-ins allowed per account name within the window
MAX_ACCOUNT_FAILURES = 5
#: failed sign-ins allowed per client (any account) within the window
MAX_CLIENT_FAILURES = 20
#: the throttling window, in seconds
WINDOW_S = 15 * 60.0
NAME_RULE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
WRONG = "wrong name or password"


def _hasher():
    from argon2 import PasswordHasher

    return PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


def check_name(name: str) -> str:
    name = str(name or "").strip()
    if not NAME_RULE.fullmatch(name):
        raise AccountError("a name is 1-64 letters, digits or . _ @ -, starting with a letter or digit")
    return name


def sign_up(store: DataStore, name: str, password: str) -> UserData:
    """Create an account; :class:`AccountError` if the name is taken or the password too short."""
    name = check_name(name)
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise AccountError(f"a password needs at least {MIN_PASSWORD} characters")
    digest = _hasher().hash(password)
    with store.write() as conn:
        if conn.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
            raise AccountError(f"the name {name!r} is taken; choose another")
        user_id = conn.execute("INSERT INTO users (name, password_hash, created) VALUES (?, ?, ?)",
                               (name, digest, _time.time())).lastrowid
    return UserData(store, user_id, name)


def _throttled(conn, name: str, client: str | None, now: float) -> float:
    """Seconds to wait before another attempt (0: go ahead)."""
    since = now - WINDOW_S
    waits = []
    for column, key, limit in (("account", name, MAX_ACCOUNT_FAILURES), ("client", client, MAX_CLIENT_FAILURES)):
        if key is None:
            continue
        times = [t for (t,) in conn.execute(
            f"SELECT time FROM sign_in_failures WHERE {column} = ? AND time > ? ORDER BY time DESC LIMIT ?",  # noqa: S608
            (key, since, limit))]
        if len(times) >= limit:
            waits.append(times[-1] + WINDOW_S - now)
    return max(waits, default=0.0)


def sign_in(store: DataStore, name: str, password: str, *, client: str | None = None,
            now: float | None = None) -> UserData:
    """The account ``name`` if ``password`` is right; :class:`AccountError` or :class:`SignInThrottled` if not.

    ``client`` identifies where the attempt comes from (the app passes the
    browser's IP address); ``now`` (seconds since the epoch) is for tests.
    """
    from argon2.exceptions import InvalidHashError, VerificationError

    now = _time.time() if now is None else now
    name = str(name or "").strip()[:64]
    with store.read() as conn:
        wait = _throttled(conn, name, client, now)
        row = conn.execute("SELECT id, name, password_hash, keep_audio FROM users WHERE name = ?", (name,)).fetchone()
    if wait > 0:
        raise SignInThrottled(f"too many failed sign-ins; try again in {wait / 60:.0f} min" if wait >= 60
                              else f"too many failed sign-ins; try again in {wait:.0f} s", wait)
    hasher = _hasher()
    ok = False
    try:
        if row is None or row[2] is None:  # no such account, or the command line's: same work, same answer
            hasher.verify(_dummy_hash(), password + "x")
        else:
            ok = hasher.verify(row[2], password)
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok:
        with store.write() as conn:  # failures older than the window no longer count: drop them
            conn.execute("DELETE FROM sign_in_failures WHERE time <= ?", (now - WINDOW_S,))
            conn.execute("INSERT INTO sign_in_failures (account, client, time) VALUES (?, ?, ?)", (name, client, now))
        raise AccountError(WRONG)
    with store.write() as conn:
        conn.execute("DELETE FROM sign_in_failures WHERE account = ?", (name,))
        if hasher.check_needs_rehash(row[2]):
            conn.execute("UPDATE users SET password_hash = ? WHERE id = ?", (hasher.hash(password), row[0]))
    return UserData(store, row[0], row[1], bool(row[3]))


_DUMMY: list[str] = []


def _dummy_hash() -> str:
    if not _DUMMY:
        _DUMMY.append(_hasher().hash("not a password of anyone"))
    return _DUMMY[0]


def user_by_id(store: DataStore, user_id: int) -> UserData:
    """The account with this id (for a server-side session); AccountError if it no longer exists."""
    with store.read() as conn:
        row = conn.execute("SELECT id, name, keep_audio FROM users WHERE id = ?", (int(user_id),)).fetchone()
    if row is None:
        raise AccountError("this account no longer exists")
    return UserData(store, row[0], row[1], bool(row[2]))


def local_user(store: DataStore) -> UserData:
    """The command line's account, :data:`LOCAL_USER` (no password: it never signs in to the app)."""
    with store.write() as conn:
        conn.execute("INSERT INTO users (name, password_hash, created) VALUES (?, NULL, ?) ON CONFLICT (name) DO NOTHING",
                     (LOCAL_USER, _time.time()))
        row = conn.execute("SELECT id, name, keep_audio FROM users WHERE name = ?", (LOCAL_USER,)).fetchone()
    return UserData(store, row[0], row[1], bool(row[2]))
