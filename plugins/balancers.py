"""Balancer plugins; the orchestrator applies them to training rows only."""
from __future__ import annotations

import numpy as np

from ser_framework import Balancer, hookimpl


class Upsample(Balancer):
    """Resample every class with replacement up to the size of the largest (sklearn.utils.resample)."""

    name = "upsample"

    def resample(self, X, y, rng):
        from sklearn.utils import resample

        y = np.asarray(y)
        classes, counts = np.unique(y, return_counts=True)
        target = counts.max()
        parts_X, parts_y = [], []
        for cls, count in zip(classes, counts):
            idx = np.flatnonzero(y == cls)
            if count < target:
                extra = resample(idx, replace=True, n_samples=target - count,
                                 random_state=int(rng.integers(2**31 - 1)))
                idx = np.concatenate([idx, extra])
            parts_X.append(X[idx])
            parts_y.append(y[idx])
        X_out, y_out = np.concatenate(parts_X), np.concatenate(parts_y)
        order = rng.permutation(len(y_out))
        return X_out[order], y_out[order]


class NoBalancing(Balancer):
    """Leave the training rows as they are."""

    name = "none"

    def resample(self, X, y, rng):
        return X, y


@hookimpl
def register_balancers(register):
    register(Upsample)
    register(NoBalancing)
