"""The ``ser`` console command tunes the garbage collector for its own short process, and only there."""
from __future__ import annotations

import subprocess
import sys

PROBE = """
import gc, sys
from ser_frontends.cli import common
if sys.argv[1] == "own":
    common.spare_exit_collection()
before = gc.get_freeze_count()
with common.heavy_loading():
    inside = gc.isenabled()
    junk = [[i] for i in range(1000)]
print(before, inside, gc.isenabled(), gc.get_freeze_count() - before)
"""


def _probe(mode: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
    return done.stdout.split()


def test_own_process_loads_without_the_collector_then_freezes_what_it_built():
    _, inside, after, frozen = _probe("own")
    assert inside == "False" and after == "True"
    assert int(frozen) >= 1000  # the objects made while loading left the collector's generations


def test_in_process_callers_keep_their_collector():
    _, inside, after, frozen = _probe("library")
    assert inside == "True" and after == "True" and frozen == "0"


def test_console_command_exits_with_its_code_and_full_output(tmp_path):
    missing = tmp_path / "missing.wav"
    done = subprocess.run([sys.executable, "-m", "ser_frontends.cli", "predict", str(missing)],
                          capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr.strip() == f"Error: file not found: {missing}"
