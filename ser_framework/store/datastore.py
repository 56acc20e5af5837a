"""The data store: one SQLite file shared safely by ``ser`` commands and the web app."""
from __future__ import annotations

import os
import sqlite3
from contextlib import contextmanager
from pathlib import Path

from ..errors import StoreError
from .db import DB_NAME, connect, data_dir, migrate, schema_version, transaction

#: the account that owns what the command line stores (profiles made by ``ser profile``)
LOCAL_USER = "local"
#: tables that hold rows belonging to a user
USER_TABLES = ("users", "profiles", "history", "sign_in_failures")


class DataStore:
    """The database in ``folder`` (default :func:`~.db.data_dir`), created and migrated on first use.

    Every method opens its own short-lived connection, so one store may be
    shared by threads (the web app keeps one per server process).
    """

    def __init__(self, folder: str | os.PathLike | None = None):
        self.folder = Path(folder) if folder is not None else data_dir()
        self.path = self.folder / DB_NAME
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise StoreError(f"cannot create the data folder {self.folder}: {exc}") from None
        new = not self.path.exists()
        with self.connection() as conn:
            if new:
                os.chmod(self.path, 0o600)  # personal data: readable by its owner only
            migrate(conn)

    @contextmanager
    def connection(self):
        conn = connect(self.path)
        try:
            yield conn
        finally:
            conn.close()

    @contextmanager
    def write(self):
        """A connection inside a write transaction (committed on success, rolled back on error)."""
        with self.connection() as conn, transaction(conn):
            yield conn

    @contextmanager
    def read(self):
        """A connection inside a read transaction: a consistent snapshot."""
        with self.connection() as conn, transaction(conn, write=False):
            yield conn

    @property
    def schema_version(self) -> int:
        with self.connection() as conn:
            return schema_version(conn)

    def counts(self) -> dict[str, int]:
        """Rows per table."""
        with self.read() as conn:
            return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in USER_TABLES}  # noqa: S608

    def backup(self, destination: str | os.PathLike) -> Path:
        """A consistent copy of the database (SQLite's online backup), safe while others write."""
        destination = Path(destination)
        if destination.is_dir():
            destination = destination / DB_NAME
        if destination.exists():
            raise StoreError(f"{destination} already exists; choose a new file name")
        with self.connection() as conn:
            target = sqlite3.connect(destination)
            try:
                conn.backup(target)
            finally:
                target.close()
        os.chmod(destination, 0o600)
        return destination
