"""Personal data: accounts, speaker profiles and emotion history in one SQLite file.

The file is ``ser.db`` in the data folder: ``$SER_DATA_DIR``, else
``$XDG_DATA_HOME/ser-framework``, else ``~/.local/share/ser-framework``
(:mod:`.db`). ``ser`` commands and the web app share it safely.
"""
from __future__ import annotations

from .accounts import local_user, sign_in, sign_up, user_by_id
from .datastore import LOCAL_USER, DataStore
from .db import DATA_DIR_ENV, DB_NAME, SCHEMA_VERSION, data_dir
from .export import history_csv, history_json
from .userdata import HistoryEntry, StoredProfile, UserData

__all__ = [
    "DataStore", "UserData", "HistoryEntry", "StoredProfile", "LOCAL_USER", "DATA_DIR_ENV", "DB_NAME",
    "SCHEMA_VERSION", "data_dir", "sign_up", "sign_in", "user_by_id", "local_user", "history_csv", "history_json",
]
