"""End to end on the shared RAVDESS corpus: the default config on a few actors, then the bundle; the shipped
model answers a 16 kHz copy of a clip as it answers the original."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "data" / "ravdess"

pytestmark = pytest.mark.corpus


@pytest.fixture(scope="module")
def corpus():
    if not CORPUS.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"the shared corpus must be present in CI: {CORPUS}")
        pytest.skip(f"shared corpus not found at {CORPUS}")
    return CORPUS


def ser(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "ser_frontends.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    config = yaml.safe_load((ROOT / "configs" / "default.yaml").read_text())
    config["dataset"]["params"] = {"root": str(corpus), "actors": [1, 2, 3, 4, 5, 6]}
    config["evaluation"] = {"protocol": "holdout_speakers", "test_speakers": ["actor_05", "actor_06"],
                            "n_splits": 2, "conditions": ["resample_16k", "pink_10db"], "refit": False}
    config["augmentation"]["copies"] = 1
    config["extraction"] = {"n_jobs": 2}
    path = tmp / "e2e.yaml"
    path.write_text(yaml.safe_dump(config))
    run = tmp / "run"
    result = ser("train", str(path), "-o", str(run), "-q")
    assert result.returncode == 0, result.stderr
    return run


def test_train_reports_speaker_independent_metrics(trained):
    metrics = json.loads((trained / "metrics.json").read_text())
    assert metrics["protocol"] == "holdout_speakers"
    assert metrics["n"] == 120 and metrics["n_clips"] == 360
    assert metrics["labels"] == ["angry", "calm", "disgust", "fearful", "happy", "neutral", "sad", "surprised"]
    assert metrics["uar"] > 1 / 8 + 0.05  # clearly better than chance on unseen actors
    assert metrics["augmentation"]["training_rows_added"] == 360  # one copy per clip; folds use their training clips' only
    assert set(metrics["conditions"]) == {"clean", "resample_16k", "pink_10db"}
    assert metrics["conditions"]["resample_16k"]["uar"] > 1 / 8 + 0.05
    assert 0 < metrics["calibration"]["temperature"] and metrics["calibration"]["ece"] <= 1
    assert (trained / "conditions.png").is_file() and (trained / "reliability.png").is_file()
    manifest = json.loads((trained / "model" / "manifest.json").read_text())
    assert manifest["classifier"]["name"] == "logistic_regression"
    assert manifest["calibration"]["temperature"] == metrics["calibration"]["temperature"]


def test_predict_and_evaluate_with_the_trained_bundle(trained, corpus, tmp_path):
    clips = sorted((corpus / "Actor_05").glob("*.flac"))[:3]
    result = ser("predict", *map(str, clips), "--model", str(trained / "model"), "--json", "--top", "2")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert [o["path"] for o in out] == list(map(str, clips))
    for o in out:
        probs = list(o["probabilities"].values())
        assert len(probs) == 2 and probs == sorted(probs, reverse=True) and o["label"] == next(iter(o["probabilities"]))

    data = tmp_path / "actor05"
    (data / "Actor_05").mkdir(parents=True)
    for clip in (corpus / "Actor_05").glob("*.flac"):
        (data / "Actor_05" / clip.name).symlink_to(clip)
    result = ser("evaluate", str(data), "--model", str(trained / "model"), "--json")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert {"accuracy", "uar", "macro_f1", "n", "labels", "confusion"} <= set(metrics)
    assert metrics["n"] == 60 and sum(map(sum, metrics["confusion"])) == 60
    predictions = __import__("pandas").read_csv(trained / "predictions.csv")
    held_out = predictions[predictions["speaker"] == "actor_05"]
    assert (held_out["predicted"] == held_out["label"]).mean() == pytest.approx(
        sum(metrics["confusion"][i][i] for i in range(8)) / 60)


def test_shipped_model_answers_16k_and_8k_copies_like_the_original(corpus, tmp_path):
    """The channel gap of issue 10: 16 kHz and 8 kHz copies of a clip get the original's answer.

    40 clips of actors 17-20 (a fixed random choice). Measured when the model was made: 38 of 40
    the same at 16 kHz; every confident answer the same; the original's label always among the
    copy's close alternatives.
    """
    import random

    import soundfile as sf
    import soxr

    from ser_framework import load_bundle

    bundle = load_bundle()
    clips = sorted(p for a in (17, 18, 19, 20) for p in (corpus / f"Actor_{a:02d}").glob("*.flac"))
    clips = random.Random(0).sample(clips, 40)
    for rate, min_same in ((16000, 36), (8000, 34)):
        same = confident_same = confident = within = 0
        for clip in clips:
            y, sr = sf.read(clip, dtype="float32")
            original = bundle.predict(clip)
            copy = tmp_path / f"{clip.stem}-{rate}.wav"
            sf.write(copy, soxr.resample(y, sr, rate), rate, subtype="PCM_16")
            answer = bundle.predict(copy)
            same += answer.label == original.label
            within += original.label in dict(answer.alternatives())
            if not original.uncertain:
                confident += 1
                confident_same += answer.label == original.label
        assert same >= min_same, (rate, same)
        assert within >= len(clips) - 1, (rate, within)
        assert confident_same >= confident - 1, (rate, confident_same, confident)


def test_shipped_model_answers_phone_and_browser_files_like_the_original(corpus, tmp_path):
    """What people send: the clip as a voice memo (AAC in M4A), a browser or messenger note (Opus in
    WebM) and a phone call (AMR-NB, 8 kHz), decoded from the file with FFmpeg, get the FLAC's answer.

    The same 40 clips of actors 17-20. Measured when this was added (`bench/formats.py`, all 240
    clips): 235 (M4A), 233 (WebM) and 209 (AMR) of 240 the same; of these 40, 39, 38 and 34.
    """
    import random

    import soundfile as sf

    from ser_framework import encode_audio, load_bundle

    bundle = load_bundle()
    clips = sorted(p for a in (17, 18, 19, 20) for p in (corpus / f"Actor_{a:02d}").glob("*.flac"))
    clips = random.Random(0).sample(clips, 40)
    originals = [bundle.predict(clip) for clip in clips]
    for codec, suffix, min_same in (("aac", "m4a", 37), ("opus", "webm", 37), ("amr", "amr", 31)):
        same = within = 0
        for clip, original in zip(clips, originals):
            y, sr = sf.read(clip, dtype="float32")
            copy = tmp_path / f"{clip.stem}.{suffix}"
            copy.write_bytes(encode_audio(y, sr, codec)[0])
            answer = bundle.predict(copy)
            same += answer.label == original.label
            within += original.label in dict(answer.alternatives())
        assert same >= min_same, (codec, same)
        assert within >= len(clips) - 2, (codec, within)
