"""The yardstick: a straightforward seed-style pipeline, written the way the original scripts did it.

Each feature loads the file again with ``librosa.load(sr=22050)`` and computes
its own STFT; tonnetz runs on ``librosa.effects.harmonic(y)`` with CQT chroma;
prediction imports TensorFlow and runs the Keras model's ``predict``.

    python bench/seed_style.py predict BUNDLE_DIR FILE...   # what the benchmark times
"""
from __future__ import annotations

import os
import sys

import numpy as np


def _pool(m, stats=("mean", "std")):
    out = []
    for s in stats:
        if s == "mean":
            out.append(m.mean(axis=1))
        elif s == "std":
            out.append(m.std(axis=1))
        elif s == "min":
            out.append(m.min(axis=1))
        elif s == "max":
            out.append(m.max(axis=1))
    return np.concatenate(out)


def mfcc(path):
    import librosa

    y, sr = librosa.load(path, sr=22050)
    m = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=40)
    return np.concatenate([_pool(m, ("mean", "std", "min", "max")), librosa.feature.delta(m).std(axis=1)])


def chroma(path):
    import librosa

    y, sr = librosa.load(path, sr=22050)
    stft = np.abs(librosa.stft(y))
    return _pool(librosa.feature.chroma_stft(S=stft, sr=sr))


def contrast(path):
    import librosa

    y, sr = librosa.load(path, sr=22050)
    stft = np.abs(librosa.stft(y))
    return _pool(librosa.feature.spectral_contrast(S=stft, sr=sr))


def tonnetz(path):
    import librosa

    y, sr = librosa.load(path, sr=22050)
    y = librosa.effects.harmonic(y)
    return _pool(librosa.feature.tonnetz(y=y, sr=sr))


FEATURES = (mfcc, chroma, contrast, tonnetz)


def extract(path) -> np.ndarray:
    return np.concatenate([f(path) for f in FEATURES])


def load_keras(bundle_dir):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    import tensorflow as tf  # noqa: F401
    import keras

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
