"""A fitted model: the feature pipeline, fitted selectors, a classifier and its labels.

:func:`fit_model` is the one place where training rows become a model; it
applies the balancer, fits every selector and the classifier on training rows
only, and carves the classifier's validation set out by speaker before
balancing, so no copy of a validation or test row is ever trained on.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .evaluation import validation_split
from .extraction import FeaturePipeline


@dataclass
class FittedModel:
    labels: list[str]
    pipeline: FeaturePipeline
    selectors: list  # fitted Selector instances
    classifier: object
    #: a SpeakerNormaliser when trained with per-speaker normalisation, else None
    normaliser: object = None

    def transform(self, X: np.ndarray) -> np.ndarray:
        for selector in self.selectors:
            X = selector.transform(X)
        return X

    def predict_proba_features(self, X: np.ndarray, profile=None) -> np.ndarray:
        """Probabilities (rows × labels) from raw feature rows (``profile``: their speaker's, if known)."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float32))
        if self.normaliser is not None:
            X = self.normaliser.apply(X, profile)
        elif profile is not None:
            from .errors import ProfileError

            raise ProfileError("this model was trained without speaker normalisation, so a profile cannot "
                               "adapt it; use a model trained with speaker_normalisation")
        X = classifier_rows(self.classifier, self.pipeline, self.transform(X))
        return np.asarray(self.classifier.predict_proba(X), dtype=np.float64)


def classifier_rows(classifier, pipeline: FeaturePipeline, X: np.ndarray) -> np.ndarray:
    """Rows as the classifier takes them: unchanged, or frame sequences for a sequence classifier."""
    if getattr(classifier, "input", "pooled") == "sequence":
        return pipeline.classifier_input(X)
    return X


def fit_model(X, y, speakers, labels, config: dict, registry, pipeline: FeaturePipeline,
              seed: int, progress: bool = False, normaliser=None) -> FittedModel:
    """Fit balancer → selectors → classifier on the given training rows.

    ``normaliser``: the :class:`~ser_framework.speaker_norm.SpeakerNormaliser`
    the rows were normalised with (kept in the model for prediction).
    """
    rng = np.random.default_rng(seed)
    classifier = registry.build("classifier", config["classifier"], "classifier")
    fit_idx, val_idx = np.arange(len(y)), None
    if getattr(classifier, "uses_validation", False):
        split = validation_split(speakers, config["evaluation"]["validation_fraction"], seed)
        if split is not None:
            fit_idx, val_idx = split
    X_fit, y_fit = X[fit_idx], y[fit_idx]
    if config.get("balancer"):
        balancer = registry.build("balancer", config["balancer"], "balancer")
        X_fit, y_fit = balancer.resample(X_fit, y_fit, rng)
    selectors = []
    for i, spec in enumerate(config["selectors"]):
        selector = registry.build("selector", spec, f"selectors.{i}")
        selector.fit(X_fit, y_fit)
        X_fit = selector.transform(X_fit)
        selectors.append(selector)
    validation = None
    if val_idx is not None and len(val_idx):
        X_val = X[val_idx]
        for selector in selectors:
            X_val = selector.transform(X_val)
        validation = (classifier_rows(classifier, pipeline, X_val), y[val_idx])
    X_fit = classifier_rows(classifier, pipeline, X_fit)
    classifier.fit(X_fit, y_fit, len(labels), validation=validation, seed=seed, progress=progress)
    return FittedModel(list(labels), pipeline, selectors, classifier, normaliser)
