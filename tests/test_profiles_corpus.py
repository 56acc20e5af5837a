"""Speaker profiles end to end on the shared RAVDESS corpus: train with per-speaker normalisation,
evaluate with --enrol on an unseen actor, enrol a profile and predict with it (CLI, real clips)."""
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


def ser(*args):
    return subprocess.run([sys.executable, "-m", "ser_frontends.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    if not CORPUS.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"the shared corpus must be present in CI: {CORPUS}")
        pytest.skip(f"shared corpus not found at {CORPUS}")
    tmp = tmp_path_factory.mktemp("profiles_e2e")
    config = yaml.safe_load((ROOT / "configs" / "speaker-normalised.yaml").read_text())
    config["dataset"]["params"] = {"root": str(CORPUS), "actors": [1, 2, 3, 4]}
    config["features"] = [{"name": "mfcc", "params": {"n_mfcc": 20, "stats": ["mean", "std"]}}]
    config["augmentation"] = None
    config["evaluation"] = {"protocol": "holdout_speakers", "test_speakers": ["actor_04"], "n_splits": 3,
                            "refit": True}
    config["extraction"] = {"n_jobs": 2}
    path = tmp / "sn.yaml"
    path.write_text(yaml.safe_dump(config))
    result = ser("train", str(path), "-o", str(tmp / "run"), "-q")
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp / "run" / "metrics.json").read_text())
    assert metrics["n"] == 50  # actor 4: 60 clips, 10 enrol its profile and are not scored
    assert "enrolment clips" in metrics["protocol_description"]
    return tmp / "run" / "model"


def test_evaluate_with_enrol_on_an_unseen_actor_and_predict_with_a_profile(model, tmp_path):
    out = ser("evaluate", str(CORPUS), "--speakers", "actor_05", "--enrol", "10", "--seed", "3",
              "--conditions", "pink_10db", "--json", "-q", "-m", str(model))
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    enrol = result["enrol"]
    assert result["n"] == enrol["n_scored"] == 50 and enrol["n_enrolled"] == 10
    assert list(enrol["enrolment_paths"]) == ["actor_05"] and len(enrol["enrolment_paths"]["actor_05"]) == 10
    assert result["uar"] > 1 / 8 + 0.05 and enrol["without_profile"]["n"] == 50
    assert set(result["conditions"]) == {"clean", "pink_10db"}
    assert set(enrol["conditions_degraded_enrolment"]["conditions"]) == {"clean", "pink_10db"}

    from ser_framework import SpeakerProfile, load_bundle

    bundle = load_bundle(model)
    profile = SpeakerProfile.enrol(bundle, enrol["enrolment_paths"]["actor_05"], "actor 5")
    path = profile.save(tmp_path / "actor5.json")
    scored = sorted(set(map(str, (CORPUS / "Actor_05").glob("*.flac"))) - set(enrol["enrolment_paths"]["actor_05"]))
    out = ser("predict", "--json", "--profile", str(path), "-m", str(model), *scored[:5])
    assert out.returncode == 0, out.stderr
    answers = json.loads(out.stdout)
    assert [a["path"] for a in answers] == scored[:5]
    # the same answers as the evaluation's, whose profile came from the same enrolment clips
    expected = [bundle.predict(p, profile=profile).label for p in scored[:5]]
    assert [a["label"] for a in answers] == expected


def test_the_shipped_default_judges_with_a_stored_profile(tmp_path):
    """``ser profile create`` / ``ser predict --profile`` with the shipped model: its profile member answers."""
    from ser_framework import SpeakerProfile, load_bundle
    from ser_framework.bundle import DEFAULT_BUNDLE

    if not CORPUS.is_dir():
        pytest.fail(f"the shared corpus is missing: {CORPUS}")
    bundle = load_bundle(DEFAULT_BUNDLE)
    assert bundle.feature_space  # profiles live in the profile member's feature space
    clips = sorted(map(str, (CORPUS / "Actor_07").glob("*.flac")))
    enrol, scored = clips[:6], clips[20:26]
    env = {**os.environ, "SER_DATA_DIR": str(tmp_path / "data")}
    run = lambda *a: subprocess.run([sys.executable, "-m", "ser_frontends.cli", *a], cwd=ROOT, env=env,  # noqa: E731
                                    capture_output=True, text=True, timeout=900)
    created = run("profile", "create", "seven", *enrol)
    assert created.returncode == 0, created.stderr
    with_profile = run("predict", "--json", "--top", "8", "--profile", "seven", *scored)
    without = run("predict", "--json", "--top", "8", *scored)
    assert with_profile.returncode == 0 and without.returncode == 0, with_profile.stderr + without.stderr
    answers, plain = json.loads(with_profile.stdout), json.loads(without.stdout)
    profile = SpeakerProfile.enrol(bundle, enrol, "seven")
    for answer, path in zip(answers, scored):
        expected = bundle.predict(path, profile=profile)
        assert answer["label"] == expected.label
        assert answer["probabilities"] == pytest.approx(expected.probabilities, abs=1e-3)
    # the profile changes the answer: the speaker-normalised member replaces the pooled one
    assert any(a["probabilities"] != pytest.approx(p["probabilities"], abs=1e-3) for a, p in zip(answers, plain))
