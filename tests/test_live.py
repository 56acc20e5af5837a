"""Live emotion: the streaming analyser in real time, its bounded queue and memory, ``ser listen``."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from ser_framework import LiveAnalyser, load_bundle, play_recording
from ser_framework.timeline.stitch import stitch_clips
from ser_frontends.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared/data/ravdess"
SER = [sys.executable, "-m", "ser_frontends.cli"]


def corpus_recording(path: Path, n: int = 6, seed: int = 2) -> Path:
    clips = sorted(CORPUS.glob("Actor_0[3-9]/*.flac"))
    rng = np.random.default_rng(seed)
    stitch_clips([clips[i] for i in rng.choice(len(clips), n, replace=False)], path, sample_rate=16000, seed=seed)
    return path


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    return corpus_recording(tmp_path_factory.mktemp("live") / "six.wav")


@pytest.fixture(scope="module")
def bundle():
    return load_bundle()


class SlowBundle:
    """The real model, classifying ``delay`` seconds slower per call (an artificially slow machine)."""

    def __init__(self, bundle, delay: float):
        self.bundle, self.delay = bundle, delay
        self.labels, self.pipeline = bundle.labels, bundle.pipeline
        self.calls = 0

    def predict_features(self, X):
        self.calls += 1
        time.sleep(self.delay * len(X))
        return self.bundle.predict_features(X)


# --- the same answers for a file and a stream ----------------------------------------------------

def test_listen_fast_labels_equal_predict_segments(recording):
    segs = subprocess.run([*SER, "predict", "--segments", "--json", str(recording)], capture_output=True,
                          text=True, check=True)
    expected = [s["label"] for s in json.loads(segs.stdout)[0]["segments"]]
    out = subprocess.run([*SER, "listen", "--from", str(recording), "--fast", "--json"], capture_output=True,
                         text=True, check=True)
    windows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(expected) == 6 and all(w["status"] == "ok" for w in windows)
    assert [w["label"] for w in windows] == expected  # one window per clip: the labels, in order
    text = CliRunner().invoke(cli, ["listen", "--from", str(recording), "--fast"]).output.splitlines()
    assert [line.split()[1] for line in text] == expected and all(line.split()[2].endswith("%") for line in text)


def test_live_analyser_in_real_time_equals_the_timeline(recording, bundle):
    from ser_framework import emotion_timeline

    tl = emotion_timeline(bundle, str(recording))
    live = LiveAnalyser(bundle, 16000, queue_size=100)  # a busy machine must not drop windows here
    live.warm_up()
    t = time.monotonic()
    results = list(play_recording(live, str(recording), realtime=True, block_seconds=0.05))
    elapsed = time.monotonic() - t
    assert elapsed >= 0.95 * tl.duration  # paced like a microphone
    assert live.dropped == 0 and [r.label for r in results] == [s.label for s in tl.segments]
    assert [(s.start, s.end, s.label) for s in live.segments] == [(s.start, s.end, s.label) for s in tl.segments]
    assert all(r.latency > 0 for r in results)  # measured (the figures are bench/bench_live.py's)


# --- falling behind: drop and say so ---------------------------------------------------------------

def test_slow_classifier_drops_windows_and_reports_them_instead_of_lagging(bundle, tmp_path):
    from test_segments import compose

    # a 12-s stretch of speech: a window every 0.5 s, each taking 1.2 s to classify
    y, _ = compose([("pause", 1.0), ("speech", 12.0, 170.0), ("pause", 1.0)], sr=48000)
    slow = SlowBundle(bundle, 1.2)
    live = LiveAnalyser(slow, 48000, hop=0.5, queue_size=2)
    answers, waiting = [], []
    t = time.monotonic()
    block = 4800
    for i in range(0, y.size, block):  # real time
        answers += live.feed(y[i:i + block])
        waiting.append(len(live._queue))
        delay = t + (i + block) / 48000 - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    fed_until = time.monotonic()
    answers += live.finish()
    statuses = [a.status for a in answers]
    assert live.dropped > 0 and statuses.count("dropped") == live.dropped
    assert max(waiting) <= 2  # the queue is bounded
    assert [a.index for a in answers] == sorted(a.index for a in answers)  # answers stay in order
    # never further and further behind: at most the batch being classified and a full queue wait
    bound = 2 * 2 * 1.2 + 5.0  # slack for a busy machine
    assert time.monotonic() - fed_until < bound
    kept = [a for a in answers if a.status == "ok"]
    assert kept and max(a.latency for a in kept) < bound


def test_cli_reports_dropped_windows(bundle, tmp_path, monkeypatch):
    from test_segments import compose

    import ser_framework

    path = tmp_path / "long.wav"
    y, _ = compose([("pause", 1.0), ("speech", 15.0, 170.0), ("pause", 1.0)], sr=16000)
    sf.write(path, y, 16000)
    monkeypatch.setattr(ser_framework, "load_bundle", lambda *a, **k: SlowBundle(bundle, 3.0))
    result = CliRunner().invoke(cli, ["listen", "--from", str(path), "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert any(w["status"] == "dropped" for w in lines) and lines[-1]["dropped"] > 0
    assert "window(s) dropped: the classifier fell behind real time" in result.output


# --- bounded memory --------------------------------------------------------------------------------

class CountingBundle:
    """Stand-in model: cheap features, counts windows."""

    labels = ["a", "b"]

    class pipeline:  # noqa: N801 - mimics Bundle.pipeline
        sample_rate = 8000

        @staticmethod
        def from_waveform(y, context=None):
            return np.array([float(np.abs(y).mean())], np.float32)

    def predict_features(self, X):
        return np.tile([0.6, 0.4], (len(X), 1))


def test_a_long_live_session_holds_bounded_state(monkeypatch):
    from test_segments import compose

    import ser_framework.timeline.analyser as analyser_mod

    monkeypatch.setattr(analyser_mod.StreamAnalyser, "_classify", lambda self, ws: [np.array([0.6, 0.4])] * len(ws))
    y, _ = compose([("pause", 2.0), ("speech", 5.0, 180.0), ("pause", 1.0), ("speech", 2.0, 150.0)], sr=8000)
    live = LiveAnalyser(CountingBundle(), 8000, keep_seconds=30.0)
    held, answered = [], 0
    for _ in range(60):  # 10 minutes of speech and pauses
        for i in range(0, y.size, 800):
            answered += len(live.feed(y[i:i + 800]))
            held.append(live._buf.size)
    answered += len(live.finish())
    assert live.duration == pytest.approx(600.0)
    assert max(held) <= (3.5 + 1.5 + 1.0) * 8000  # samples held: about a window and a bit, not the stream
    assert len(live._regions) == 0 and not live._early  # nothing left behind
    recent = live.recent()
    assert recent and recent[-1].end - recent[0].end <= 30.0 + 3.5  # the strip keeps the last keep_seconds
    assert answered > 100 and live.segments  # fed faster than real time: how many are dropped depends on the machine


# --- no microphone ---------------------------------------------------------------------------------

def test_listen_without_an_input_device_is_one_clear_line():
    out = subprocess.run([*SER, "listen"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ")
    assert "no audio input device" in lines[0] or "PortAudio" in lines[0]
    out = subprocess.run([*SER, "listen", "--device", "7"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and len(out.stderr.strip().splitlines()) == 1


def test_listen_without_portaudio_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # import fails as when the library is missing
    result = CliRunner().invoke(cli, ["listen"])
    assert result.exit_code == 1
    assert "PortAudio library is not installed" in result.output and "libportaudio2" in result.output
    result = CliRunner().invoke(cli, ["listen", "--fast"])
    assert result.exit_code == 2 and "--fast needs --from" in result.output
