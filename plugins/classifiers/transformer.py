"""Sequence classifier ``transformer``: a small transformer encoder with attention pooling.

A 1-D convolution (kernel 3, ReLU) maps each frame to ``d_model`` values, max pooling
by ``pool`` shortens the sequence, a learned position embedding is added, then
``layers`` post-norm encoder blocks (multi-head self-attention over the real frames
only, a ReLU feed-forward layer, residuals and layer normalisation) and attention
pooling over the real frames feed a softmax layer. Trained in Keras (see
:mod:`.sequence`), run in numpy at prediction.
"""
from __future__ import annotations

import numpy as np
from pydantic import model_validator

from ser_framework import Field

from . import numpy_layers as nl
from .sequence import SequenceClassifier, SequenceTrainingParams, attention_pooling, pooled_mask


def _position_layer(keras):
    """A layer adding a learned embedding per position (weights ``positions``: frames × d_model)."""

    class AddPosition(keras.layers.Layer):
        def build(self, input_shape):
            self.positions = self.add_weight(shape=tuple(input_shape[1:]), initializer="zeros", name="positions")

        def call(self, x):
            return x + self.positions

    return AddPosition(name="position")


class Transformer(SequenceClassifier):
    """Conv front end → pooling → position embedding → transformer encoder blocks → attention pooling → softmax."""

    name = "transformer"
    architecture = "transformer"

    class Params(SequenceTrainingParams):
        d_model: int = Field(64, ge=8, le=512, description="width of the encoder")
        heads: int = Field(4, ge=1, le=16, description="attention heads (d_model must be a multiple)")
        layers: int = Field(2, ge=1, le=8, description="encoder blocks")
        ff_units: int = Field(128, ge=8, le=2048, description="units of each block's feed-forward layer")
        pool: int = Field(2, ge=1, le=16, description="max pooling of the frames before the encoder")
        dropout: float = Field(0.1, ge=0.0, le=0.9, description="dropout rate")
        learning_rate: float = Field(5e-4, ge=1e-6, le=1.0, description="Adam learning rate")

        @model_validator(mode="after")
        def _heads_divide(self):
            if self.d_model % self.heads:
                raise ValueError(f"d_model ({self.d_model}) must be a multiple of heads ({self.heads})")
            return self

    def check_input(self, shape):
        frames = shape[0]
        if frames < self.params.pool:
            return [("pool", f"pooling by {self.params.pool} needs at least {self.params.pool} frames; "
                             f"the features give {frames}")]
        return []

    def build_keras(self, keras, frames, channels, n_classes):
        L, p, ops = keras.layers, self.params, keras.ops
        F, M = keras.Input((frames, channels), name="frames"), keras.Input((frames,), name="mask")
        x = L.Conv1D(p.d_model, 3, padding="same", activation="relu", name="embed")(F)
        x = _position_layer(keras)(L.MaxPooling1D(p.pool)(x))
        m = pooled_mask(keras, M, p.pool)
        t = frames // p.pool
        keys = ops.repeat(ops.expand_dims(m > 0, 1), t, axis=1)  # every query sees the real frames only
        for i in range(p.layers):
            a = L.MultiHeadAttention(p.heads, p.d_model // p.heads, name=f"attention{i}")(x, x, attention_mask=keys)
            x = L.LayerNormalization(name=f"norm{i}a")(L.Add()([x, L.Dropout(p.dropout)(a)]))
            f = L.Dense(p.ff_units, activation="relu", name=f"ff{i}a")(x)
            f = L.Dense(p.d_model, name=f"ff{i}b")(f)
            x = L.LayerNormalization(name=f"norm{i}b")(L.Add()([x, L.Dropout(p.dropout)(f)]))
        pooled = attention_pooling(keras, x, m)
        out = L.Dense(n_classes, activation="softmax", name="output")(L.Dropout(p.dropout)(pooled))
        return keras.Model([F, M], out)

    def export(self, model):
        arrays = {}
        arrays["embed_kernel"], arrays["embed_bias"] = model.get_layer("embed").get_weights()
        arrays["positions"] = model.get_layer("position").get_weights()[0]
        for i in range(self.params.layers):
            for j, w in enumerate(model.get_layer(f"attention{i}").get_weights()):
                arrays[f"attention{i}_{j}"] = w
            for name in (f"norm{i}a", f"norm{i}b", f"ff{i}a", f"ff{i}b"):
                arrays[f"{name}_0"], arrays[f"{name}_1"] = model.get_layer(name).get_weights()
            arrays["norm_epsilon"] = np.float32(model.get_layer(f"norm{i}a").epsilon)
        arrays["attention_kernel"], arrays["attention_bias"] = model.get_layer("attention").get_weights()
        arrays["output_kernel"], arrays["output_bias"] = model.get_layer("output").get_weights()
        return {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}

    def forward(self, F, M):
        a, p = self.arrays, self.params
        eps = float(a["norm_epsilon"])
        x = np.maximum(nl.conv1d_same(F, a["embed_kernel"], a["embed_bias"]), 0.0)
        x = nl.max_pool(x, p.pool, axes=(1,)) + a["positions"]
        m = nl.max_pool(M, p.pool, axes=(1,))
        for i in range(p.layers):
            att = nl.multi_head_attention(x, m, [a[f"attention{i}_{j}"] for j in range(8)])
            x = nl.layer_norm(x + att, a[f"norm{i}a_0"], a[f"norm{i}a_1"], eps)
            f = np.maximum(x @ a[f"ff{i}a_0"] + a[f"ff{i}a_1"], 0.0) @ a[f"ff{i}b_0"] + a[f"ff{i}b_1"]
            x = nl.layer_norm(x + f, a[f"norm{i}b_0"], a[f"norm{i}b_1"], eps)
        pooled = nl.attention_pool(x, m, a["attention_kernel"], a["attention_bias"])
        return nl.softmax(pooled @ a["output_kernel"] + a["output_bias"])


__all__ = ["Transformer"]
