"""Classifier plugins: ``keras_mlp`` (the seed MLP), ``logistic_regression``, and the sequence
classifiers ``crnn`` and ``transformer``."""
from __future__ import annotations

from ser_framework import hookimpl

from .crnn import CRNN
from .keras_mlp import KerasMLP
from .linear import LogisticRegression
from .transformer import Transformer


@hookimpl
def register_classifiers(register):
    register(KerasMLP)
    register(LogisticRegression)
    register(CRNN)
    register(Transformer)
