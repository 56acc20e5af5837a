"""What the Keras sequence classifiers (``crnn``, ``transformer``) share: input, training, storage.

Input: rows × frames × channels from a sequence extractor, the last channel the mask
(1 for a frame, 0 for padding). Each channel is standardised with the mean and std
of the training rows' real frames; padded frames are set to 0.

Training (TensorFlow/Keras, seeded and deterministic on CPU): Adam on the
cross-entropy with class weights (``compute_class_weight("balanced")``) as sample
weights, SpecAugment-style masking drawn afresh for every batch (``time_masks``
stretches of up to ``time_mask_width`` frames and ``freq_masks`` bands of up to
``freq_mask_width`` channels set to 0, the channel mean), and early stopping with the
best weights restored. The framework holds speakers out of the training rows for
that (``evaluation.validation_fraction``); without them it watches the training loss.

Storage: the weights and the standardisation in ``sequence.npz`` (loaded with
``allow_pickle=False``) and the architecture in ``sequence.json``. Prediction runs
the network in numpy (:mod:`.numpy_layers`), so it never imports TensorFlow.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ser_framework import BundleError, Classifier, Field, Params

from .keras_mlp import import_keras

WEIGHTS_FILE = "sequence.npz"
ARCH_FILE = "sequence.json"
#: rows per numpy forward pass (bounds the memory of the convolution windows)
PREDICT_BATCH = 32


class SequenceTrainingParams(Params):
    learning_rate: float = Field(1e-3, ge=1e-6, le=1.0, description="Adam learning rate")
    epochs: int = Field(40, ge=1, description="maximum epochs")
    batch_size: int = Field(32, ge=1, description="mini-batch size")
    early_stopping_patience: int = Field(8, ge=1, description="epochs without improvement before stopping")
    dropout: float = Field(0.3, ge=0.0, le=0.9, description="dropout rate")
    time_masks: int = Field(2, ge=0, description="SpecAugment: time stretches masked per training example")
    time_mask_width: int = Field(20, ge=1, description="SpecAugment: longest masked stretch (frames)")
    freq_masks: int = Field(2, ge=0, description="SpecAugment: channel bands masked per training example")
    freq_mask_width: int = Field(8, ge=1, description="SpecAugment: widest masked band (channels)")
    class_weight: bool = Field(True, description="weight classes with sklearn's compute_class_weight('balanced')")


def split_mask(X) -> tuple[np.ndarray, np.ndarray]:
    """``(frames, mask)`` of rows × frames × channels, the mask being the last channel."""
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 3 or X.shape[2] < 2:
        raise ValueError(f"a sequence classifier takes rows × frames × channels (mask last), got shape {X.shape}")
    return X[..., :-1], (X[..., -1] > 0.5).astype(np.float32)


def spec_augment(F: np.ndarray, p, rng: np.random.Generator) -> np.ndarray:
    """A copy of the standardised frames ``F`` (rows × frames × channels) with random time and channel bands zeroed."""
    F = F.copy()
    n, T, D = F.shape
    for i in range(n):
        for _ in range(p.time_masks):
            w = int(rng.integers(0, min(p.time_mask_width, T) + 1))
            t0 = int(rng.integers(0, T - w + 1))
            F[i, t0:t0 + w] = 0.0
        for _ in range(p.freq_masks):
            w = int(rng.integers(0, min(p.freq_mask_width, D) + 1))
            f0 = int(rng.integers(0, D - w + 1))
            F[i, :, f0:f0 + w] = 0.0
    return F


def pooled_mask(keras, mask, size: int):
    """The mask after time pooling by ``size``: a pooled frame is real if any of its frames is."""
    L = keras.layers
    T = mask.shape[1]
    m = L.Reshape((T, 1))(mask)
    m = L.MaxPooling1D(size)(m)
    return L.Reshape((T // size,))(m)


def attention_pooling(keras, h, mask):
    """Softmax over the unmasked frames of a linear score (layer ``attention``); the weighted mean of ``h``."""
    ops = keras.ops
    scores = ops.squeeze(keras.layers.Dense(1, name="attention")(h), -1)
    scores = ops.where(mask > 0, scores, -1e9)
    weights = ops.softmax(scores, axis=1)
    return ops.sum(h * ops.expand_dims(weights, -1), axis=1)


def _batches(keras, F, M, Y, W, p, seed: int):
    """A ``keras.utils.PyDataset`` of SpecAugmented, shuffled, weighted batches (seeded)."""

    class Batches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.rng = np.random.default_rng(seed)
            self.order = self.rng.permutation(len(Y))

        def __len__(self):
            return int(np.ceil(len(Y) / p.batch_size))

        def __getitem__(self, i):
            idx = self.order[i * p.batch_size:(i + 1) * p.batch_size]
            return (spec_augment(F[idx], p, self.rng), M[idx]), Y[idx], W[idx]

        def on_epoch_end(self):
            self.order = self.rng.permutation(len(Y))

    return Batches()


class SequenceClassifier(Classifier):
    """Base of the Keras sequence classifiers: subclasses build the network and run it in numpy."""

    input = "sequence"
    uses_validation = True
    #: the architecture's name in ``sequence.json``
    architecture = ""

    def __init__(self, params=None):
        super().__init__(params)
        self.arrays: dict[str, np.ndarray] = {}
        self.shape: dict = {}
        self.keras_model = None  # the trained Keras model (kept after fit; bundles store arrays only)

    # --- to be provided by each architecture ---------------------------------------------
    def build_keras(self, keras, frames: int, channels: int, n_classes: int):  # pragma: no cover - interface
        """The Keras model taking ``[frames, mask]``; layers named as :meth:`export` expects."""
        raise NotImplementedError

    def export(self, model) -> dict[str, np.ndarray]:  # pragma: no cover - interface
        """The trained weights as named float32 arrays for :meth:`forward`."""
        raise NotImplementedError

    def forward(self, F: np.ndarray, M: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        """Probabilities from standardised frames and the mask, in numpy."""
        raise NotImplementedError

    # --- shared ---------------------------------------------------------------------------
    def standardise(self, F: np.ndarray, M: np.ndarray) -> np.ndarray:
        return ((F - self.arrays["norm_mean"]) / self.arrays["norm_std"] * M[..., None]).astype(np.float32)

    def fit(self, X, y, n_classes, validation=None, seed=0, progress=False):
        tf, keras = import_keras()
        from sklearn.utils.class_weight import compute_class_weight

        p = self.params
        F, M = split_mask(X)
        real = F[M > 0]
        self.arrays = {"norm_mean": real.mean(axis=0).astype(np.float32),
                       "norm_std": (real.std(axis=0) + 1e-6).astype(np.float32)}
        F = self.standardise(F, M)
        keras.utils.set_random_seed(seed)
        tf.config.experimental.enable_op_determinism()
        _, T, D = F.shape
        problems = self.check_input((T, D))  # what `ser validate` reports for a config
        if problems:
            raise ValueError("; ".join(f"{param}: {message}" for param, message in problems))
        model = self.build_keras(keras, T, D, n_classes)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=p.learning_rate),
                      loss="categorical_crossentropy")
        W = np.ones(len(y), dtype=np.float32)
        if p.class_weight:
            present = np.unique(y)
            weights = compute_class_weight("balanced", classes=present, y=y)
            W = weights[np.searchsorted(present, y)].astype(np.float32)
        Y = keras.utils.to_categorical(y, n_classes)
        val = None
        if validation is not None:
            Fv, Mv = split_mask(validation[0])
            val = ((self.standardise(Fv, Mv), Mv), keras.utils.to_categorical(validation[1], n_classes))
        callbacks = [keras.callbacks.EarlyStopping(monitor="val_loss" if val else "loss",
                                                   patience=p.early_stopping_patience, restore_best_weights=True)]
        if progress:
            from tqdm.keras import TqdmCallback

            callbacks.append(TqdmCallback(verbose=0, leave=False, desc=f"training {self.name}"))
        model.fit(_batches(keras, F, M, Y, W, p, seed), validation_data=val, epochs=p.epochs,
                  callbacks=callbacks, verbose=0)
        self.keras_model = model
        self.arrays.update(self.export(model))
        self.shape = {"architecture": self.architecture, "frames": int(T), "channels": int(D),
                      "n_classes": int(n_classes)}
        return self

    def predict_proba(self, X):
        F, M = split_mask(X)
        if F.shape[1:] != (self.shape["frames"], self.shape["channels"]):
            raise BundleError(f"the {self.name} model takes {self.shape['frames']} frames × "
                              f"{self.shape['channels']} channels, got {F.shape[1]} × {F.shape[2]}")
        try:
            F = self.standardise(F, M)
            out = [self.forward(F[i:i + PREDICT_BATCH], M[i:i + PREDICT_BATCH]) for i in range(0, len(F), PREDICT_BATCH)]
        except KeyError as exc:
            raise BundleError(f"the {self.name} weights lack the array {exc}") from None
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, self.shape["n_classes"]), np.float32)

    def predict_proba_keras(self, X):
        """The Keras model's own probabilities (imports TensorFlow): what the numpy pass must equal."""
        F, M = split_mask(X)
        return np.asarray(self.keras_model.predict((self.standardise(F, M), M), verbose=0))

    def save(self, directory):
        directory = Path(directory)
        np.savez(directory / WEIGHTS_FILE, **self.arrays)
        (directory / ARCH_FILE).write_text(json.dumps(self.shape, indent=1))
        return [WEIGHTS_FILE, ARCH_FILE]

    @classmethod
    def load(cls, directory, params):
        directory = Path(directory)
        obj = cls(params)
        try:
            obj.shape = json.loads((directory / ARCH_FILE).read_text())
            with np.load(directory / WEIGHTS_FILE, allow_pickle=False) as data:
                obj.arrays = {k: data[k] for k in data.files}
        except (OSError, ValueError) as exc:
            raise BundleError(f"cannot read the {cls.name} weights in {directory}: {exc}") from None
        if not isinstance(obj.shape, dict) or obj.shape.get("architecture") != cls.architecture:
            raise BundleError(f"{directory}/{ARCH_FILE} does not describe a {cls.name} model")
        return obj
