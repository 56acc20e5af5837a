"""End to end on the shared RAVDESS corpus: train the Keras MLP on a few actors, then use the bundle."""
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
                            "refit": False}
    config["classifier"]["params"]["epochs"] = 15
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
    manifest = json.loads((trained / "model" / "manifest.json").read_text())
    assert manifest["classifier"]["name"] == "keras_mlp"
    assert {"model.keras", "mlp.npz"} <= {Path(f).name for f in manifest["files"]}


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
