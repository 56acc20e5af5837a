"""All hook specifications of ser-framework.

Each hook hands the plugin a ``register`` callback; the plugin calls it once per
component class it provides. Built-in plugins use exactly these hooks.
"""
from __future__ import annotations

import pluggy

PROJECT = "ser_framework"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_datasets(register):
    """Register dataset classes: ``register(MyDataset)``."""


@hookspec
def register_features(register):
    """Register feature extractor classes: ``register(MyExtractor)``."""


@hookspec
def register_balancers(register):
    """Register balancer classes (resampling applied to training data only)."""


@hookspec
def register_selectors(register):
    """Register selector classes (transformers fitted on training data: scalers, SelectKBest, PCA)."""


@hookspec
def register_classifiers(register):
    """Register classifier classes."""


@hookspec
def register_augmenters(register):
    """Register augmenter classes (audio transforms for training copies and evaluation conditions)."""
