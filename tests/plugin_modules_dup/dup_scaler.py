"""A local test plugin that reuses a built-in name: registration must fail."""
from ser_framework import Selector, hookimpl


class AnotherScaler(Selector):
    name = "standard_scaler"
    def fit(self, X, y):
        return self

    def transform(self, X):
        return X

    def get_state(self):
        return {}

    def set_state(self, state):
        pass


@hookimpl
def register_selectors(register):
    register(AnotherScaler)
