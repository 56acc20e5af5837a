"""Sequence classifier ``crnn``: convolution blocks → bidirectional GRU → attention pooling.

Each block is a 3×3 convolution (no bias), batch normalisation, ReLU and 2×2 max
pooling, so frames and channels shrink by 2 per block; the GRU reads the pooled
frames both ways, an attention layer weights its outputs over the real frames (the
mask pooled alongside), and a softmax layer gives the probabilities. Trained in
Keras (see :mod:`.sequence`), run in numpy at prediction.

With ``side_channels`` N > 0 the last N channels before the mask (for example the four
prosody channels of ``log_mel_frames`` with ``prosody: true``) do not go through the
convolutions, which treat channels as neighbouring frequency bands: they are averaged over
the frames each GRU step covers and joined to the GRU's input.
"""
from __future__ import annotations

import numpy as np

from ser_framework import Field

from . import numpy_layers as nl
from .sequence import SequenceClassifier, SequenceTrainingParams, attention_pooling, pooled_mask


class CRNN(SequenceClassifier):
    """Conv blocks (3×3, BN, ReLU, 2×2 pool) → bidirectional GRU → attention pooling → softmax."""

    name = "crnn"
    architecture = "crnn"

    class Params(SequenceTrainingParams):
        conv_filters: list[int] = Field([8, 16], min_length=1, max_length=4,
                                        description="filters of each convolution block (each halves frames and channels)")
        gru_units: int = Field(32, ge=4, le=512, description="GRU units per direction")
        side_channels: int = Field(0, ge=0, le=64, description="the last N channels before the mask go around "
                                   "the convolutions, averaged per GRU step and joined to its input (e.g. 4 for "
                                   "log_mel_frames' prosody channels)")

    @property
    def pool(self) -> int:
        return 2 ** len(self.params.conv_filters)

    def check_input(self, shape):
        frames, channels = shape
        p, blocks = self.params, len(self.params.conv_filters)
        if frames < self.pool:
            return [("conv_filters", f"{blocks} convolution blocks need at least {self.pool} frames; "
                                     f"the features give {frames}")]
        if channels - p.side_channels < self.pool:
            return [("side_channels", f"{p.side_channels} side channels and {blocks} convolution blocks need at "
                                      f"least {p.side_channels + self.pool} channels; the features give {channels}")]
        return []

    def build_keras(self, keras, frames, channels, n_classes):
        L, p = keras.layers, self.params
        spectral = channels - p.side_channels
        F, M = keras.Input((frames, channels), name="frames"), keras.Input((frames,), name="mask")
        x = L.Reshape((frames, spectral, 1))(F[:, :, :spectral] if p.side_channels else F)
        for i, filters in enumerate(p.conv_filters):
            x = L.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv{i}")(x)
            x = L.BatchNormalization(name=f"bn{i}")(x)
            x = L.MaxPooling2D(2)(L.ReLU()(x))
        t, d, c = x.shape[1:]
        x = L.Reshape((t, d * c))(x)
        if p.side_channels:
            side = L.AveragePooling1D(self.pool)(F[:, :, spectral:])
            x = L.Concatenate()([x, side])
        x = L.Dropout(p.dropout)(x)
        x = L.Bidirectional(L.GRU(p.gru_units, return_sequences=True), name="gru")(x)
        pooled = attention_pooling(keras, x, pooled_mask(keras, M, self.pool))
        out = L.Dense(n_classes, activation="softmax", name="output")(L.Dropout(p.dropout)(pooled))
        return keras.Model([F, M], out)

    def export(self, model):
        arrays = {}
        for i in range(len(self.params.conv_filters)):
            arrays[f"conv{i}"] = model.get_layer(f"conv{i}").get_weights()[0]
            gamma, beta, mean, var = model.get_layer(f"bn{i}").get_weights()
            scale = gamma / np.sqrt(var + model.get_layer(f"bn{i}").epsilon)
            arrays[f"bn{i}_scale"], arrays[f"bn{i}_shift"] = scale, beta - mean * scale
        names = ("kernel", "recurrent", "bias")
        weights = model.get_layer("gru").get_weights()  # forward kernel, recurrent, bias; then backward
        arrays.update({f"gru_fw_{n}": w for n, w in zip(names, weights[:3])})
        arrays.update({f"gru_bw_{n}": w for n, w in zip(names, weights[3:])})
        arrays["attention_kernel"], arrays["attention_bias"] = model.get_layer("attention").get_weights()
        arrays["output_kernel"], arrays["output_bias"] = model.get_layer("output").get_weights()
        return {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}

    def forward(self, F, M):
        a, side = self.arrays, self.params.side_channels
        spectral = F.shape[2] - side
        x = F[..., :spectral, None]
        for i in range(len(self.params.conv_filters)):
            x = nl.conv2d_same(x, a[f"conv{i}"]) * a[f"bn{i}_scale"] + a[f"bn{i}_shift"]
            x = nl.max_pool(np.maximum(x, 0.0), 2, axes=(1, 2))
        n, t, d, c = x.shape
        x = x.reshape(n, t, d * c)
        if side:
            x = np.concatenate([x, nl.mean_pool(F[..., spectral:], self.pool, axis=1)], axis=-1)
        h = np.concatenate([nl.gru(x, a["gru_fw_kernel"], a["gru_fw_recurrent"], a["gru_fw_bias"]),
                            nl.gru(x, a["gru_bw_kernel"], a["gru_bw_recurrent"], a["gru_bw_bias"], reverse=True)],
                           axis=-1)
        m = nl.max_pool(M, self.pool, axes=(1,))
        pooled = nl.attention_pool(h, m, a["attention_kernel"], a["attention_bias"])
        return nl.softmax(pooled @ a["output_kernel"] + a["output_bias"])


__all__ = ["CRNN"]
