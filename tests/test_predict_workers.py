"""``ser predict`` of several files: forked worker processes give exactly the in-process answers, in order."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from ser_framework import load_bundle


def _ser(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ser_frontends.cli", *args], capture_output=True, text=True,
                          timeout=300)


@pytest.mark.skipif(sys.platform != "linux" or (os.cpu_count() or 1) < 2, reason="forked workers: Linux, 2+ cores")
def test_forked_workers_answer_like_the_bundle_in_order_with_errors(tiny_bundle_dir, synthetic_corpus_dir, tmp_path):
    clips = [str(p) for p in sorted(synthetic_corpus_dir.rglob("*.wav"))[:7]]
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(16000, dtype=np.float32), 16000)
    files = [clips[0], str(tmp_path / "missing.wav"), *clips[1:4], str(silent), *clips[4:]]
    # a fresh `ser` process is where the workers are forked processes (no other thread, no TensorFlow)
    probe = _ser_probe(tiny_bundle_dir)
    assert probe == "True", probe
    proc = _ser("predict", "--json", "-m", str(tiny_bundle_dir), *files)
    assert proc.returncode == 1, proc.stderr  # two files could not be used
    got = json.loads(proc.stdout)
    assert [r["path"] for r in got] == files
    bundle = load_bundle(tiny_bundle_dir)
    for entry in got:
        if entry["path"] in clips:
            expected = bundle.predict(entry["path"], name=entry["path"])
            assert entry["label"] == expected.label
            assert entry["probabilities"] == pytest.approx(expected.probabilities, abs=1e-6)
    errors = {r["path"]: r["error"] for r in got if "error" in r}
    assert set(errors) == {str(tmp_path / "missing.wav"), str(silent)}
    assert "no speech" in errors[str(silent)].lower()


def _ser_probe(bundle_dir) -> str:
    """Whether ``ser predict`` would fork its workers in a fresh process after loading ``bundle_dir``."""
    code = ("from ser_framework import load_bundle; import sys; load_bundle(sys.argv[1]); "
            "from ser_framework import can_fork; print(can_fork())")
    proc = subprocess.run([sys.executable, "-c", code, str(bundle_dir)], capture_output=True, text=True, timeout=300)
    return proc.stdout.strip() or proc.stderr


_TIMELINE_SCRIPT = """
import json, sys
import ser_framework.parallel as parallel
from ser_framework import load_bundle
from ser_framework.timeline import timeline

made = []
real = parallel.fork_pool
def spy(state, workers):
    pool = real(state, workers)
    made.append(pool is not None)
    return pool
parallel.fork_pool = spy
bundle = load_bundle(sys.argv[1])
out = {}
for workers in (1, 2):
    tl = timeline(bundle, sys.argv[2], workers=workers)
    out[workers] = [s.as_dict() for s in tl.segments]
print(json.dumps({"forked": made, "one": out[1], "two": out[2]}))
"""


@pytest.mark.skipif(sys.platform != "linux" or (os.cpu_count() or 1) < 2, reason="forked workers: Linux, 2+ cores")
def test_timeline_workers_give_the_one_process_segments(tiny_bundle_dir, synthetic_corpus_dir, tmp_path):
    clips = sorted(synthetic_corpus_dir.rglob("*.wav")) * 2
    parts = []
    for i, clip in enumerate(clips):  # about 3 min: several 60-s blocks, more batches than the pool holds
        y, sr = sf.read(clip, dtype="float32")
        parts += [np.tile(y, 1 + i % 4), np.zeros(int(sr * (0.4 + 0.3 * (i % 3))), np.float32)]  # pauses split the speech
    recording = tmp_path / "recording.wav"
    sf.write(recording, np.concatenate(parts), sr)
    # a fresh process, where forking is safe (no other thread, no TensorFlow)
    proc = subprocess.run([sys.executable, "-c", _TIMELINE_SCRIPT, str(tiny_bundle_dir), str(recording)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert got["forked"] == [False, True]  # workers=1 works in-process; workers=2 forked its pool
    one, two = got["one"], got["two"]
    assert len(one) >= 20 and [(s["start"], s["end"], s["label"]) for s in two] == \
        [(s["start"], s["end"], s["label"]) for s in one]
    for a, b in zip(one, two):  # the model sees other batch shapes: float rounding only
        assert b["probabilities"] == pytest.approx(a["probabilities"], abs=1e-5)
