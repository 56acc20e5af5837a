"""Per-speaker feature normalisation: z-scoring with a speaker's own statistics.

A model trained with ``speaker_normalisation`` sees every feature row as
``(x - mean_s) / std_s``, where ``mean_s``/``std_s`` are its speaker's
statistics shrunk towards population statistics (``k_mean``/``k_var``
pseudo-clips, see :func:`~ser_framework.profiles.shrunk_statistics`). At
prediction time the statistics come from the speaker's
:class:`~ser_framework.profiles.SpeakerProfile`; without a profile the
population statistics are used.

A model of frame sequences (``log_mel_frames``: rows × frames × channels, the mask
last) is normalised per channel instead: each real frame becomes
``(frame - mean_s) / std_s``, where ``mean_s`` and ``std_s`` are the speaker's
mean and standard deviation of each channel over its clips' real frames
(padding stays 0, the mask is kept). Its profile summarises each clip by the
channels' mean and mean square over the clip's real frames
(:func:`clip_frame_statistics`), so it stays as small as a pooled model's.

Also here: the training rows of such a model (:func:`normalise_training`) and
the enrolment protocol of evaluations (:func:`choose_enrolment`,
:func:`profiles_by_speaker`, :func:`predict_by_speaker`,
:func:`enrolment_summary`): a test speaker's enrolment clips form its profile
and are never scored.
"""
from __future__ import annotations

import numpy as np

from .errors import ProfileError
from .profiles import SpeakerProfile, shrunk_statistics


def clip_frame_statistics(X, frame_shape) -> np.ndarray:
    """Per clip of flattened frame sequences: each channel's mean, then its mean square, over real frames.

    ``frame_shape`` is (frames, channels with the mask last); the result has
    ``2 × (channels - 1)`` columns. A clip without a real frame gives zeros.
    """
    S = np.asarray(X, dtype=np.float64).reshape(len(X), *frame_shape)
    F, M = S[..., :-1], (S[..., -1:] > 0.5)
    n = np.maximum(M.sum(axis=1), 1)
    return np.hstack([(F * M).sum(axis=1) / n, (F ** 2 * M).sum(axis=1) / n])


class SpeakerNormaliser:
    """The population statistics and shrinkage a speaker-normalised model was trained with.

    ``frame_shape`` (frames, channels with the mask last) makes it the
    normaliser of a frame-sequence model: ``prior_mean``/``prior_var`` are then
    per channel (the mean of the speakers' channel means and of their
    within-speaker frame variances) and profiles hold :func:`clip_frame_statistics`.
    """

    def __init__(self, prior_mean, prior_var, k_mean: float, k_var: float, frame_shape=None):
        self.prior_mean = np.asarray(prior_mean, dtype=np.float64)
        self.prior_var = np.asarray(prior_var, dtype=np.float64)
        self.k_mean, self.k_var = float(k_mean), float(k_var)
        self.frame_shape = None if frame_shape is None else tuple(int(v) for v in frame_shape)

    @classmethod
    def fit(cls, X, speakers, k_mean: float, k_var: float, frame_shape=None) -> SpeakerNormaliser:
        """Population statistics of training rows: the mean of speaker means and of within-speaker variances.

        With ``frame_shape`` the rows are flattened frame sequences and the
        statistics are those of each channel's real frames.
        """
        X, speakers = np.asarray(X, dtype=np.float64), np.asarray(speakers)
        if frame_shape is not None:
            stats = [_frame_moments(clip_frame_statistics(X[speakers == s], frame_shape))
                     for s in np.unique(speakers)]
            return cls(np.mean([m for m, _ in stats], axis=0), np.mean([v for _, v in stats], axis=0),
                       k_mean, k_var, frame_shape)
        groups = [X[speakers == s] for s in np.unique(speakers)]
        return cls(np.mean([g.mean(axis=0) for g in groups], axis=0),
                   np.mean([g.var(axis=0) for g in groups], axis=0), k_mean, k_var)

    def profile_rows(self, X) -> np.ndarray:
        """What a profile summarises of feature rows: the rows themselves, or each clip's frame statistics."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        return X if self.frame_shape is None or not len(X) else clip_frame_statistics(X, self.frame_shape)

    def statistics(self, profile: SpeakerProfile | None):
        """``(mean, std)`` used for a speaker: the shrunk profile, or the population without one."""
        if profile is None:
            return self.prior_mean, np.sqrt(self.prior_var) + 1e-6
        if self.frame_shape is None:
            return shrunk_statistics(profile, self.prior_mean, self.prior_var, self.k_mean, self.k_var)
        if profile.mean.shape != (2 * len(self.prior_mean),):
            raise ProfileError(f"profile {profile.name!r} holds {len(profile.mean)} values; this model's "
                               f"profiles hold {2 * len(self.prior_mean)}")
        mean, var = _frame_moments(profile.mean[None, :])
        n = profile.n_clips
        mean = (n * mean + self.k_mean * self.prior_mean) / (n + self.k_mean)
        var = (n * var + self.k_var * self.prior_var) / (n + self.k_var)
        return mean, np.sqrt(np.maximum(var, 0.0)) + 1e-6

    def apply(self, X, profile: SpeakerProfile | None = None) -> np.ndarray:
        mean, std = self.statistics(profile)
        X = np.asarray(X, dtype=np.float64)
        if self.frame_shape is None:
            return ((X - mean) / std).astype(np.float32)
        S = X.reshape(len(X), *self.frame_shape).copy()
        S[..., :-1] = (S[..., :-1] - mean) / std * (S[..., -1:] > 0.5)  # padding stays 0, the mask is kept
        return S.reshape(len(X), -1).astype(np.float32)

    def settings(self) -> dict:
        """What reports and manifests name: the shrinkage, in pseudo-clips."""
        out = {"shrink_mean": self.k_mean, "shrink_var": self.k_var, "n_features": int(len(self.prior_mean))}
        if self.frame_shape is not None:
            out["frames"] = list(self.frame_shape)
        return out

    def get_state(self) -> dict:
        state = {"prior_mean": self.prior_mean, "prior_var": self.prior_var,
                 "shrinkage": np.array([self.k_mean, self.k_var])}
        if self.frame_shape is not None:
            state["frame_shape"] = np.array(self.frame_shape, dtype=np.int64)
        return state

    @classmethod
    def from_state(cls, state: dict) -> SpeakerNormaliser:
        k_mean, k_var = (float(v) for v in state["shrinkage"])
        shape = state.get("frame_shape")
        return cls(state["prior_mean"], state["prior_var"], k_mean, k_var, None if shape is None else shape.tolist())


def _frame_moments(stats) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, variance)`` per channel over the clips of :func:`clip_frame_statistics` rows (clips weigh alike)."""
    half = stats.shape[1] // 2
    mean = stats[:, :half].mean(axis=0)
    return mean, np.maximum(stats[:, half:].mean(axis=0) - mean ** 2, 0.0)


# ----------------------------------------------------------------------------- evaluation with profiles
def choose_enrolment(speakers, n_enrol: int, seed: int) -> np.ndarray:
    """A mask of the rows that enrol their speaker: ``n_enrol`` per speaker, a seeded choice.

    The choice for a speaker depends only on ``seed``, the speaker's name and
    its row count, so it is the same whatever other speakers are present.
    Every speaker must keep at least one clip to score.
    """
    import zlib

    from .errors import DataError

    speakers = np.asarray(speakers)
    mask = np.zeros(len(speakers), dtype=bool)
    for s in np.unique(speakers):
        rows = np.flatnonzero(speakers == s)
        if len(rows) <= n_enrol:
            raise DataError(f"speaker {s} has {len(rows)} clips; enrolling {n_enrol} needs more, so that "
                            f"some are left to score")
        rng = np.random.default_rng([seed, zlib.crc32(str(s).encode())])
        mask[rng.choice(rows, size=n_enrol, replace=False)] = True
    return mask


def profiles_by_speaker(X_enrol, speakers, enrol, model_key: str) -> dict[str, SpeakerProfile]:
    """One profile per speaker from its enrolment rows (``enrol`` mask) of ``X_enrol`` only."""
    speakers = np.asarray(speakers)
    return {str(s): SpeakerProfile.from_features(X_enrol[enrol & (speakers == s)], str(s), model_key)
            for s in np.unique(speakers[enrol])}


def predict_by_speaker(predict, X, speakers, profiles: dict) -> np.ndarray:
    """Probabilities of every row of ``X``, each predicted with its speaker's profile.

    ``predict(X, profile)`` is a model's ``predict_proba_features``; a
    speaker without a profile is predicted with ``profile=None``.
    """
    speakers = np.asarray(speakers)
    parts = {s: predict(X[speakers == s], profiles.get(str(s))) for s in np.unique(speakers)}
    out = np.empty((len(X), next(iter(parts.values())).shape[1]))
    for s, p in parts.items():
        out[speakers == s] = p
    return out


# ----------------------------------------------------------------------------- training rows
def normalise_training(X, speakers, copy_index, settings: dict, seed: int, frame_shape=None):
    """Training rows z-scored per speaker as a profile of ``enrol`` clips would, and the normaliser.

    Population statistics come from the original clips (``copy_index`` 0).
    For each speaker and each copy index (0: the originals, k: every clip's
    k-th augmented copy) a fresh random set of ``enrol`` original clips forms
    the speaker's statistics (shrunk as at prediction time), so the model
    learns from statistics as noisy as a real enrolment's. ``frame_shape``:
    the rows are flattened frame sequences (see :class:`SpeakerNormaliser`).
    Returns ``(X_normalised, normaliser)``.
    """
    X, speakers, copy_index = np.asarray(X, dtype=np.float64), np.asarray(speakers), np.asarray(copy_index)
    originals = copy_index == 0
    normaliser = SpeakerNormaliser.fit(X[originals], speakers[originals], settings["shrink_mean"],
                                       settings["shrink_var"], frame_shape)
    R = normaliser.profile_rows(X[originals])  # what a profile of the original clips would summarise
    rng = np.random.default_rng(seed)
    out = np.empty((len(X), X.shape[1]), dtype=np.float32)
    for s in np.unique(speakers):
        own = np.flatnonzero(speakers[originals] == s)  # the speaker's rows of R
        n = min(settings["enrol"], len(own))
        for k in np.unique(copy_index[speakers == s]):
            pick = own[rng.choice(len(own), size=n, replace=False)]
            profile = SpeakerProfile(str(s), n, "", R[pick].mean(axis=0), R[pick].var(axis=0) * n)
            rows = (speakers == s) & (copy_index == k)
            out[rows] = normaliser.apply(X[rows], profile)
    return out, normaliser


def enrolment_summary(bundle, table, X, y, enrolled, n_enrol: int, seed: int, scorer=None,
                      progress: bool = False) -> dict:
    """What ``evaluate_bundle(..., enrol=N)`` reports about enrolment.

    ``clips`` (enrolment clips per speaker), ``seed``, ``speakers``, ``n_enrolled``,
    ``n_scored``, ``enrolment_paths`` (speaker -> paths), ``without_profile``
    (the scored clips predicted without profiles: accuracy, UAR, macro-F1, n)
    and, given the conditions ``scorer``, ``conditions_degraded_enrolment``
    (each condition scored against profiles of enrolment clips degraded the
    same way).
    """
    from .conditions import ConditionScorer, summary
    from .evaluation import compute_metrics

    labels, speakers = bundle.labels, table["speaker"].astype(str).to_numpy()
    scored = np.flatnonzero(~enrolled)
    plain = compute_metrics(y[scored], bundle.predict_features(X[scored]).argmax(axis=1), labels)
    out = {
        "clips": int(n_enrol), "seed": int(seed), "speakers": int(len(np.unique(speakers))),
        "n_enrolled": int(enrolled.sum()), "n_scored": int(len(scored)),
        "enrolment_paths": {s: table["path"][enrolled & (speakers == s)].tolist() for s in np.unique(speakers)},
        "without_profile": {k: plain[k] for k in ("accuracy", "uar", "macro_f1", "n")},
    }
    if scorer is not None and scorer.variants:
        same = ConditionScorer(scorer.names, scorer.paths, bundle.pipeline, scorer.registry, seed, len(labels),
                               scorer.extraction, progress=progress)

        def predict(Z):  # profiles from the enrolment clips under the same condition
            profiles = profiles_by_speaker(bundle.profile_rows(Z), speakers, enrolled, bundle.feature_space)
            return predict_by_speaker(bundle.predict_features, Z, speakers, profiles)

        same.score(predict, np.arange(len(y)), clean=scorer.proba["clean"])
        report = same.report(y, labels, rows=scored)
        out["conditions_degraded_enrolment"] = summary(report)
    return out
