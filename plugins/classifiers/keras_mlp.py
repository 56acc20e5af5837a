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

from ser_framework import Param
from ser_framework.components import Classifier
from ser_framework.mlp import NumpyMLP

KERAS_FILE = "model.keras"


def import_keras():
    """Import Keras quietly with deterministic CPU ops."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import tensorflow as tf  # noqa: F401
    import keras

    tf.get_logger().setLevel("ERROR")
    return tf, keras


class KerasMLP(Classifier):
    """Dense(512)-BN-Dropout-Dense(256)-BN-Dropout-Dense(112)-Dropout-softmax, Adam, class weights."""

    name = "keras_mlp"
    uses_validation = True
    params = {
        "units": Param(list, [512, 256, 112], "width of each hidden layer", item=int, min=1, min_items=1),
        "dropout": Param(list, [0.4, 0.3, 0.2], "dropout after each hidden layer", item=float, min=0.0, max=0.95),
        "batch_norm": Param(list, [True, True, False], "batch normalisation after each hidden layer", item=bool),
        "l2": Param(float, 0.001, "L2 penalty on hidden-layer kernels", min=0.0),
        "learning_rate": Param(float, 5e-4, "Adam learning rate", min=1e-7, max=1.0),
        "epochs": Param(int, 60, "maximum epochs", min=1),
        "batch_size": Param(int, 32, "mini-batch size", min=1),
        "early_stopping_patience": Param(int, 20, "epochs without improvement before stopping", min=1),
        "reduce_lr_factor": Param(float, 0.2, "ReduceLROnPlateau factor", min=0.01, max=0.99),
        "reduce_lr_patience": Param(int, 10, "ReduceLROnPlateau patience (epochs)", min=1),
        "class_weight": Param(bool, True, "weight classes with sklearn's compute_class_weight('balanced')"),
    }

    def __init__(self, **params):
        super().__init__(**params)
        self.model = None
        self.mlp: NumpyMLP | None = None
        self.history_: dict = {}

    def _check_layers(self):
        from ser_framework.errors import ConfigError

        n = len(self.config["units"])
        bad = [k for k in ("dropout", "batch_norm") if len(self.config[k]) != n]
        if bad:
            raise ConfigError([(f"classifier.params.{k}", f"needs {n} values, one per hidden layer") for k in bad])

    def build(self, n_inputs: int, n_classes: int):
        _, keras = import_keras()
        self._check_layers()
        reg = keras.regularizers.l2(self.config["l2"]) if self.config["l2"] > 0 else None
        layers = [keras.Input(shape=(n_inputs,))]
        for units, drop, bn in zip(self.config["units"], self.config["dropout"], self.config["batch_norm"]):
            layers.append(keras.layers.Dense(units, activation="relu", kernel_regularizer=reg))
            if bn:
                layers.append(keras.layers.BatchNormalization())
            if drop > 0:
                layers.append(keras.layers.Dropout(drop))
        layers.append(keras.layers.Dense(n_classes, activation="softmax"))
        model = keras.Sequential(layers)
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=self.config["learning_rate"]),
            loss="categorical_crossentropy",
            metrics=["accuracy"],
        )
        return model

    def fit(self, X, y, n_classes, validation=None, seed=0, progress=False):
        tf, keras = import_keras()
        from sklearn.utils.class_weight import compute_class_weight

        keras.utils.set_random_seed(seed)
        tf.config.experimental.enable_op_determinism()
        model = self.build(X.shape[1], n_classes)
        Y = keras.utils.to_categorical(y, n_classes)
        monitor = "val_loss" if validation is not None else "loss"
        callbacks = [
            keras.callbacks.EarlyStopping(monitor=monitor, patience=self.config["early_stopping_patience"],
                                          restore_best_weights=True),
            keras.callbacks.ReduceLROnPlateau(monitor=monitor, factor=self.config["reduce_lr_factor"],
                                              patience=self.config["reduce_lr_patience"]),
        ]
        if progress:
            callbacks.append(_TqdmEpochs(keras, self.config["epochs"]))
        class_weight = None
        if self.config["class_weight"]:
            present = np.unique(y)
            weights = compute_class_weight("balanced", classes=present, y=y)
            class_weight = {int(c): float(w) for c, w in zip(present, weights)}
        val = None
        if validation is not None:
            val = (validation[0], keras.utils.to_categorical(validation[1], n_classes))
        hist = model.fit(
            X, Y, validation_data=val, epochs=self.config["epochs"], batch_size=self.config["batch_size"],
            class_weight=class_weight, callbacks=callbacks, verbose=0, shuffle=True,
        )
        self.history_ = {k: [float(v) for v in vals] for k, vals in hist.history.items()}
        self.model = model
        self.mlp = NumpyMLP.from_keras(model)
        return self

    def predict_proba(self, X):
        return self.mlp.predict_proba(X)

    def keras_predict_proba(self, X):
        """Probabilities from the Keras model itself (for checking the numpy path)."""
        return self.model.predict(np.asarray(X, dtype=np.float32), verbose=0)

    def save(self, directory):
        directory = Path(directory)
        self.model.save(directory / KERAS_FILE)
        return [KERAS_FILE, *self.mlp.save(directory)]

    @classmethod
    def load(cls, directory, params):
        obj = cls(**params)
        obj.mlp = NumpyMLP.load(directory)
        return obj

    def load_keras(self, directory):
        """Load ``model.keras`` with Keras's safe mode (imports TensorFlow)."""
        _, keras = import_keras()
        self.model = keras.models.load_model(Path(directory) / KERAS_FILE, safe_mode=True, compile=False)
        return self.model


class _TqdmEpochs:
    """A Keras callback drawing a tqdm bar over epochs (built lazily to keep imports light)."""

    def __new__(cls, keras, epochs):
        from tqdm.auto import tqdm

        class Bar(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.bar = tqdm(total=epochs, desc="training", unit="epoch", leave=False)

            def on_epoch_end(self, epoch, logs=None):
                logs = logs or {}
                self.bar.set_postfix({k: f"{v:.3f}" for k, v in logs.items() if k in ("loss", "val_loss")})
                self.bar.update(1)

            def on_train_end(self, logs=None):
                self.bar.close()

        return Bar()


__all__ = ["KerasMLP", "import_keras", "KERAS_FILE"]
