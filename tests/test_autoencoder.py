"""The ``autoencoder`` selector: fitted with Keras, its encoder run in numpy, through a bundle and back."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import tiny_config_dict

from ser_framework.plugins import get_registry

pytestmark = pytest.mark.slow  # trains a Keras model

TINY_AE = {"name": "autoencoder", "params": {"code_size": 4, "hidden": [16], "epochs": 10, "seed": 3}}


@pytest.fixture(scope="module")
def autoencoder_bundle_dir(synthetic_corpus_dir, tmp_path_factory):
    from ser_framework.config import validate
    from ser_framework.experiment import run_training

    out = tmp_path_factory.mktemp("autoencoder_run")
    registry = get_registry(load_entrypoints=False)
    raw = tiny_config_dict(synthetic_corpus_dir, out)
    raw["selectors"] = [{"name": "standard_scaler"}, TINY_AE]
    raw["evaluation"].update(calibrate=False, refit=False)  # one autoencoder fit
    result = run_training(validate(raw, registry), registry, out / "run", progress=False)
    return result.bundle_dir


def test_hook_autoencoder_encoder_in_numpy_matches_keras():
    from ser_plugins.classifiers.keras_mlp import import_keras

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 40)
    X = rng.normal(size=(80, 12)) + 2 * y[:, None] * (np.arange(12) < 3)
    selector = get_registry().build("selector", TINY_AE).fit(X, y)
    codes = selector.transform(X)
    assert codes.shape == (80, 4) and codes.dtype == np.float32
    # the same weights in a Keras encoder give the same codes
    _, keras = import_keras()
    state = selector.get_state()
    encoder = keras.Sequential([keras.Input(shape=(12,)), keras.layers.Dense(16, activation="relu"),
                                keras.layers.Dense(4)])
    encoder.set_weights([state["0_kernel"], state["0_bias"], state["1_kernel"], state["1_bias"]])
    np.testing.assert_allclose(codes, encoder.predict(X.astype(np.float32), verbose=0), rtol=1e-4, atol=1e-4)
    # the code keeps what separates the classes
    between = np.linalg.norm(codes[y == 0].mean(0) - codes[y == 1].mean(0))
    assert between > codes.std(0).mean()
    # seeded: the same fit again gives the same encoder
    again = get_registry().build("selector", TINY_AE).fit(X, y)
    np.testing.assert_allclose(again.transform(X), codes, rtol=1e-5, atol=1e-5)


def test_autoencoder_round_trip_through_a_bundle(autoencoder_bundle_dir, synthetic_corpus_dir):
    from ser_framework import load_bundle

    manifest = json.loads((autoencoder_bundle_dir / "manifest.json").read_text())
    spec = manifest["selectors"][1]
    assert spec["name"] == "autoencoder" and spec["params"]["code_size"] == 4
    with np.load(autoencoder_bundle_dir / spec["state"], allow_pickle=False) as data:
        assert sorted(data.files) == ["0_bias", "0_kernel", "1_bias", "1_kernel"]
        assert data["1_kernel"].shape == (16, 4)
    bundle = load_bundle(autoencoder_bundle_dir)
    clips = sorted(synthetic_corpus_dir.rglob("*.wav"))
    X = np.vstack([bundle.pipeline.from_source(p) for p in clips])
    assert bundle.model.transform(X).shape == (len(clips), 4)
    again = load_bundle(autoencoder_bundle_dir)
    np.testing.assert_array_equal(again.predict_features(X), bundle.predict_features(X))
    accuracy = np.mean([bundle.predict(p).label == p.parent.name for p in clips])
    assert accuracy > 0.6  # three pitch classes (chance 0.33) through a 4-value code


PROBE = """
import json, sys
from ser_frontends.cli.main import cli
try:
    cli.main(args=sys.argv[1:], prog_name="ser", standalone_mode=False)
finally:
    print("MODULES:" + json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras"))),
          file=sys.stderr)
"""


def test_predicting_with_an_autoencoder_bundle_does_not_import_tensorflow(autoencoder_bundle_dir, synthetic_corpus_dir):
    files = [str(p) for p in sorted(synthetic_corpus_dir.rglob("*.wav"))[:2]]
    proc = subprocess.run([sys.executable, "-c", PROBE, "predict", "--json", "-m", str(autoencoder_bundle_dir), *files],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert [r["path"] for r in json.loads(proc.stdout)] == files
    assert json.loads(proc.stderr.split("MODULES:")[-1].strip()) == []
