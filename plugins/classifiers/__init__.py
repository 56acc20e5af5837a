"""Classifier plugins: ``keras_mlp`` (the seed MLP), ``logistic_regression``, ``lda``, and the sequence
classifiers ``crnn`` and ``transformer``."""
from __future__ import annotations

from ser_framework import hookimpl

from .crnn import CRNN
from .keras_mlp import KerasMLP
from .linear import LDA, LogisticRegression
from .transformer import Transformer


@hookimpl
def register_classifiers(register):
    register(KerasMLP)
    register(LogisticRegression)
    register(LDA)
    register(CRNN)
    register(Transformer)
