"""One user's data: speaker profiles and history entries.

Every query here is scoped by the ``user_id`` the object was made with, so
code holding a :class:`UserData` can reach that user's rows and no one
else's. Front ends make it only from a server-side session (the app) or the
command line's local account, never from what a page or URL says.
"""
from __future__ import annotations

import json
import time as _time
from dataclasses import dataclass

from ..errors import ProfileError, StoreError

#: longest note kept with a history entry, in characters
MAX_NOTE = 2000


@dataclass(frozen=True)
class HistoryEntry:
    """One analysed clip: when (seconds since the epoch), the emotion, its probabilities, a note."""

    id: int
    time: float
    emotion: str
    probabilities: dict
    note: str
    model: str
    has_audio: bool

    def as_dict(self) -> dict:
        from datetime import datetime

        return {"id": self.id, "time": datetime.fromtimestamp(self.time).astimezone().isoformat(timespec="seconds"),
                "emotion": self.emotion, "probabilities": self.probabilities, "note": self.note,
                "model": self.model}


@dataclass(frozen=True)
class StoredProfile:
    """A speaker profile as stored: the profile and when it last changed."""

    profile: object  # SpeakerProfile
    updated: float


def _entry(row) -> HistoryEntry:
    return HistoryEntry(row[0], row[1], row[2], json.loads(row[3]), row[4], row[5], bool(row[6]))


def _bounds(start: float | None, end: float | None) -> tuple[float, float]:
    return (float("-inf") if start is None else float(start), float("inf") if end is None else float(end))


def _clean_note(note: str) -> str:
    note = str(note or "").strip()
    if len(note) > MAX_NOTE:
        raise StoreError(f"a note holds at most {MAX_NOTE} characters, got {len(note)}")
    return note


class UserData:
    """The profiles and history of the user ``user_id`` in ``store``."""

    def __init__(self, store, user_id: int, name: str, keep_audio: bool = False):
        self.store = store
        self.user_id = int(user_id)
        self.name = name
        self.keep_audio = keep_audio

    def __repr__(self) -> str:
        return f"UserData({self.name!r}, id={self.user_id})"

    # -- speaker profiles -------------------------------------------------------------------------
    def save_profile(self, profile) -> None:
        """Store ``profile`` (a SpeakerProfile) under its name, replacing one of the same name."""
        data = json.dumps(profile.to_dict())
        with self.store.write() as conn:
            conn.execute("INSERT INTO profiles (user_id, name, data, updated) VALUES (?, ?, ?, ?) "
                         "ON CONFLICT (user_id, name) DO UPDATE SET data = excluded.data, updated = excluded.updated",
                         (self.user_id, profile.name, data, _time.time()))

    def profile(self, name: str):
        """The profile called ``name``; :class:`ProfileError` naming the ones that exist if there is none."""
        from ..profiles import SpeakerProfile

        with self.store.read() as conn:
            row = conn.execute("SELECT data FROM profiles WHERE user_id = ? AND name = ?",
                               (self.user_id, name)).fetchone()
        if row is None:
            names = [p.profile.name for p in self.profiles()]
            known = f"; profiles: {', '.join(names)}" if names else "; there are no profiles yet"
            raise ProfileError(f"no profile named {name!r}{known}")
        return SpeakerProfile.from_dict(json.loads(row[0]))

    def profiles(self) -> list[StoredProfile]:
        from ..profiles import SpeakerProfile

        with self.store.read() as conn:
            rows = conn.execute("SELECT data, updated FROM profiles WHERE user_id = ? ORDER BY name",
                                (self.user_id,)).fetchall()
        return [StoredProfile(SpeakerProfile.from_dict(json.loads(d)), u) for d, u in rows]

    def delete_profile(self, name: str) -> None:
        with self.store.write() as conn:
            deleted = conn.execute("DELETE FROM profiles WHERE user_id = ? AND name = ?", (self.user_id, name)).rowcount
        if not deleted:
            raise ProfileError(f"no profile named {name!r}")

    # -- history ----------------------------------------------------------------------------------
    def record(self, emotion: str, probabilities: dict, *, model: str, note: str = "",
               audio: bytes | None = None, when: float | None = None) -> int:
        """Add a history entry; its id. ``audio`` is kept only for a user who opted in (else refused)."""
        if audio is not None and not self.keep_audio:
            raise StoreError(f"{self.name} did not choose to keep recordings")
        values = (self.user_id, _time.time() if when is None else float(when), str(emotion),
                  json.dumps({k: float(v) for k, v in probabilities.items()}), _clean_note(note), str(model), audio)
        with self.store.write() as conn:
            return conn.execute("INSERT INTO history (user_id, time, emotion, probabilities, note, model, audio) "
                                "VALUES (?, ?, ?, ?, ?, ?, ?)", values).lastrowid

    def entries(self, start: float | None = None, end: float | None = None) -> list[HistoryEntry]:
        """Entries with ``start <= time < end`` (either may be None), newest first."""
        lo, hi = _bounds(start, end)
        with self.store.read() as conn:
            rows = conn.execute("SELECT id, time, emotion, probabilities, note, model, audio IS NOT NULL "
                                "FROM history WHERE user_id = ? AND time >= ? AND time < ? ORDER BY time DESC, id DESC",
                                (self.user_id, lo, hi)).fetchall()
        return [_entry(r) for r in rows]

    def summary_rows(self, start: float | None = None, end: float | None = None, *, limit: int | None = None,
                     offset: int = 0) -> list[tuple]:
        """``(id, time, emotion, its probability, note)`` per entry, newest first: what a table shows.

        Cheaper than :meth:`entries` (the probabilities are not decoded), for long histories;
        ``limit`` and ``offset`` read one page of them (``limit=None``: all from ``offset`` on).
        """
        lo, hi = _bounds(start, end)
        with self.store.read() as conn:
            return conn.execute("SELECT id, time, emotion, json_extract(probabilities, '$.' || json_quote(emotion)), "
                                "note FROM history WHERE user_id = ? AND time >= ? AND time < ? "
                                "ORDER BY time DESC, id DESC LIMIT ? OFFSET ?",
                                (self.user_id, lo, hi, -1 if limit is None else int(limit), int(offset))).fetchall()

    def emotion_times(self, start: float | None = None, end: float | None = None) -> list[tuple[float, str]]:
        """``(time, emotion)`` per entry, oldest first: what a chart over days needs, nothing more."""
        lo, hi = _bounds(start, end)
        with self.store.read() as conn:
            return conn.execute("SELECT time, emotion FROM history WHERE user_id = ? AND time >= ? AND time < ? "
                                "ORDER BY time", (self.user_id, lo, hi)).fetchall()

    def count(self, start: float | None = None, end: float | None = None) -> int:
        """How many entries have ``start <= time < end`` (either may be None)."""
        lo, hi = _bounds(start, end)
        with self.store.read() as conn:
            return conn.execute("SELECT COUNT(*) FROM history WHERE user_id = ? AND time >= ? AND time < ?",
                                (self.user_id, lo, hi)).fetchone()[0]

    def time_span(self) -> tuple[float, float] | None:
        """``(first, last)`` entry times, or None without entries."""
        with self.store.read() as conn:
            lo, hi = conn.execute("SELECT MIN(time), MAX(time) FROM history WHERE user_id = ?",
                                  (self.user_id,)).fetchone()
        return None if lo is None else (lo, hi)

    def audio(self, entry_id: int) -> bytes | None:
        with self.store.read() as conn:
            row = conn.execute("SELECT audio FROM history WHERE user_id = ? AND id = ?",
                               (self.user_id, int(entry_id))).fetchone()
        return row[0] if row else None

    def set_note(self, entry_id: int, note: str) -> bool:
        """Change an entry's note; False if this user has no such entry."""
        with self.store.write() as conn:
            return conn.execute("UPDATE history SET note = ? WHERE user_id = ? AND id = ?",
                                (_clean_note(note), self.user_id, int(entry_id))).rowcount == 1

    def delete_entry(self, entry_id: int) -> bool:
        """Delete one entry (with its audio); False if this user has no such entry."""
        with self.store.write() as conn:
            return conn.execute("DELETE FROM history WHERE user_id = ? AND id = ?",
                                (self.user_id, int(entry_id))).rowcount == 1

    def set_keep_audio(self, keep: bool) -> None:
        """Opt in to or out of keeping recordings; opting out deletes the ones kept."""
        with self.store.write() as conn:
            conn.execute("UPDATE users SET keep_audio = ? WHERE id = ?", (int(bool(keep)), self.user_id))
            if not keep:
                conn.execute("UPDATE history SET audio = NULL WHERE user_id = ?", (self.user_id,))
        self.keep_audio = bool(keep)

    def delete_account(self) -> None:
        """Delete the user and everything of theirs: profiles, history, audio, failed sign-ins."""
        with self.store.write() as conn:
            conn.execute("DELETE FROM profiles WHERE user_id = ?", (self.user_id,))
            conn.execute("DELETE FROM history WHERE user_id = ?", (self.user_id,))
            conn.execute("DELETE FROM sign_in_failures WHERE account = ?", (self.name,))
            conn.execute("DELETE FROM users WHERE id = ?", (self.user_id,))
