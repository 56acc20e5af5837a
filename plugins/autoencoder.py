"""The ``autoencoder`` selector: a dense Keras autoencoder's encoder as a feature reduction.

Fitting (on training rows only, like every selector) uses TensorFlow/Keras; the
fitted encoder is kept as plain arrays (its Dense kernels and biases), so
``transform`` at prediction time is a numpy forward pass and never imports
TensorFlow. Put it after ``standard_scaler``: the reconstruction loss treats
every column alike.
"""
from __future__ import annotations

import numpy as np
from pydantic import PositiveInt

from ser_framework import Field, Params, Selector

from .classifiers.keras_mlp import import_keras
from .classifiers.numpy_mlp import NumpyMLP


class Autoencoder(Selector):
    """Dense autoencoder (hidden → code → mirrored hidden, MSE), its encoder run in numpy."""

    name = "autoencoder"

    class Params(Params):
        code_size: int = Field(64, ge=1, description="width of the code (the columns kept)")
        hidden: list[PositiveInt] = Field([256], description="encoder hidden layer widths (the decoder mirrors them)")
        epochs: int = Field(60, ge=1, description="maximum epochs (early stopping on 10% of the training rows)")
        batch_size: int = Field(64, ge=1, description="mini-batch size")
        learning_rate: float = Field(1e-3, ge=1e-7, le=1.0, description="Adam learning rate")
        noise: float = Field(0.1, ge=0.0, le=5.0, description="std of Gaussian input noise while training (denoising)")
        seed: int = Field(0, ge=0, description="seed of weights, shuffling and the early-stopping split")

    def fit(self, X, y):
        tf, keras = import_keras()
        p = self.params
        X = np.asarray(X, dtype=np.float32)
        keras.utils.set_random_seed(p.seed)
        tf.config.experimental.enable_op_determinism()
        encoder = keras.Sequential(
            [keras.Input(shape=(X.shape[1],))]
            + [keras.layers.Dense(h, activation="relu") for h in p.hidden]
            + [keras.layers.Dense(p.code_size, activation="linear")])
        decoder = keras.Sequential(
            [keras.Input(shape=(p.code_size,))]
            + [keras.layers.Dense(h, activation="relu") for h in reversed(p.hidden)]
            + [keras.layers.Dense(X.shape[1], activation="linear")])
        inputs = keras.Input(shape=(X.shape[1],))
        noisy = keras.layers.GaussianNoise(p.noise)(inputs) if p.noise > 0 else inputs
        model = keras.Model(inputs, decoder(encoder(noisy)))
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=p.learning_rate), loss="mse")
        rng = np.random.default_rng(p.seed)
        order = rng.permutation(len(X))
        n_val = len(X) // 10 if len(X) >= 20 else 0
        val, train = order[:n_val], order[n_val:]
        monitor = "val_loss" if n_val else "loss"
        model.fit(X[train], X[train], validation_data=(X[val], X[val]) if n_val else None,
                  epochs=p.epochs, batch_size=p.batch_size, shuffle=True, verbose=0,
                  callbacks=[keras.callbacks.EarlyStopping(monitor=monitor, patience=8, restore_best_weights=True)])
        self._encoder = NumpyMLP.from_keras(encoder)
        return self

    def _layers(self) -> list[dict]:
        return [{"type": "dense", "activation": "relu"} for _ in self.params.hidden] + [
            {"type": "dense", "activation": "linear"}]

    def transform(self, X):
        return self._encoder.predict_proba(X).astype(np.float32)  # the forward pass (no softmax: linear code)

    def get_state(self):
        return dict(self._encoder.arrays)

    def set_state(self, state):
        self._encoder = NumpyMLP(self._layers(), {k: np.asarray(v, dtype=np.float64) for k, v in state.items()})

    @property
    def n_features_in(self):
        return self._encoder.n_inputs


__all__ = ["Autoencoder"]
