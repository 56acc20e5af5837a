"""A scikit-learn classifier, to show the hook is not Keras-specific."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from ser_framework import Classifier, Field, Params

WEIGHTS = "logreg.npz"


class LogisticRegression(Classifier):
    """Multinomial logistic regression (sklearn.linear_model.LogisticRegression)."""

    name = "logistic_regression"
    class Params(Params):
        C: float = Field(1.0, ge=1e-8, description="inverse regularisation strength")
        max_iter: int = Field(2000, ge=1, description="solver iterations")
        class_weight: Literal["balanced", "none"] = Field("balanced", description="'balanced' or 'none'")

    def fit(self, X, y, n_classes, validation=None, seed=0, progress=False):
        from sklearn.linear_model import LogisticRegression as Sk

        p = self.params
        cw = None if p.class_weight == "none" else "balanced"
        sk = Sk(C=p.C, max_iter=p.max_iter, class_weight=cw, random_state=seed)
        sk.fit(X, y)
        coef = np.zeros((n_classes, X.shape[1]))
        intercept = np.full(n_classes, -1e9)
        if len(sk.classes_) == 2 and sk.coef_.shape[0] == 1:  # binary: sklearn keeps one row
            coef[sk.classes_[1]], intercept[sk.classes_[1]] = sk.coef_[0], sk.intercept_[0]
            coef[sk.classes_[0]], intercept[sk.classes_[0]] = 0.0, 0.0
        else:
            coef[sk.classes_], intercept[sk.classes_] = sk.coef_, sk.intercept_
        self.coef_, self.intercept_ = coef, intercept
        return self

    def predict_proba(self, X):
        z = np.asarray(X, dtype=np.float64) @ self.coef_.T + self.intercept_
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)

    def save(self, directory):
        np.savez(Path(directory) / WEIGHTS, coef=self.coef_, intercept=self.intercept_)
        return [WEIGHTS]

    @classmethod
    def load(cls, directory, params):
        obj = cls(params)
        with np.load(Path(directory) / WEIGHTS, allow_pickle=False) as data:
            obj.coef_, obj.intercept_ = data["coef"], data["intercept"]
        return obj


__all__ = ["LogisticRegression"]
