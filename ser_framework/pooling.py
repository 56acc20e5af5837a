"""Pooling frame-level features over time into fixed statistics."""
from __future__ import annotations

import numpy as np

from .errors import ConfigError

#: the statistics :func:`pool` knows
STATS = ("mean", "std", "min", "max", "median", "p10", "p90", "iqr", "skew", "kurtosis",
         "delta_mean", "delta_std", "delta2_std")


def _delta(frames: np.ndarray, order: int = 1) -> np.ndarray:
    import librosa

    if frames.shape[1] < 3:
        return np.zeros_like(frames)
    width = min(9, frames.shape[1] if frames.shape[1] % 2 else frames.shape[1] - 1)
    return librosa.feature.delta(frames, width=max(3, width), order=order, axis=1, mode="interp")


def pool(frames: np.ndarray, stats) -> np.ndarray:
    """Pool a ``(n_features, n_frames)`` matrix into one float32 vector.

    The vector holds, for each statistic in ``stats`` in turn, one value per
    row of ``frames``.
    """
    frames = np.asarray(frames, dtype=np.float64)
    if frames.ndim == 1:
        frames = frames[None, :]
    if frames.shape[1] == 0:
        frames = np.zeros((frames.shape[0], 1))
    out = []
    cache = {}
    for stat in stats:
        if stat == "mean":
            v = frames.mean(axis=1)
        elif stat == "std":
            v = frames.std(axis=1)
        elif stat == "min":
            v = frames.min(axis=1)
        elif stat == "max":
            v = frames.max(axis=1)
        elif stat == "median":
            v = np.median(frames, axis=1)
        elif stat in ("p10", "p90"):
            v = np.percentile(frames, 10 if stat == "p10" else 90, axis=1)
        elif stat == "iqr":
            q75, q25 = np.percentile(frames, [75, 25], axis=1)
            v = q75 - q25
        elif stat in ("skew", "kurtosis"):
            mu = frames.mean(axis=1, keepdims=True)
            sd = frames.std(axis=1, keepdims=True)
            z = np.divide(frames - mu, sd, out=np.zeros_like(frames), where=sd > 1e-12)
            v = (z ** 3).mean(axis=1) if stat == "skew" else (z ** 4).mean(axis=1) - 3.0
        elif stat in ("delta_mean", "delta_std"):
            d = cache.setdefault("d1", _delta(frames, 1))
            v = d.mean(axis=1) if stat == "delta_mean" else d.std(axis=1)
        elif stat == "delta2_std":
            v = cache.setdefault("d2", _delta(frames, 2)).std(axis=1)
        else:
            raise ConfigError(f"unknown statistic '{stat}' (known: {', '.join(STATS)})")
        out.append(v)
    return np.concatenate(out).astype(np.float32)
