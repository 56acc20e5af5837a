"""Classifier plugins: ``keras_mlp`` (the seed MLP) and ``logistic_regression``."""
from __future__ import annotations

from ser_framework import hookimpl

from .keras_mlp import KerasMLP
from .linear import LogisticRegression


@hookimpl
def register_classifiers(register):
    register(KerasMLP)
    register(LogisticRegression)
