"""The yardstick: a straightforward seed-style pipeline, written the way the original scripts did it.

It computes the same features and statistics as ``configs/default.yaml``, but
each feature loads the file again with ``librosa.load(sr=22050)`` and computes
its own STFT; tonnetz runs on ``librosa.effects.harmonic(y)`` with CQT chroma;
prediction imports TensorFlow and runs the Keras model's ``predict``.

    python bench/seed_style.py predict BUNDLE_DIR FILE...   # what the benchmark times
"""
from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import numpy as np

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "default.yaml"


@functools.lru_cache(maxsize=1)
def extractors():
    """The default config's extractors (same features and statistics as the shipped model)."""
    from ser_framework.config import load_config
    from ser_framework.extraction import FeaturePipeline

    config, registry = load_config(CONFIG)
    return {e.name: e for e in FeaturePipeline.from_config(config["features"], config["audio"], registry).extractors}


def feature(path, name) -> np.ndarray:
    """One feature the seed way: load the file again, compute its own spectrogram."""
    import librosa

    from ser_framework.pooling import pool
    from ser_framework.spectral import AudioContext

    extractor = extractors()[name]
    y, sr = librosa.load(path, sr=22050)
    if name == "tonnetz":  # the common recipe: harmonic part, then CQT chroma inside tonnetz
        return pool(librosa.feature.tonnetz(y=librosa.effects.harmonic(y), sr=sr), extractor.config["stats"])
    return extractor.extract(AudioContext(y, sr))  # a fresh context: nothing shared with other features


def mfcc(path):
    return feature(path, "mfcc")


def chroma(path):
    return feature(path, "chroma")


def contrast(path):
    return feature(path, "spectral_contrast")


def tonnetz(path):
    return feature(path, "tonnetz")


def extract(path) -> np.ndarray:
    return np.concatenate([feature(path, name) for name in extractors()])


def load_keras(bundle_dir):
    from ser_plugins.classifiers.keras_mlp import import_keras

    _, keras = import_keras()
    return keras.models.load_model(os.path.join(bundle_dir, "classifier", "model.keras"), compile=False)


def load_scaling(bundle_dir):
    """The bundle's fitted selectors (the seed pickled a scaler; any fixed transform costs the same)."""
    from ser_framework.bundle import load_bundle

    return load_bundle(bundle_dir).model


def main(argv):
    if len(argv) < 3 or argv[0] != "predict":
        print(__doc__)
        return 2
    bundle_dir, files = argv[1], argv[2:]
    model = load_keras(bundle_dir)
    fitted = load_scaling(bundle_dir)
    labels = fitted.labels
    for f in files:
        x = fitted.transform(extract(f)[None, :].astype(np.float32))
        p = model.predict(x, verbose=0)[0]
        print(f"{f}: {labels[int(np.argmax(p))]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
