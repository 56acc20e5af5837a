"""An example ser-framework plugin package.

It registers one feature extractor (``spectral_flux``) and one classifier
(``nearest_centroid``) through the same hooks the built-in plugins use.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ser_framework import Param, hookimpl
from ser_framework.components import Classifier, FeatureExtractor
from ser_framework.pooling import STATS, pool


class SpectralFlux(FeatureExtractor):
    """Frame-to-frame change of the magnitude spectrum, pooled over time."""

    name = "spectral_flux"
    params = {
        "n_fft": Param(int, 2048, "FFT size", min=64),
        "hop_length": Param(int, 512, "hop (samples)", min=16),
        "stats": Param(list, ["mean", "std", "max"], "statistics", item=str, choices=STATS, min_items=1),
    }

    def extract(self, ctx):
        mag = ctx.magnitude(self.config["n_fft"], self.config["hop_length"])  # shared with other extractors
        flux = np.sqrt((np.diff(mag, axis=1).clip(min=0) ** 2).sum(axis=0))[None, :]
        vector, self._names = pool(flux, self.config["stats"], prefix="flux")
        return vector

    def feature_names(self):
        return getattr(self, "_names", None)


class NearestCentroid(Classifier):
    """Softmax over negative distances to each class centroid."""

    name = "nearest_centroid"
    params = {"temperature": Param(float, 1.0, "softmax temperature", min=1e-6)}

    def fit(self, X, y, n_classes, validation=None, seed=0, progress=False):
        self.centroids_ = np.stack([
            X[y == c].mean(axis=0) if np.any(y == c) else np.full(X.shape[1], np.inf) for c in range(n_classes)
        ])
        return self

    def predict_proba(self, X):
        d = np.linalg.norm(np.asarray(X)[:, None, :] - self.centroids_[None], axis=2)
        z = -d / self.config["temperature"]
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def save(self, directory):
        np.save(Path(directory) / "centroids.npy", self.centroids_)
        return ["centroids.npy"]

    @classmethod
    def load(cls, directory, params):
        obj = cls(**params)
        obj.centroids_ = np.load(Path(directory) / "centroids.npy", allow_pickle=False)
        return obj


@hookimpl
def register_features(register):
    register(SpectralFlux)


@hookimpl
def register_classifiers(register):
    register(NearestCentroid)
