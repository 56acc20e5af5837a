"""A local test plugin: a balancer that downsamples every class to the smallest."""
import numpy as np

from ser_framework import Balancer, hookimpl


class Downsample(Balancer):
    """Keep as many rows of each class as the smallest class has."""

    name = "downsample"
    def resample(self, X, y, rng):
        classes, counts = np.unique(y, return_counts=True)
        idx = np.concatenate([rng.choice(np.flatnonzero(y == c), counts.min(), replace=False) for c in classes])
        return X[idx], y[idx]


@hookimpl
def register_balancers(register):
    register(Downsample)
