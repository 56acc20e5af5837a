"""Per-speaker feature normalisation: z-scoring with a speaker's own statistics.

A model trained with ``speaker_normalisation`` sees every feature row as
``(x - mean_s) / std_s``, where ``mean_s``/``std_s`` are its speaker's
statistics shrunk towards population statistics (``k_mean``/``k_var``
pseudo-clips, see :func:`~ser_framework.profiles.shrunk_statistics`). At
prediction time the statistics come from the speaker's
:class:`~ser_framework.profiles.SpeakerProfile`; without a profile the
population statistics are used.
"""
from __future__ import annotations

import numpy as np

from .profiles import SpeakerProfile, shrunk_statistics


class SpeakerNormaliser:
    """The population statistics and shrinkage a speaker-normalised model was trained with."""

    def __init__(self, prior_mean, prior_var, k_mean: float, k_var: float):
        self.prior_mean = np.asarray(prior_mean, dtype=np.float64)
        self.prior_var = np.asarray(prior_var, dtype=np.float64)
        self.k_mean, self.k_var = float(k_mean), float(k_var)

    @classmethod
    def fit(cls, X, speakers, k_mean: float, k_var: float) -> SpeakerNormaliser:
        """Population statistics of training rows: the mean of speaker means and of within-speaker variances."""
        X, speakers = np.asarray(X, dtype=np.float64), np.asarray(speakers)
        groups = [X[speakers == s] for s in np.unique(speakers)]
        return cls(np.mean([g.mean(axis=0) for g in groups], axis=0),
                   np.mean([g.var(axis=0) for g in groups], axis=0), k_mean, k_var)

    def statistics(self, profile: SpeakerProfile | None):
        """``(mean, std)`` used for a speaker: the shrunk profile, or the population without one."""
        if profile is None:
            return self.prior_mean, np.sqrt(self.prior_var) + 1e-6
        return shrunk_statistics(profile, self.prior_mean, self.prior_var, self.k_mean, self.k_var)

    def apply(self, X, profile: SpeakerProfile | None = None) -> np.ndarray:
        mean, std = self.statistics(profile)
        return ((np.asarray(X, dtype=np.float64) - mean) / std).astype(np.float32)

    def get_state(self) -> dict:
        return {"prior_mean": self.prior_mean, "prior_var": self.prior_var,
                "shrinkage": np.array([self.k_mean, self.k_var])}

    @classmethod
    def from_state(cls, state: dict) -> SpeakerNormaliser:
        k_mean, k_var = (float(v) for v in state["shrinkage"])
        return cls(state["prior_mean"], state["prior_var"], k_mean, k_var)
