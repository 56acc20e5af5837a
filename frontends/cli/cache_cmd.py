"""``ser cache``: placeholder group filled by the feature cache."""
from __future__ import annotations

COMMANDS: list = []
