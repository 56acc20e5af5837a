"""Numpy versions of the Keras layers the sequence classifiers use (prediction imports no TensorFlow).

Each function computes what the Keras layer of the same name computes in inference
mode (dropout off, batch norm with its moving statistics), on float32 arrays laid out
as Keras lays them out (batch first, channels last). The sequence classifiers' tests
check the whole forward pass against the Keras model's own output.
"""
from __future__ import annotations

import numpy as np

#: what Keras adds to masked attention logits (``keras.layers.Softmax``, float32)
MASKED = -1e9


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    x = x - x.max(axis=axis, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)


def conv2d_same(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``Conv2D(padding="same", strides=1, use_bias=False)``: x (n, H, W, C), kernel (kh, kw, C, F)."""
    kh, kw, c, f = kernel.shape
    n, H, W, _ = x.shape
    ph, pw = (kh - 1) // 2, (kw - 1) // 2
    xp = np.pad(x, ((0, 0), (ph, kh - 1 - ph), (pw, kw - 1 - pw), (0, 0)))
    cols = np.concatenate([xp[:, i:i + H, j:j + W] for i in range(kh) for j in range(kw)], axis=-1)
    return cols @ kernel.reshape(kh * kw * c, f)


def conv1d_same(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """``Conv1D(padding="same", strides=1)``: x (n, T, C), kernel (k, C, F)."""
    k, c, f = kernel.shape
    T = x.shape[1]
    left = (k - 1) // 2
    xp = np.pad(x, ((0, 0), (left, k - 1 - left), (0, 0)))
    cols = np.concatenate([xp[:, i:i + T] for i in range(k)], axis=-1)
    return cols @ kernel.reshape(k * c, f) + bias


def _pool(x: np.ndarray, size: int, axes: tuple[int, ...], reduce) -> np.ndarray:
    """Pool = strides = ``size`` along ``axes`` (padding "valid": the rest is dropped), reduced by ``reduce``."""
    for axis in axes:
        n = x.shape[axis] // size
        x = np.take(x, np.arange(n * size), axis=axis)
        x = reduce(x.reshape(x.shape[:axis] + (n, size) + x.shape[axis + 1:]), axis=axis + 1)
    return x


def max_pool(x: np.ndarray, size: int, axes: tuple[int, ...]) -> np.ndarray:
    """``MaxPooling`` with pool = strides = ``size`` along ``axes`` (padding "valid": the rest is dropped)."""
    return _pool(x, size, axes, np.max)


def mean_pool(x: np.ndarray, size: int, axis: int) -> np.ndarray:
    """``AveragePooling1D`` with pool = strides = ``size`` along ``axis`` (padding "valid": the rest is dropped)."""
    return _pool(x, size, (axis,), np.mean)


def gru(x: np.ndarray, kernel: np.ndarray, recurrent: np.ndarray, bias: np.ndarray,
        reverse: bool = False) -> np.ndarray:
    """Keras ``GRU(return_sequences=True)`` with its defaults (tanh, sigmoid, ``reset_after=True``).

    Gates in Keras's order z, r, h; ``bias`` holds the input and the recurrent bias.
    With ``reverse`` the sequence is read backwards and the outputs put back in time
    order (what ``Bidirectional`` does with its backward layer).
    """
    n, T, _ = x.shape
    u = recurrent.shape[0]
    xs = x @ kernel + bias[0]
    h = np.zeros((n, u), dtype=x.dtype)
    out = np.empty((n, T, u), dtype=x.dtype)
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        hr = h @ recurrent + bias[1]
        z = sigmoid(xs[:, t, :u] + hr[:, :u])
        r = sigmoid(xs[:, t, u:2 * u] + hr[:, u:2 * u])
        cand = np.tanh(xs[:, t, 2 * u:] + r * hr[:, 2 * u:])
        h = z * h + (1.0 - z) * cand
        out[:, t] = h
    return out


def layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def multi_head_attention(x: np.ndarray, mask: np.ndarray, w: list[np.ndarray]) -> np.ndarray:
    """Keras ``MultiHeadAttention`` self-attention; ``mask`` (n, T) hides padded keys.

    ``w`` is the layer's ``get_weights()``: query, key, value kernels (d, heads, key_dim)
    and biases (heads, key_dim), then the output kernel (heads, key_dim, d) and bias.
    """
    qk, qb, kk, kb, vk, vb, ok, ob = w
    q = np.einsum("ntd,dhk->nthk", x, qk) + qb
    k = np.einsum("ntd,dhk->nthk", x, kk) + kb
    v = np.einsum("ntd,dhk->nthk", x, vk) + vb
    q = q / np.sqrt(np.float32(qk.shape[-1]))
    scores = np.einsum("nshk,nthk->nhts", k, q)
    scores = scores + (1.0 - mask[:, None, None, :]) * MASKED
    attn = softmax(scores, axis=-1)
    ctx = np.einsum("nhts,nshk->nthk", attn, v)
    return np.einsum("nthk,hkd->ntd", ctx, ok) + ob


def attention_pool(h: np.ndarray, mask: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Softmax over the unmasked frames of a linear score per frame; the weighted mean of ``h``."""
    scores = (h @ kernel)[..., 0] + bias[0]
    scores = np.where(mask > 0, scores, MASKED)
    a = softmax(scores, axis=1)
    return np.einsum("nt,ntd->nd", a, h)
