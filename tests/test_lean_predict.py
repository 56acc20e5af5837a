"""Prediction without TensorFlow: the numpy MLP equals Keras, and ``ser predict`` never imports TF.

Runs on the shipped default model when it is a keras_mlp bundle; otherwise on
a tiny keras_mlp bundle trained here for a few epochs on synthetic audio.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ser_framework.bundle import DEFAULT_BUNDLE

pytestmark = pytest.mark.slow  # trains or loads a Keras model

TINY_MLP = {"name": "keras_mlp", "params": {"units": [24, 12], "dropout": [0.2, 0.0], "batch_norm": [True, False],
                                            "epochs": 4, "batch_size": 8}}


@pytest.fixture(scope="module")
def keras_bundle_dir(synthetic_corpus_dir, tmp_path_factory):
    if (DEFAULT_BUNDLE / "manifest.json").is_file():
        manifest = json.loads((DEFAULT_BUNDLE / "manifest.json").read_text())
        if manifest["classifier"]["name"] == "keras_mlp":
            return DEFAULT_BUNDLE
    from conftest import tiny_config_dict

    from ser_framework.config import validate
    from ser_framework.experiment import run_training
    from ser_framework.plugins import get_registry

    out = tmp_path_factory.mktemp("keras_run")
    registry = get_registry(load_entrypoints=False)
    raw = tiny_config_dict(synthetic_corpus_dir, out, classifier=TINY_MLP)
    raw["evaluation"]["refit"] = True
    result = run_training(validate(raw, registry), registry, out / "run", progress=False)
    return result.bundle_dir


def _clips(corpus: Path, n: int = 6) -> list[str]:
    return [str(p) for p in sorted(corpus.rglob("*.wav"))[:n]]


def test_numpy_mlp_matches_keras_predict(keras_bundle_dir, synthetic_corpus_dir):
    from ser_framework.bundle import load_bundle

    bundle = load_bundle(keras_bundle_dir)
    X = np.vstack([bundle.pipeline.from_source(p) for p in _clips(synthetic_corpus_dir, 12)])
    Xs = bundle.model.transform(np.asarray(X, dtype=np.float32))
    rng = np.random.default_rng(0)
    Xs = np.vstack([Xs, Xs + rng.normal(0, 0.5, Xs.shape)])  # also rows away from the training data
    clf = bundle.model.classifier
    ours = clf.predict_proba(Xs)
    keras_model = clf.load_keras(keras_bundle_dir / "classifier")
    assert any(type(layer).__name__ == "BatchNormalization" for layer in keras_model.layers)
    theirs = keras_model.predict(Xs.astype(np.float32), verbose=0)
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5)
    np.testing.assert_allclose(ours.sum(axis=1), 1.0, atol=1e-9)


PROBE = """
import json, sys
from ser_frontends.cli.main import cli
try:
    cli.main(args=sys.argv[1:], prog_name="ser", standalone_mode=False)
finally:
    heavy = ("tensorflow", "keras", "torch", "jax")
    print("MODULES:" + json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in heavy)), file=sys.stderr)
"""


def test_ser_predict_does_not_import_tensorflow(keras_bundle_dir, synthetic_corpus_dir):
    files = _clips(synthetic_corpus_dir, 3)
    proc = subprocess.run([sys.executable, "-c", PROBE, "predict", "--json", "-m", str(keras_bundle_dir), *files],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    assert [r["path"] for r in results] == files
    labels = json.loads((Path(keras_bundle_dir) / "manifest.json").read_text())["labels"]
    assert all(r["label"] in labels for r in results)
    modules = json.loads(proc.stderr.split("MODULES:")[-1].strip())
    assert modules == []


def test_ser_predict_importtime_has_no_tensorflow(keras_bundle_dir, synthetic_corpus_dir):
    """The same, seen by the interpreter's own import log (``python -X importtime``)."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", PROBE, "predict", "-m", str(keras_bundle_dir),
                           _clips(synthetic_corpus_dir, 1)[0]], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    imported = [line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")]
    assert "librosa" in imported  # the log is real
    assert not [m for m in imported if m.split(".")[0] in ("tensorflow", "keras")]
