"""Emotion timelines of long recordings: VAD, windows, segments, streaming, CLI, a stitched corpus file."""
from __future__ import annotations

import csv
import json
import random
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

from ser_framework.errors import EmptyAudioError, InvalidSamplesError, NotAudioError
from ser_framework.timeline import (
    StreamAnalyser,
    TimelineError,
    VadParams,
    detect_speech,
    timeline,
)
from ser_framework.timeline.analyser import merge_run
from ser_framework.timeline.stitch import agreement, dominant_label, stitch_clips
from ser_framework.timeline.stream import iter_blocks
from ser_framework.timeline.vad import frame_energies

RAVDESS = Path(__file__).resolve().parents[1].parent / "shared/data/ravdess"
SR = 16000


def voice(seconds: float, f0: float = 180.0, sr: int = SR, seed: int = 0, level: float = 0.2) -> np.ndarray:
    """Speech-like sound: harmonics of a moving F0 with a 4-Hz syllable envelope that never quite stops.

    The F0 rises and falls (±2.5 semitones at 4 Hz): a steady pitch would be refused by the voice check.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    phase = 2 * np.pi * np.cumsum(f0 * 2 ** (2.5 * np.sin(2 * np.pi * 4.0 * t + rng.uniform(0, 6)) / 12)) / sr
    y = sum(np.sin(k * phase + rng.uniform(0, 6)) / k for k in range(1, 6))
    env = 0.35 + 0.65 * np.abs(np.sin(2 * np.pi * 2.0 * t))
    return (level * env * y / np.max(np.abs(y))).astype(np.float32)


def noise(seconds: float, dbfs: float, sr: int = SR, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (10 ** (dbfs / 20) * rng.standard_normal(int(seconds * sr))).astype(np.float32)


def compose(parts, sr: int = SR, floor_dbfs: float = -65.0, seed: int = 3):
    """Concatenate ('speech', seconds, f0) / ('pause', seconds) parts over a noise floor.

    Returns the signal and the true speech spans in seconds.
    """
    out, spans, pos = [], [], 0.0
    for i, part in enumerate(parts):
        if part[0] == "speech":
            out.append(voice(part[1], part[2] if len(part) > 2 else 180.0, sr, seed=i))
            spans.append((pos, pos + part[1]))
        else:
            out.append(np.zeros(int(part[1] * sr), np.float32))
        pos += part[1]
    y = np.concatenate(out)
    return y + noise(y.size / sr, floor_dbfs, sr, seed), spans


def regions_of(y, sr=SR, **vad):
    frame = int(0.02 * sr)
    db, _ = frame_energies(y, frame)
    return detect_speech(db, VadParams(frame=frame / sr, **vad))


# --- voice activity ------------------------------------------------------------------------------

def test_vad_finds_each_utterance_and_skips_silence():
    y, truth = compose([("pause", 2.0), ("speech", 1.5), ("pause", 3.0), ("speech", 2.5), ("pause", 1.5)])
    found = regions_of(y)
    assert len(found) == len(truth)
    for (s, e), (ts, te) in zip(found, truth):
        assert abs(s - ts) <= 0.25 and abs(e - te) <= 0.25


def test_vad_bridges_short_pauses_and_drops_clicks():
    y, _ = compose([("pause", 1.0), ("speech", 1.0), ("pause", 0.3), ("speech", 1.0), ("pause", 2.0)])
    click = np.zeros(int(0.04 * SR), np.float32) + 0.5
    y[int(4.0 * SR):int(4.0 * SR) + click.size] += click  # a 40-ms click in the long pause
    found = regions_of(y)
    assert len(found) == 1, found
    assert abs(found[0][0] - 1.0) <= 0.25 and abs(found[0][1] - 3.3) <= 0.25


@pytest.mark.parametrize("floor", [-80.0, -45.0])
def test_vad_threshold_follows_the_noise_floor(floor):
    y, truth = compose([("pause", 3.0), ("speech", 2.0), ("pause", 3.0)], floor_dbfs=floor)
    found = regions_of(y)
    assert len(found) == 1 and abs(found[0][0] - truth[0][0]) <= 0.3 and abs(found[0][1] - truth[0][1]) <= 0.3


@pytest.mark.parametrize("signal", ["zeros", "steady_noise", "very_quiet_voice"])
def test_vad_finds_nothing_in_silence_or_steady_noise(signal):
    y = {
        "zeros": np.zeros(5 * SR, np.float32),
        "steady_noise": noise(5.0, -30.0),
        "very_quiet_voice": voice(3.0, level=1e-4),  # below the absolute -60 dBFS bound
    }[signal]
    assert regions_of(y) == []


def test_frame_energies_streamed_equals_whole():
    y = noise(1.37, -20.0)
    whole, _ = frame_energies(y, 320)
    parts, rest = [], np.zeros(0, np.float32)
    for i in range(0, y.size, 1000):
        db, rest = frame_energies(np.concatenate((rest, y[i:i + 1000])), 320)
        parts.append(db)
    np.testing.assert_allclose(np.concatenate(parts), whole)


# --- windows and segments ------------------------------------------------------------------------

class _LevelBundle:
    """Stand-in model: 'loud' vs 'soft' from the window's RMS; records the windows it saw."""

    labels = ["loud", "soft"]

    class pipeline:  # noqa: N801 - mimics Bundle.pipeline
        sample_rate = 8000

        @staticmethod
        def from_waveform(y, context=None):
            return np.array([np.sqrt(np.mean(np.square(y)))], dtype=np.float32)

    def predict_features(self, X):
        p = 1 / (1 + np.exp(-(np.asarray(X)[:, 0] - 0.05) * 200))
        return np.column_stack((p, 1 - p))


def _analyse(y, sr, block, **kw):
    a = StreamAnalyser(_LevelBundle(), sr, **kw)
    out = []
    for i in range(0, y.size, block):
        out += a.feed(y[i:i + block])
    return a, out + a.finish()


def test_short_region_gets_one_window_centred_on_it_with_context():
    y, truth = compose([("pause", 10.0), ("speech", 1.0), ("pause", 5.0)], sr=8000)
    a, out = _analyse(y, 8000, 800)
    (w,) = out
    centre = (w.start + w.end) / 2
    assert w.end - w.start == pytest.approx(3.5) and abs(centre - 10.5) < 0.1
    (seg,) = a.segments
    assert abs(seg.start - 10.0) < 0.25 and abs(seg.end - 11.0) < 0.25


def test_long_region_windows_every_hop_end_at_its_end_and_own_stretches_tile_it():
    y, _ = compose([("pause", 3.0), ("speech", 15.0), ("pause", 3.0)], sr=8000)
    a, out = _analyse(y, 8000, 160, window=3.0, hop=1.5)
    starts = [w.start for w in out]
    assert all(b - a_ == pytest.approx(1.5) for a_, b in zip(starts[:-1], starts[1:-1]))
    assert abs(out[-1].end - 18.0) < 0.25 and abs(out[0].start - 3.0) < 0.25
    (seg,) = a.segments  # one label: the segment is the whole region
    assert abs(seg.start - 3.0) < 0.25 and abs(seg.end - 18.0) < 0.25


def test_answers_do_not_depend_on_the_block_size_and_memory_is_bounded():
    y, _ = compose([("pause", 2.0), ("speech", 6.0), ("pause", 2.0), ("speech", 2.0), ("pause", 1.0)] * 6,
                   sr=8000)
    runs = {block: _analyse(y, 8000, block) for block in (160, 1234, 80000)}
    (a, ref), *others = runs.values()
    for b, out in others:
        assert [(r.start, r.end, r.label) for r in out] == [(r.start, r.end, r.label) for r in ref]
        assert [(s.start, s.end, s.label) for s in b.segments] == [(s.start, s.end, s.label) for s in a.segments]
    # held samples never exceed about a window plus a second, however long the stream
    probe = StreamAnalyser(_LevelBundle(), 8000)
    peak = 0
    for i in range(0, y.size, 800):
        probe.feed(y[i:i + 800])
        peak = max(peak, probe._buf.size)
    assert peak <= (3.5 + 1.5 + 1.0) * 8000


def test_smoothing_averages_the_preceding_windows_of_the_same_stretch():
    quiet, loud = 0.02, 0.3
    y, _ = compose([("pause", 2.0), ("speech", 12.0)], sr=8000)
    y[int(9.0 * 8000):int(10.4 * 8000)] *= loud / 0.2  # one loud burst inside the stretch
    y[int(2.0 * 8000):int(9.0 * 8000)] *= quiet / 0.2
    _, raw = _analyse(y, 8000, 800, check_speech=False)
    _, smooth = _analyse(y, 8000, 800, check_speech=False, smooth=3)
    assert [r.label for r in raw].count("loud") > [r.label for r in smooth].count("loud")
    for k in range(2, len(raw)):  # each smoothed answer is the mean of three raw answers
        expect = np.mean([raw[j].probabilities["loud"] for j in range(k - 2, k + 1)])
        assert smooth[k].probabilities["loud"] == pytest.approx(expect)


def test_merge_run_groups_same_label_and_weights_by_own_stretch():
    labels = ["a", "b"]
    ws = [SimpleNamespace(own_start=s, own_end=e) for s, e in [(0, 1), (1, 3), (3, 4), (4, 5)]]
    proba = [np.array(p) for p in ([0.9, 0.1], [0.7, 0.3], [0.2, 0.8], [0.4, 0.6])]
    segs = merge_run(list(zip(ws, proba)), labels)
    assert [(s.label, s.start, s.end) for s in segs] == [("a", 0, 3), ("b", 3, 5)]
    assert segs[0].probabilities["a"] == pytest.approx((0.9 * 1 + 0.7 * 2) / 3)
    assert list(segs[1].probabilities) == ["b", "a"]  # highest first


# --- streaming and the whole timeline with a stand-in model --------------------------------------

class _PitchPipeline:
    sample_rate = 8000

    def from_waveform(self, y, context=None):
        y = y[np.abs(y) > 0.3 * np.abs(y).max()] if np.abs(y).max() > 0 else y
        crossings = np.mean(np.abs(np.diff(np.signbit(y).astype(np.int8)))) if y.size > 1 else 0.0
        return np.array([crossings], dtype=np.float32)


class PitchBundle:
    """Stand-in model: 'low' vs 'high' voice from the zero-crossing rate; counts its calls."""

    labels = ["high", "low"]
    pipeline = _PitchPipeline()

    def __init__(self):
        self.batches = []

    def predict_features(self, X):
        self.batches.append(len(X))
        zcr = np.asarray(X)[:, 0] * self.pipeline.sample_rate / 2  # ≈ dominant frequency in Hz
        p_high = 1 / (1 + np.exp(-(zcr - 500) / 50))
        return np.column_stack((p_high, 1 - p_high))


def _write(tmp_path, y, sr=SR, name="rec.wav"):
    path = tmp_path / name
    sf.write(path, y, sr, subtype="PCM_16")
    return path


def test_timeline_labels_regions_and_splits_a_region_when_the_voice_changes(tmp_path):
    y, truth = compose([("pause", 2.0), ("speech", 2.0, 150.0), ("pause", 3.0),
                        ("speech", 8.0, 150.0), ("speech", 5.0, 1000.0), ("pause", 2.0)])
    path = _write(tmp_path, y)
    bundle = PitchBundle()
    calls = []
    tl = timeline(bundle, path, progress=lambda d, t: calls.append((d, t)))
    assert [s.label for s in tl.segments] == ["low", "low", "high"]
    first, second, third = tl.segments
    assert abs(first.start - 2.0) < 0.3 and abs(first.end - 4.0) < 0.3
    assert abs(second.start - 7.0) < 0.3 and abs(third.end - 20.0) < 0.3
    assert second.end == third.start and abs(second.end - 15.0) <= 1.5  # the change, within a hop
    assert not any(s.start < 6.5 < s.end for s in tl.segments)  # the pause is not labelled
    done = [d for d, _ in calls]
    assert done == sorted(done) and done[-1] == pytest.approx(tl.duration) and calls[0][1] == pytest.approx(22.0)
    label, probs = tl.overall()
    assert label == "low" and sum(probs.values()) == pytest.approx(1.0)


def test_timeline_is_not_limited_to_the_single_clip_maximum_and_batches(tmp_path):
    sr = 8000
    parts = []
    for k in range(70):  # 700 s (> the 600-s clip limit): a 1-s utterance every 10 s
        parts += [np.zeros(9 * sr, np.float32), voice(1.0, 200.0, sr, seed=k)]
    path = _write(tmp_path, np.concatenate(parts) + noise(700.0, -70.0, sr), sr)
    bundle = PitchBundle()
    tl = timeline(bundle, path, batch_size=16)
    assert tl.duration == pytest.approx(700.0)
    assert len(tl.segments) == 70
    for k, seg in enumerate(tl.segments):  # utterance k spans [10k + 9, 10k + 10]
        assert abs(seg.start - (10 * k + 9)) < 0.3 and abs(seg.end - (10 * k + 10)) < 0.3
    assert max(bundle.batches) <= 16 and sum(bundle.batches) == 70


def test_streamed_resampling_matches_whole_file_resampling(tmp_path):
    from ser_framework.audio import load_audio

    y = voice(7.3, sr=44100)
    path = _write(tmp_path, np.column_stack((y, 0.5 * y)), sr=44100)  # stereo, mixed down
    whole = load_audio(path, sample_rate=22050)
    blocks = list(iter_blocks(path, sample_rate=22050, block_seconds=1.0))
    assert len(blocks) >= 7 and max(b.size for b in blocks) <= 1.1 * 22050  # bounded by the block size
    streamed = np.concatenate(blocks)
    assert abs(streamed.size - whole.size) <= 1
    n = min(streamed.size, whole.size)
    assert np.max(np.abs(streamed[100:n - 100] - whole[100:n - 100])) < 1e-3


def test_timeline_of_silence_has_no_segments(tmp_path):
    path = _write(tmp_path, noise(20.0, -70.0))
    bundle = PitchBundle()
    tl = timeline(bundle, path)
    assert tl.segments == [] and bundle.batches == [] and tl.overall() == (None, {})


def test_timeline_reads_uploads_as_bytes_and_file_objects(tmp_path):
    import io

    y, _ = compose([("pause", 1.0), ("speech", 1.5, 150.0), ("pause", 1.0)])
    path = _write(tmp_path, y)
    data = path.read_bytes()
    a = timeline(PitchBundle(), data, name="up.wav")
    b = timeline(PitchBundle(), io.BytesIO(data), name="up.wav")
    assert a.as_dict() == b.as_dict() and len(a.segments) == 1


def test_timeline_errors_are_human(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all" * 10)
    with pytest.raises(NotAudioError, match="not an audio file"):
        timeline(PitchBundle(), bad)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, np.float32), SR)
    with pytest.raises(EmptyAudioError):
        timeline(PitchBundle(), empty)
    nan = np.ones(SR, np.float32)
    nan[100] = np.nan
    nan_path = tmp_path / "nan.wav"
    sf.write(nan_path, nan, SR, subtype="FLOAT")
    with pytest.raises(InvalidSamplesError):
        timeline(PitchBundle(), nan_path)
    with pytest.raises(TimelineError, match="hop"):
        timeline(PitchBundle(), nan_path, hop=5.0)


# --- command line --------------------------------------------------------------------------------

def test_cli_segments_json_table_and_csv(tmp_path, tiny_bundle_dir):
    from click.testing import CliRunner

    from ser_frontends.cli.main import cli

    y, _ = compose([("pause", 1.0), ("speech", 1.5), ("pause", 2.0), ("speech", 1.0), ("pause", 1.0)])
    path = str(_write(tmp_path, y))
    runner = CliRunner()
    res = runner.invoke(cli, ["predict", "--segments", "--json", "-m", str(tiny_bundle_dir), path])
    assert res.exit_code == 0, res.output
    (obj,) = json.loads(res.stdout)
    assert obj["path"] == path and len(obj["segments"]) == 2
    seg = obj["segments"][0]
    assert set(seg) == {"start", "end", "label", "probabilities"} and seg["start"] < seg["end"]
    assert seg["label"] == next(iter(seg["probabilities"]))

    out_csv = tmp_path / "t.csv"
    res = runner.invoke(cli, ["predict", "--csv", str(out_csv), "-m", str(tiny_bundle_dir), path])
    assert res.exit_code == 0, res.output
    assert "2 speech segments" in res.stdout and "overall:" in res.stdout
    rows = list(csv.DictReader(out_csv.open()))
    assert len(rows) == 2 and rows[0]["path"] == path
    assert float(rows[0]["start"]) == seg["start"] and rows[0]["label"] == seg["label"]

    res = runner.invoke(cli, ["predict", "--segments", "-m", str(tiny_bundle_dir), str(tmp_path / "nope.wav")])
    assert res.exit_code == 1 and "file not found" in res.output and "Traceback" not in res.output


# --- a recording stitched from corpus clips -------------------------------------------------------

@pytest.fixture(scope="module")
def corpus_bundle(tmp_path_factory):
    """The shipped model if installed, else a small one trained here on two RAVDESS actors."""
    from ser_framework.bundle import DEFAULT_BUNDLE, load_bundle

    if DEFAULT_BUNDLE.exists():
        return load_bundle(None)
    from ser_framework.config import validate
    from ser_framework.experiment import run_training
    from ser_framework.plugins import get_registry

    out = tmp_path_factory.mktemp("ravdess_run")
    raw = {
        "name": "timeline-test", "seed": 0,
        "dataset": {"name": "ravdess", "params": {"root": str(RAVDESS), "actors": [1, 2]}},
        "features": [{"name": "mfcc"}, {"name": "chroma"}, {"name": "spectral_contrast"}],
        "extraction": {"n_jobs": 1, "cache": False},
        "balancer": None,
        "selectors": [{"name": "standard_scaler"}],
        "classifier": {"name": "logistic_regression"},
        "evaluation": {"protocol": "holdout_speakers", "test_speakers": ["actor_02"]},
        "output": {"dir": str(out)},
    }
    registry = get_registry()
    result = run_training(validate(raw, registry), registry, out / "run", progress=False)
    return load_bundle(result.bundle_dir)


@pytest.mark.corpus
def test_stitched_corpus_recording_agrees_with_clip_predictions(corpus_bundle, tmp_path):
    clips = sorted(str(p) for p in RAVDESS.glob("Actor_1[5-9]/*.flac"))
    assert clips, f"RAVDESS corpus not found at {RAVDESS}"
    random.Random(0).shuffle(clips)
    clips = clips[:24]
    spans = stitch_clips(clips, tmp_path / "stitched.flac", gap=(0.5, 2.0), noise_dbfs=-70.0)
    tl = timeline(corpus_bundle, tmp_path / "stitched.flac")
    own = [corpus_bundle.predict(c).label for c in clips]
    score = agreement(tl.segments, spans, own)
    assert score["no_speech_found"] == 0
    assert score["agreement"] >= 0.7, score
    # pauses between clips stay unlabelled: nothing reaches into the middle of a gap
    for a, b in zip(spans, spans[1:]):
        mid = (a["end"] + b["start"]) / 2
        if b["start"] - a["end"] > 1.0:
            assert dominant_label(tl.segments, mid - 0.05, mid + 0.05) is None


def test_timeline_of_a_16k_copy_matches_the_48k_recording(corpus_bundle, tmp_path):
    """The same recording at 48 kHz and as a 16 kHz copy: the same emotion for (nearly) every clip."""
    import soundfile as sf
    import soxr

    clips = sorted(str(p) for p in RAVDESS.glob("Actor_1[5-9]/*.flac"))
    random.Random(1).shuffle(clips)
    spans = stitch_clips(clips[:20], tmp_path / "rec48.wav", gap=(0.5, 2.0), noise_dbfs=-70.0, subtype="PCM_16")
    y, sr = sf.read(tmp_path / "rec48.wav", dtype="float32")
    sf.write(tmp_path / "rec16.wav", soxr.resample(y, sr, 16000), 16000, subtype="PCM_16")
    labels = {rate: [dominant_label(timeline(corpus_bundle, tmp_path / f"rec{rate}.wav").segments,
                                    s["start"], s["end"]) for s in spans] for rate in (48, 16)}
    assert None not in labels[48] and None not in labels[16]
    same = sum(a == b for a, b in zip(labels[48], labels[16]))
    assert same >= len(spans) - 2, labels
