"""Energy-based voice-activity detection on frame energies.

The detector works on short-frame energies (dB re full scale) rather than on
samples, so a whole hour is a small array (180 000 frames of 20 ms) and the
audio itself never has to be held in memory. The threshold adapts to the local
noise floor: a low percentile of the frame energies in each second, then the
minimum of those over a sliding span (±15 s by default), plus a margin. Frames
of digital silence are left out of the floor estimate, and the threshold never
drops below an absolute level, so silence and pauses are not called speech.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: frame energy assigned to digital silence (dBFS)
ENERGY_FLOOR_DB = -120.0


@dataclass(frozen=True)
class VadParams:
    """Settings of :func:`detect_speech` (seconds and dB)."""

    frame: float = 0.02
    margin_db: float = 12.0
    min_db: float = -60.0
    floor_percentile: float = 10.0
    floor_span: float = 30.0
    min_speech: float = 0.25
    min_silence: float = 0.5
    pad: float = 0.15

    def __post_init__(self):
        from ..errors import SerError

        if not 0.005 <= self.frame <= 0.1:
            raise SerError(f"VAD frame must be between 0.005 and 0.1 s, got {self.frame}")
        for name in ("min_speech", "min_silence", "pad"):
            if getattr(self, name) < 0:
                raise SerError(f"VAD {name} must be ≥ 0, got {getattr(self, name)}")


def frame_energies(y: np.ndarray, frame_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Energies (dBFS) of whole non-overlapping frames of ``y`` and the leftover samples.

    Feed the leftover back in front of the next block to analyse a stream.
    """
    n = (y.shape[0] // frame_length) * frame_length
    frames = y[:n].reshape(-1, frame_length).astype(np.float64, copy=False)
    power = np.mean(frames * frames, axis=1) if n else np.zeros(0)
    with np.errstate(divide="ignore"):
        db = 10.0 * np.log10(power)
    return np.maximum(db, ENERGY_FLOOR_DB), y[n:]


def adaptive_threshold(energies: np.ndarray, frames_per_second: float, params: VadParams) -> np.ndarray:
    """Per-frame speech threshold (dBFS) that follows the local noise floor."""
    from scipy.ndimage import minimum_filter1d

    n = energies.shape[0]
    if n == 0:
        return np.zeros(0)
    per = max(1, int(round(frames_per_second)))
    n_sec = -(-n // per)
    padded = np.full(n_sec * per, np.nan)
    padded[:n] = energies
    padded[padded <= ENERGY_FLOOR_DB + 1] = np.nan  # digital silence says nothing about the noise floor
    blocks = padded.reshape(n_sec, per)
    valid = np.isfinite(blocks).any(axis=1)
    floor_sec = np.full(n_sec, np.inf)
    if valid.any():
        floor_sec[valid] = np.nanpercentile(blocks[valid], params.floor_percentile, axis=1)
    span = max(1, int(round(params.floor_span)))
    floor_sec = minimum_filter1d(floor_sec, size=span, mode="nearest")
    floor_sec[~np.isfinite(floor_sec)] = params.min_db - params.margin_db
    threshold = np.maximum(floor_sec + params.margin_db, params.min_db)
    return np.repeat(threshold, per)[:n]


def _runs(mask: np.ndarray) -> np.ndarray:
    """(start, end) frame indices of the runs of True in ``mask``."""
    if mask.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return np.column_stack((np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def speech_regions(active: np.ndarray, frame: float, params: VadParams) -> list[tuple[float, float]]:
    """Turn per-frame decisions into speech regions in seconds.

    Gaps shorter than ``min_silence`` are bridged (pauses inside speech), runs
    shorter than ``min_speech`` are dropped (clicks), and each region is padded
    by ``pad`` on both sides (the quiet onset and decay of speech).
    """
    runs = _runs(np.asarray(active, dtype=bool))
    if len(runs) == 0:
        return []
    gap = int(round(params.min_silence / frame))
    merged = [list(runs[0])]
    for start, end in runs[1:]:
        if start - merged[-1][1] < gap:
            merged[-1][1] = end
        else:
            merged.append([start, end])
    min_len = int(round(params.min_speech / frame))
    total = len(active) * frame
    regions: list[tuple[float, float]] = []
    for start, end in merged:
        if end - start < min_len:
            continue
        s = max(0.0, start * frame - params.pad)
        e = min(total, end * frame + params.pad)
        if regions and s <= regions[-1][1]:
            regions[-1] = (regions[-1][0], e)
        else:
            regions.append((s, e))
    return regions


def detect_speech(energies: np.ndarray, params: VadParams | None = None) -> list[tuple[float, float]]:
    """Speech regions ``[(start, end), ...]`` in seconds from frame energies (dBFS)."""
    params = params or VadParams()
    energies = np.asarray(energies, dtype=np.float64)
    threshold = adaptive_threshold(energies, 1.0 / params.frame, params)
    return speech_regions(energies > threshold, params.frame, params)
