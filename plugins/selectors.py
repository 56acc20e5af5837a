"""Selector plugins: transformers fitted on training rows, stored as plain arrays."""
from __future__ import annotations

import numpy as np

from ser_framework import Field, Params, Selector, hookimpl

from .autoencoder import Autoencoder


class StandardScaler(Selector):
    """Zero mean, unit variance per column (sklearn.preprocessing.StandardScaler)."""

    name = "standard_scaler"

    def fit(self, X, y):
        from sklearn.preprocessing import StandardScaler as Sk

        sk = Sk().fit(X)
        self.mean_, self.scale_ = sk.mean_.astype(np.float64), sk.scale_.astype(np.float64)
        return self

    def transform(self, X):
        return ((np.asarray(X, dtype=np.float64) - self.mean_) / self.scale_).astype(np.float32)

    def get_state(self):
        return {"mean": self.mean_, "scale": self.scale_}

    def set_state(self, state):
        self.mean_, self.scale_ = np.asarray(state["mean"]), np.asarray(state["scale"])

    @property
    def n_features_in(self):
        return len(self.mean_)


class SelectKBest(Selector):
    """Keep the k columns with the highest ANOVA F score (SelectKBest(f_classif))."""

    name = "select_k_best"
    class Params(Params):
        k: int = Field(300, ge=1, description="columns to keep (capped at the number available)")

    def fit(self, X, y):
        import warnings

        from sklearn.feature_selection import SelectKBest as Sk
        from sklearn.feature_selection import f_classif

        k = min(self.params.k, X.shape[1])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # constant columns
            self.support_ = Sk(f_classif, k=k).fit(X, y).get_support()
        return self

    def transform(self, X):
        return np.asarray(X)[:, self.support_]

    def get_state(self):
        return {"support": self.support_}

    def set_state(self, state):
        self.support_ = np.asarray(state["support"], dtype=bool)

    @property
    def n_features_in(self):
        return len(self.support_)


class Pca(Selector):
    """Project onto the first principal components (sklearn.decomposition.PCA)."""

    name = "pca"
    class Params(Params):
        n_components: int = Field(100, ge=1, description="components kept (capped at what the data allows)")

    def fit(self, X, y):
        from sklearn.decomposition import PCA

        n = min(self.params.n_components, *X.shape)
        pca = PCA(n_components=n, random_state=0).fit(X)
        self.mean_, self.components_ = pca.mean_, pca.components_
        return self

    def transform(self, X):
        return ((np.asarray(X, dtype=np.float64) - self.mean_) @ self.components_.T).astype(np.float32)

    def get_state(self):
        return {"mean": self.mean_, "components": self.components_}

    def set_state(self, state):
        self.mean_, self.components_ = np.asarray(state["mean"]), np.asarray(state["components"])

    @property
    def n_features_in(self):
        return len(self.mean_)


@hookimpl
def register_selectors(register):
    for cls in (StandardScaler, SelectKBest, Pca, Autoencoder):
        register(cls)
