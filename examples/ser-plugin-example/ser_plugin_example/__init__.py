"""An example ser-framework plugin package.

It registers one feature extractor (``spectral_flux``) and one classifier
(``nearest_centroid``) through the same hooks the built-in plugins use.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from ser_framework import STATS, Classifier, FeatureExtractor, Field, Params, hookimpl, pool


class SpectralFlux(FeatureExtractor):
    """Frame-to-frame change of the magnitude spectrum, pooled over time."""

    name = "spectral_flux"

    class Params(Params):
        n_fft: int = Field(2048, ge=64, description="FFT size")
        hop_length: int = Field(512, ge=16, description="hop (samples)")
        stats: list[Literal[STATS]] = Field(["mean", "std", "max"], min_length=1, description="statistics")

    def extract(self, ctx):
        mag = ctx.magnitude(self.params.n_fft, self.params.hop_length)  # shared with other extractors
        flux = np.sqrt((np.diff(mag, axis=1).clip(min=0) ** 2).sum(axis=0))[None, :]
        return pool(flux, self.params.stats)


class NearestCentroid(Classifier):
    """Softmax over negative distances to each class centroid."""

    name = "nearest_centroid"
    class Params(Params):
        temperature: float = Field(1.0, ge=1e-6, description="softmax temperature")

    def fit(self, X, y, n_classes, validation=None, seed=0, progress=False):
        self.centroids_ = np.stack([
            X[y == c].mean(axis=0) if np.any(y == c) else np.full(X.shape[1], np.inf) for c in range(n_classes)
        ])
        return self

    def predict_proba(self, X):
        d = np.linalg.norm(np.asarray(X)[:, None, :] - self.centroids_[None], axis=2)
        z = -d / self.params.temperature
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def save(self, directory):
        np.save(Path(directory) / "centroids.npy", self.centroids_)
        return ["centroids.npy"]

    @classmethod
    def load(cls, directory, params):
        obj = cls(params)
        obj.centroids_ = np.load(Path(directory) / "centroids.npy", allow_pickle=False)
        return obj


@hookimpl
def register_features(register):
    register(SpectralFlux)


@hookimpl
def register_classifiers(register):
    register(NearestCentroid)
