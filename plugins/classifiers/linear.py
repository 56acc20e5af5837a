"""Linear scikit-learn classifiers (logistic regression, shrinkage LDA), run in numpy at prediction."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import field_validator

from ser_framework import Classifier, Field, Params

WEIGHTS = "logreg.npz"
LDA_WEIGHTS = "lda.npz"


def _full_rows(n_classes, n_features, classes, coef, intercept):
    """Weights for all ``n_classes`` (a class absent from the training rows is never predicted).

    With two classes sklearn keeps one row, the log-odds of the second: the first gets zeros.
    """
    if len(classes) == 2 and coef.shape[0] == 1:
        coef, intercept = np.vstack([np.zeros_like(coef[0]), coef[0]]), np.array([0.0, intercept[0]])
    full_coef = np.zeros((n_classes, n_features))
    full_intercept = np.full(n_classes, -1e9)
    full_coef[classes], full_intercept[classes] = coef, intercept
    return full_coef, full_intercept


class _LinearSoftmax(Classifier):
    """Softmax of ``X @ coef_.T + intercept_``: the weights are all a bundle stores (``weights_file``)."""

    weights_file = ""

    def predict_proba(self, X):
        z = np.asarray(X, dtype=np.float64) @ self.coef_.T + self.intercept_
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)

    def save(self, directory):
        np.savez(Path(directory) / self.weights_file, coef=self.coef_, intercept=self.intercept_)
        return [self.weights_file]

    @classmethod
    def load(cls, directory, params):
        obj = cls(params)
        with np.load(Path(directory) / cls.weights_file, allow_pickle=False) as data:
            obj.coef_, obj.intercept_ = data["coef"], data["intercept"]
        return obj


class LogisticRegression(_LinearSoftmax):
    """Multinomial logistic regression (sklearn.linear_model.LogisticRegression)."""

    name = "logistic_regression"
    weights_file = WEIGHTS
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
        self.coef_, self.intercept_ = _full_rows(n_classes, X.shape[1], sk.classes_, sk.coef_, sk.intercept_)
        return self


class LDA(_LinearSoftmax):
    """Linear discriminant analysis with a shrunk covariance (sklearn LinearDiscriminantAnalysis, lsqr)."""

    name = "lda"
    weights_file = LDA_WEIGHTS
    class Params(Params):
        shrinkage: float | Literal["auto"] = Field(
            0.5, description="weight of the diagonal target in the pooled covariance, 0-1, or 'auto' (Ledoit-Wolf)")
        priors: Literal["uniform", "empirical"] = Field(
            "uniform", description="class priors: 'uniform' (every emotion alike) or 'empirical' (training shares)")

        @field_validator("shrinkage")
        @classmethod
        def _in_unit_interval(cls, v):
            if v != "auto" and not 0.0 <= v <= 1.0:
                raise ValueError("shrinkage must lie in [0, 1] or be 'auto'")
            return v

    def fit(self, X, y, n_classes, validation=None, seed=0, progress=False):
        from sklearn.discriminant_analysis import LinearDiscriminantAnalysis as Sk

        classes = np.unique(y)
        priors = np.full(len(classes), 1.0 / len(classes)) if self.params.priors == "uniform" else None
        sk = Sk(solver="lsqr", shrinkage=self.params.shrinkage, priors=priors)
        sk.fit(X, y)
        self.coef_, self.intercept_ = _full_rows(n_classes, X.shape[1], sk.classes_, sk.coef_, sk.intercept_)
        return self


__all__ = ["LDA", "LogisticRegression"]
