"""One of two files named plugins/same.py in two folders: each is a plugin of its own."""
from ser_framework import Balancer, hookimpl


class Keep(Balancer):
    """Leave the rows as they are."""

    name = "keep_a"

    def resample(self, X, y, rng):
        return X, y


@hookimpl
def register_balancers(register):
    register(Keep)
