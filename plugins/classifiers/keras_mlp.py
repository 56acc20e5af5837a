"""The seed pipeline's Keras MLP: 512-256-112 with L2, batch norm and dropout.

Training uses TensorFlow/Keras. A saved model is stored twice, both safe to
load: ``model.keras`` (for Keras users, loaded with ``safe_mode=True``) and
``mlp.npz`` + ``mlp.json`` (weights and layer list) which prediction runs with
a numpy forward pass, so predicting never imports TensorFlow.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from pydantic import field_validator

from ser_framework import Classifier, Field, Params

from .numpy_mlp import NumpyMLP

KERAS_FILE = "model.keras"
#: TensorFlow's environment: quiet logs, deterministic CPU ops (set before it is imported)
TF_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0", "KERAS_BACKEND": "tensorflow"}


def import_keras():
    """Import TensorFlow and Keras quietly with deterministic CPU ops: the one place that does."""
    for key, value in TF_ENV.items():
        os.environ.setdefault(key, value)
    import keras
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    return tf, keras


class KerasMLP(Classifier):
    """Dense(512)-BN-Dropout-Dense(256)-BN-Dropout-Dense(112)-Dropout-softmax, Adam, class weights."""

    name = "keras_mlp"
    uses_validation = True

    class Params(Params):
        units: list[int] = Field([512, 256, 112], min_length=1, description="width of each hidden layer")
        dropout: list[float] = Field([0.4, 0.3, 0.2], description="dropout after each hidden layer")
        batch_norm: list[bool] = Field([True, True, False],
                                       description="batch normalisation after each hidden layer")
        l2: float = Field(0.001, ge=0.0, description="L2 penalty on hidden-layer kernels")
        learning_rate: float = Field(5e-4, ge=1e-7, le=1.0, description="Adam learning rate")
        epochs: int = Field(60, ge=1, description="maximum epochs")
        batch_size: int = Field(32, ge=1, description="mini-batch size")
        early_stopping_patience: int = Field(20, ge=1, description="epochs without improvement before stopping")
        reduce_lr_factor: float = Field(0.2, ge=0.01, le=0.99, description="ReduceLROnPlateau factor")
        reduce_lr_patience: int = Field(10, ge=1, description="ReduceLROnPlateau patience (epochs)")
        class_weight: bool = Field(True, description="weight classes with sklearn's compute_class_weight('balanced')")

        @field_validator("units")
        @classmethod
        def _positive(cls, units):
            if any(u < 1 for u in units):
                raise ValueError("every layer needs at least 1 unit")
            return units

        @field_validator("dropout", "batch_norm")
        @classmethod
        def _one_per_layer(cls, value, info):
            units = info.data.get("units")
            if units is not None and len(value) != len(units):
                n = len(units)
                raise ValueError(f"needs {n} value{'s' if n != 1 else ''}, one per hidden layer (units has {n})")
            if info.field_name == "dropout" and any(not 0.0 <= d <= 0.95 for d in value):
                raise ValueError("every dropout rate must be between 0 and 0.95")
            return value

    def __init__(self, params=None):
        super().__init__(params)
        self.model = None
        self.mlp: NumpyMLP | None = None

    def build(self, n_inputs: int, n_classes: int):
        _, keras = import_keras()
        p = self.params
        reg = keras.regularizers.l2(p.l2) if p.l2 > 0 else None
        layers = [keras.Input(shape=(n_inputs,))]
        for units, drop, bn in zip(p.units, p.dropout, p.batch_norm):
            layers.append(keras.layers.Dense(units, activation="relu", kernel_regularizer=reg))
            if bn:
                layers.append(keras.layers.BatchNormalization())
            if drop > 0:
                layers.append(keras.layers.Dropout(drop))
        layers.append(keras.layers.Dense(n_classes, activation="softmax"))
        model = keras.Sequential(layers)
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=p.learning_rate),
            loss="categorical_crossentropy",
            metrics=["accuracy"],
        )
        return model

    def fit(self, X, y, n_classes, validation=None, seed=0, progress=False):
        tf, keras = import_keras()
        from sklearn.utils.class_weight import compute_class_weight

        p = self.params
        keras.utils.set_random_seed(seed)
        tf.config.experimental.enable_op_determinism()
        model = self.build(X.shape[1], n_classes)
        Y = keras.utils.to_categorical(y, n_classes)
        monitor = "val_loss" if validation is not None else "loss"
        callbacks = [
            keras.callbacks.EarlyStopping(monitor=monitor, patience=p.early_stopping_patience,
                                          restore_best_weights=True),
            keras.callbacks.ReduceLROnPlateau(monitor=monitor, factor=p.reduce_lr_factor,
                                              patience=p.reduce_lr_patience),
        ]
        if progress:
            from tqdm.keras import TqdmCallback

            callbacks.append(TqdmCallback(verbose=0, leave=False, desc="training"))
        class_weight = None
        if p.class_weight:
            present = np.unique(y)
            weights = compute_class_weight("balanced", classes=present, y=y)
            class_weight = {int(c): float(w) for c, w in zip(present, weights)}
        val = None
        if validation is not None:
            val = (validation[0], keras.utils.to_categorical(validation[1], n_classes))
        model.fit(
            X, Y, validation_data=val, epochs=p.epochs, batch_size=p.batch_size,
            class_weight=class_weight, callbacks=callbacks, verbose=0, shuffle=True,
        )
        self.model = model
        self.mlp = NumpyMLP.from_keras(model)
        return self

    def predict_proba(self, X):
        return self.mlp.predict_proba(X)

    def save(self, directory):
        directory = Path(directory)
        self.model.save(directory / KERAS_FILE)
        return [KERAS_FILE, *self.mlp.save(directory)]

    @classmethod
    def load(cls, directory, params):
        obj = cls(params)
        obj.mlp = NumpyMLP.load(directory)
        return obj

    def load_keras(self, directory):
        """Load ``model.keras`` with Keras's safe mode (imports TensorFlow)."""
        _, keras = import_keras()
        self.model = keras.models.load_model(Path(directory) / KERAS_FILE, safe_mode=True, compile=False)
        return self.model


__all__ = ["KerasMLP", "import_keras", "KERAS_FILE"]
