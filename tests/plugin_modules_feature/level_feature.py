"""A local feature plugin written the modern way: a dataclass and postponed annotations.

Such a module only loads if it is in ``sys.modules`` while it runs (the dataclass
machinery looks its module up there).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ser_framework import FeatureExtractor, Field, Params, hookimpl


@dataclass(frozen=True)
class Frame:
    length: int
    hop: int


class LevelStats(FeatureExtractor):
    """Mean and spread of the frame level (dB)."""

    name = "level_stats"

    class Params(Params):
        frame: int = Field(1024, ge=64, description="frame length (samples)")

    def extract(self, ctx) -> np.ndarray:
        frame = Frame(self.params.frame, self.params.frame // 2)
        rms = ctx.rms(frame.length, frame.hop)
        db = 20 * np.log10(np.maximum(rms, 1e-6))
        return np.array([db.mean(), db.std()], dtype=np.float32)


@hookimpl
def register_features(register):
    register(LevelStats)
