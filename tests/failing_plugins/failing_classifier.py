"""A classifier plugin that fails on purpose, to test that interrupted training leaves nothing behind."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from ser_framework import Classifier, Field, Params, hookimpl


class FailingClassifier(Classifier):
    """Logistic regression that raises in ``fit`` or part-way through ``save``."""

    name = "failing_classifier"
    class Params(Params):
        fail_in: Literal["fit", "save", "never"] = Field("fit", description="where to fail")
        error: Literal["runtime", "interrupt"] = Field("runtime", description="what to raise")

    def _fail(self):
        if self.params.error == "interrupt":
            raise KeyboardInterrupt
        raise RuntimeError(f"failing_classifier: failed in {self.params.fail_in} on purpose")

    def fit(self, X, y, n_classes, validation=None, seed=0, progress=False):
        from ser_plugins.classifiers.linear import LogisticRegression

        if self.params.fail_in == "fit":
            self._fail()
        self.inner = LogisticRegression(LogisticRegression.Params(max_iter=200)).fit(X, y, n_classes, seed=seed)
        return self

    def predict_proba(self, X):
        return self.inner.predict_proba(X)

    def save(self, directory):
        files = self.inner.save(directory)
        if self.params.fail_in == "save":
            (Path(directory) / "half-written.bin").write_bytes(b"\0" * 1000)
            self._fail()
        return files

    @classmethod
    def load(cls, directory, params):  # pragma: no cover - never reached
        raise NotImplementedError


@hookimpl
def register_classifiers(register):
    register(FailingClassifier)
