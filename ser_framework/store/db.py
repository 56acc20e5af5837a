"""The SQLite database: where it lives, how it is opened, and its schema migrations.

One file, ``ser.db``, in the data folder (:func:`data_dir`). Every connection
uses WAL journaling (readers never block the writer), a busy timeout (a writer
waits for another process's write instead of failing), foreign keys with
``ON DELETE CASCADE`` and ``secure_delete`` (deleted rows are overwritten in the
file). Writes run in ``BEGIN IMMEDIATE`` transactions; every query takes its
values as parameters, never pasted into the SQL.
"""
from __future__ import annotations

import os
import sqlite3
from contextlib import contextmanager
from pathlib import Path

from ..errors import StoreError

#: environment variable naming the data folder
DATA_DIR_ENV = "SER_DATA_DIR"
#: the database file inside the data folder
DB_NAME = "ser.db"
#: how long a connection waits for another writer before giving up, in seconds
BUSY_TIMEOUT_S = 30.0

#: The schema, one tuple of statements per version, applied in order. Never edit a
#: released migration: add the next one.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: accounts, speaker profiles per account, history entries per account
    (
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE COLLATE NOCASE,"
        " password_hash TEXT, keep_audio INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL)",
        "CREATE TABLE profiles (id INTEGER PRIMARY KEY,"
        " user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,"
        " name TEXT NOT NULL, data TEXT NOT NULL, updated REAL NOT NULL, UNIQUE (user_id, name))",
        "CREATE TABLE history (id INTEGER PRIMARY KEY,"
        " user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,"
        " time REAL NOT NULL, emotion TEXT NOT NULL, probabilities TEXT NOT NULL,"
        " note TEXT NOT NULL DEFAULT '', model TEXT NOT NULL, audio BLOB)",
        "CREATE INDEX history_user_time ON history (user_id, time)",
    ),
    # 2: failed sign-ins, so repeated failures can be throttled per account and per client
    (
        "CREATE TABLE sign_in_failures (id INTEGER PRIMARY KEY, account TEXT NOT NULL COLLATE NOCASE,"
        " client TEXT, time REAL NOT NULL)",
        "CREATE INDEX sign_in_failures_account ON sign_in_failures (account, time)",
        "CREATE INDEX sign_in_failures_client ON sign_in_failures (client, time)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


def data_dir() -> Path:
    """``$SER_DATA_DIR``, else ``$XDG_DATA_HOME/ser-framework``, else ``~/.local/share/ser-framework``."""
    if os.environ.get(DATA_DIR_ENV):
        return Path(os.environ[DATA_DIR_ENV]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base).expanduser() / "ser-framework"


def connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit, see :func:`transaction`)."""
    try:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA secure_delete = ON")
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: cannot open the database ({exc})") from None
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection, *, write: bool = True):
    """``BEGIN IMMEDIATE`` (takes the write lock at once, waiting for it) or a read ``BEGIN``; commit or roll back."""
    conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def schema_version(conn: sqlite3.Connection) -> int:
    """The version recorded in the ``schema_version`` table (0 for an empty database)."""
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").fetchone():
        return 0
    row = conn.execute("SELECT version FROM schema_version").fetchone()
    return row[0] if row else 0


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Bring the schema up to ``target`` in one transaction (safe when several processes start at once)."""
    with transaction(conn):
        current = schema_version(conn)
        if current > SCHEMA_VERSION:
            raise StoreError(f"the database has schema version {current}, newer than this ser-framework "
                             f"knows ({SCHEMA_VERSION}); upgrade ser-framework")
        if current == 0:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            conn.execute("INSERT INTO schema_version (version) VALUES (0)")
        for version in range(current + 1, target + 1):
            for statement in MIGRATIONS[version - 1]:
                conn.execute(statement)
            conn.execute("UPDATE schema_version SET version = ?", (version,))
        return max(current, target)
