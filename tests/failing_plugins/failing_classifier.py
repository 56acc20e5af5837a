"""A classifier plugin that fails on purpose, to test that interrupted training leaves nothing behind."""
from __future__ import annotations

from pathlib import Path

from ser_framework import Param, hookimpl
from ser_framework.components import Classifier


class FailingClassifier(Classifier):
    """Logistic regression that raises in ``fit`` or part-way through ``save``."""

    name = "failing_classifier"
    params = {
        "fail_in": Param(str, "fit", "where to fail", choices=("fit", "save", "never")),
        "error": Param(str, "runtime", "what to raise", choices=("runtime", "interrupt")),
    }

    def _fail(self):
        if self.config["error"] == "interrupt":
            raise KeyboardInterrupt
        raise RuntimeError(f"failing_classifier: failed in {self.config['fail_in']} on purpose")

    def fit(self, X, y, n_classes, validation=None, seed=0, progress=False):
        from ser_plugins.classifiers.linear import LogisticRegression

        if self.config["fail_in"] == "fit":
            self._fail()
        self.inner = LogisticRegression(C=1.0, max_iter=200, class_weight="balanced").fit(X, y, n_classes, seed=seed)
        return self

    def predict_proba(self, X):
        return self.inner.predict_proba(X)

    def save(self, directory):
        files = self.inner.save(directory)
        if self.config["fail_in"] == "save":
            (Path(directory) / "half-written.bin").write_bytes(b"\0" * 1000)
            self._fail()
        return files

    @classmethod
    def load(cls, directory, params):  # pragma: no cover - never reached
        raise NotImplementedError


@hookimpl
def register_classifiers(register):
    register(FailingClassifier)
