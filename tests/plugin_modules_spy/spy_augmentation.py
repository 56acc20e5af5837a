"""Spies for tests/test_augmentation.py: which rows do balancers and classifiers see?

``spy_mark`` marks a clip as augmented by setting its last sample to a sentinel; ``spy_id``
returns [clip id, marker], the id being a digest of every other sample, so a copy has the id
of its original. ``spy_balancer`` and ``spy_classifier`` record the (id, marker) rows they get.
"""
from __future__ import annotations

import zlib

import numpy as np

from ser_framework import Augmenter, Balancer, Classifier, FeatureExtractor, hookimpl

SENTINEL = np.float32(0.123)


class SpyMark(Augmenter):
    name = "spy_mark"

    def apply(self, y, sr, rng):
        y = np.array(y, dtype=np.float32)
        y[-1] = SENTINEL
        return y


class SpyId(FeatureExtractor):
    name = "spy_id"

    def extract(self, ctx):
        y = np.asarray(ctx.y, dtype=np.float32)
        clip = zlib.crc32(y[:-1].tobytes()) % (1 << 20)
        return np.array([clip, float(y[-1] == SENTINEL), float(np.std(y))], dtype=np.float32)


class SpyBalancer(Balancer):
    name = "spy_balancer"
    seen: list = []

    def resample(self, X, y, rng):
        type(self).seen.append(np.asarray(X[:, :2]).copy())
        return X, y


class SpyClassifier(Classifier):
    """Predicts the class prior; records its training rows and every batch it is asked about."""

    name = "spy_classifier"
    fits: list = []
    predictions: list = []

    def fit(self, X, y, n_classes, validation=None, seed=0, progress=False):
        self.rows = np.asarray(X[:, :2]).copy()
        type(self).fits.append(self.rows)
        self.prior = np.bincount(y, minlength=n_classes) / len(y)
        return self

    def predict_proba(self, X):
        type(self).predictions.append((self.rows, np.asarray(X[:, :2]).copy()))
        return np.tile(self.prior, (len(X), 1))

    def save(self, directory):
        np.savez(directory / "prior.npz", prior=self.prior)
        return ["prior.npz"]

    @classmethod
    def load(cls, directory, params):
        self = cls(params)
        with np.load(directory / "prior.npz", allow_pickle=False) as data:
            self.prior = data["prior"]
        self.rows = np.zeros((0, 2))
        return self


@hookimpl
def register_augmenters(register):
    register(SpyMark)


@hookimpl
def register_features(register):
    register(SpyId)


@hookimpl
def register_balancers(register):
    register(SpyBalancer)


@hookimpl
def register_classifiers(register):
    register(SpyClassifier)
