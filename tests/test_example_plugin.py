"""The example plugin package under examples/ installs and shows up like any third-party plugin."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "ser-plugin-example"


@pytest.fixture(scope="module")
def installed_example(tmp_path_factory):
    """pip-install the example into a private folder (not the test environment itself)."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(EXAMPLE)],
        check=True, capture_output=True, text=True,
    )
    env = {k: v for k, v in os.environ.items() if k != "SER_DISABLE_PLUGIN_AUTOLOAD"}
    env["PYTHONPATH"] = os.pathsep.join([str(target), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def ser(env, *args, cwd=None):
    return subprocess.run([sys.executable, "-m", "ser_frontends.cli", *args],
                          env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_installed_example_appears_in_ser_plugins(installed_example):
    result = ser(installed_example, "plugins", "--json")
    assert result.returncode == 0, result.stderr
    entries = {(e["kind"], e["name"]): e for e in json.loads(result.stdout)}
    assert entries[("feature", "spectral_flux")]["source"] == "ser-plugin-example"
    assert entries[("classifier", "nearest_centroid")]["source"] == "ser-plugin-example"
    assert entries[("feature", "mfcc")]["source"] == "built-in"


def test_autoload_switch_hides_installed_plugins(installed_example):
    env = {**installed_example, "SER_DISABLE_PLUGIN_AUTOLOAD": "1"}
    names = {e["name"] for e in json.loads(ser(env, "plugins", "--json").stdout)}
    assert "spectral_flux" not in names and "mfcc" in names


def test_example_components_train_and_predict(installed_example, synthetic_corpus_dir, tmp_path):
    import yaml

    config = {
        "seed": 0,
        "dataset": {"name": "folder", "params": {"root": str(synthetic_corpus_dir), "speaker_from": "prefix"}},
        "features": [{"name": "mfcc", "params": {"n_mfcc": 13}}, {"name": "spectral_flux"}],
        "extraction": {"n_jobs": 1, "cache": False},
        "selectors": [{"name": "standard_scaler"}],
        "classifier": {"name": "nearest_centroid"},
        "evaluation": {"protocol": "holdout_speakers", "test_speakers": ["spk4"]},
    }
    path = tmp_path / "example.yaml"
    path.write_text(yaml.safe_dump(config))
    run = tmp_path / "run"
    result = ser(installed_example, "train", str(path), "-o", str(run), "-q")
    assert result.returncode == 0, result.stderr
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["accuracy"] >= 0.9  # three well-separated pitches
    clip = next((synthetic_corpus_dir / "high").glob("spk4_*.wav"))
    out = ser(installed_example, "predict", str(clip), "--model", str(run / "model"), "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)[0]["label"] == "high"
    # without the package, the bundle names what it needs and how to get it
    missing = ser({**installed_example, "SER_DISABLE_PLUGIN_AUTOLOAD": "1"},
                  "predict", str(clip), "--model", str(run / "model"))
    assert missing.returncode == 1
    assert "from the plugin package 'ser-plugin-example'" in missing.stderr
