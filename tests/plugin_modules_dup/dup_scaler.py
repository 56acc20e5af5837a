"""A local test plugin that reuses a built-in name: registration must fail."""
from ser_framework import hookimpl
from ser_framework.components import Selector


class AnotherScaler(Selector):
    name = "standard_scaler"
    params = {}

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
