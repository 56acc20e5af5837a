"""A numpy forward pass for small Keras MLPs (Dense, BatchNormalization, Dropout).

Prediction with it needs neither TensorFlow nor Keras. Weights live in an
``.npz`` loaded with ``allow_pickle=False`` and the layer list in JSON.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ser_framework import BundleError

WEIGHTS_FILE = "mlp.npz"
LAYERS_FILE = "mlp.json"
_ACTIVATIONS = ("linear", "relu", "softmax")


def _activate(x: np.ndarray, name: str) -> np.ndarray:
    if name == "relu":
        return np.maximum(x, 0.0)
    if name == "softmax":
        x = x - x.max(axis=1, keepdims=True)
        e = np.exp(x)
        return e / e.sum(axis=1, keepdims=True)
    return x


class NumpyMLP:
    """A list of ``("dense", activation)`` / ``("batchnorm", eps)`` layers with their arrays."""

    def __init__(self, layers: list[dict], arrays: dict[str, np.ndarray]):
        self.layers = layers
        self.arrays = arrays
        self._check()

    def _check(self):
        for i, layer in enumerate(self.layers):
            need = ("kernel", "bias") if layer["type"] == "dense" else ("scale", "shift")
            for n in need:
                if f"{i}_{n}" not in self.arrays:
                    raise BundleError(f"MLP weights lack array {i}_{n}")
            if layer["type"] == "dense" and layer.get("activation") not in _ACTIVATIONS:
                raise BundleError(f"unsupported activation {layer.get('activation')!r}")

    @property
    def n_inputs(self) -> int:
        return int(self.arrays["0_kernel"].shape[0])

    @classmethod
    def from_keras(cls, model) -> NumpyMLP:
        layers, arrays = [], {}
        for layer in model.layers:
            kind = type(layer).__name__
            i = len(layers)
            if kind == "Dense":
                kernel, bias = (np.asarray(w, dtype=np.float64) for w in layer.get_weights())
                act = layer.get_config()["activation"]
                if act not in _ACTIVATIONS:
                    raise BundleError(f"activation {act!r} has no numpy implementation")
                layers.append({"type": "dense", "activation": act})
                arrays[f"{i}_kernel"], arrays[f"{i}_bias"] = kernel, bias
            elif kind == "BatchNormalization":
                gamma, beta, mean, var = (np.asarray(w, dtype=np.float64) for w in layer.get_weights())
                scale = gamma / np.sqrt(var + layer.epsilon)
                layers.append({"type": "batchnorm"})
                arrays[f"{i}_scale"], arrays[f"{i}_shift"] = scale, beta - mean * scale
            elif kind in ("Dropout", "InputLayer"):
                continue
            else:
                raise BundleError(f"layer type {kind} has no numpy implementation")
        return cls(layers, arrays)

    def predict_proba(self, X) -> np.ndarray:
        x = np.asarray(X, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_inputs:
            raise BundleError(f"the model expects {self.n_inputs} features per row, got shape {x.shape}")
        for i, layer in enumerate(self.layers):
            if layer["type"] == "dense":
                x = _activate(x @ self.arrays[f"{i}_kernel"] + self.arrays[f"{i}_bias"], layer["activation"])
            else:
                x = x * self.arrays[f"{i}_scale"] + self.arrays[f"{i}_shift"]
        return x

    def save(self, directory) -> list[str]:
        directory = Path(directory)
        np.savez(directory / WEIGHTS_FILE, **self.arrays)
        (directory / LAYERS_FILE).write_text(json.dumps({"layers": self.layers}, indent=1))
        return [WEIGHTS_FILE, LAYERS_FILE]

    @classmethod
    def load(cls, directory) -> NumpyMLP:
        directory = Path(directory)
        try:
            layers = json.loads((directory / LAYERS_FILE).read_text())["layers"]
            with np.load(directory / WEIGHTS_FILE, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except (OSError, ValueError, KeyError) as exc:
            raise BundleError(f"cannot read MLP weights in {directory}: {exc}") from None
        return cls(layers, arrays)
