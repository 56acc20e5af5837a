"""Speaker profiles: one speaker's feature statistics, the basis of speaker adaptation.

A profile holds running statistics (count, mean and the sum of squared
deviations ``m2``, per feature) of the feature vectors of a speaker's
enrolment clips, for one feature space: the feature extractors, their params
and the audio settings of a bundle (``model_key``). No audio is kept. A bundle
trained with per-speaker normalisation z-scores a clip's features with these
statistics (see :mod:`ser_framework.speaker_norm`); ``Bundle.predict(...,
profile=...)`` applies it.

Profiles are plain data: :meth:`SpeakerProfile.to_dict` gives a versioned,
JSON-safe dict and :meth:`SpeakerProfile.from_dict` checks one strictly.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import AudioError, ProfileError

#: the ``format`` written by :meth:`SpeakerProfile.to_dict`
PROFILE_FORMAT = 1
#: fewest clips a profile is made from
MIN_ENROL_CLIPS = 3


def feature_space_key(pipeline, n_features: int) -> str:
    """A short digest naming a feature space: extractors with params, audio settings, dimension."""
    spec = {"audio": pipeline.audio, "n_features": int(n_features),
            "features": [{"name": e.name, "params": e.config} for e in pipeline.extractors]}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def _clip_name(source, i: int) -> str:
    if isinstance(source, (str, Path)):
        return str(source)
    if isinstance(source, tuple):
        return f"clip {i + 1}"
    return getattr(source, "name", None) or f"clip {i + 1}"


def _feature_rows(bundle, sources, progress=None) -> np.ndarray:
    """One feature row per source (path, bytes, file object or ``(waveform, sample_rate)``), speech checked."""
    from .audio import resample
    from .spectral import single_threaded
    from .voice import check_voice

    pipeline = bundle.profile_bundle.pipeline  # a fused bundle's profile member computes only its own features
    rows = []
    sources = list(sources)
    for i, source in enumerate(sources):
        name = _clip_name(source, i)
        try:
            if isinstance(source, tuple):
                y, sr = source
                y = resample(np.asarray(y, dtype=np.float32), int(sr), pipeline.sample_rate)
            else:
                y = pipeline.load(source)
            with single_threaded():
                check_voice(y, pipeline.sample_rate, name)
                rows.append(pipeline.from_waveform(y))
        except AudioError as exc:
            raise ProfileError(f"cannot enrol {name}: {exc}") from None
        if progress is not None:
            progress(i + 1, len(sources))
    return np.vstack(rows).astype(np.float64) if rows else np.zeros((0, 0))


@dataclass(frozen=True)
class SpeakerProfile:
    """A speaker's feature statistics for one feature space.

    ``mean`` and ``m2`` are float64 vectors; the variance is ``m2 / n_clips``.
    """

    name: str
    n_clips: int
    model_key: str
    mean: np.ndarray
    m2: np.ndarray

    @property
    def var(self) -> np.ndarray:
        return self.m2 / self.n_clips

    @classmethod
    def from_features(cls, X, name: str, model_key: str) -> SpeakerProfile:
        """A profile of the rows of ``X`` (clips × features)."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        if len(X) < MIN_ENROL_CLIPS:
            raise ProfileError(f"profile {name!r}: enrolment needs at least {MIN_ENROL_CLIPS} clips "
                               f"with speech, got {len(X)}")
        mean = X.mean(axis=0)
        return cls(name, len(X), model_key, mean, ((X - mean) ** 2).sum(axis=0))

    @classmethod
    def enrol(cls, bundle, sources, name: str, *, progress=None) -> SpeakerProfile:
        """Enrol a speaker from clips: paths, bytes, file objects or ``(waveform, sample_rate)`` pairs.

        Every clip must hold speech (the check of :mod:`ser_framework.voice`);
        a clip that is refused raises :class:`ProfileError` naming it.
        ``progress(done, total)`` is called after each clip.
        """
        _check_name(name)
        X = bundle.profile_bundle.profile_rows(_feature_rows(bundle, sources, progress))
        return cls.from_features(X, name, bundle.feature_space)

    def updated(self, bundle, sources, *, progress=None) -> SpeakerProfile:
        """This profile with more clips added (statistics combined; the old clips are not needed)."""
        self.check(bundle)
        X = _feature_rows(bundle, sources, progress)
        if not len(X):
            return self
        X = bundle.profile_bundle.profile_rows(X)
        n_b, mean_b = len(X), X.mean(axis=0)
        m2_b = ((X - mean_b) ** 2).sum(axis=0)
        n = self.n_clips + n_b
        delta = mean_b - self.mean
        mean = self.mean + delta * (n_b / n)
        m2 = self.m2 + m2_b + delta ** 2 * (self.n_clips * n_b / n)
        return SpeakerProfile(self.name, n, self.model_key, mean, m2)

    def check(self, bundle) -> None:
        """Raise :class:`ProfileError` unless the profile was made in ``bundle``'s feature space."""
        if self.model_key != bundle.feature_space:
            raise ProfileError(
                f"profile {self.name!r} was made for another model's features (feature space "
                f"{self.model_key}, this model: {bundle.feature_space}); enrol the speaker again with this model")

    def to_dict(self) -> dict:
        """Versioned, JSON-safe plain data (no pickle)."""
        return {"format": PROFILE_FORMAT, "name": self.name, "n_clips": int(self.n_clips),
                "model_key": self.model_key, "mean": self.mean.tolist(), "m2": self.m2.tolist()}

    @classmethod
    def from_dict(cls, d) -> SpeakerProfile:
        """A profile from :meth:`to_dict`'s output; anything malformed raises :class:`ProfileError`."""
        if not isinstance(d, dict):
            raise ProfileError("a profile must be a JSON object")
        if d.get("format") != PROFILE_FORMAT:
            raise ProfileError(f"unsupported profile format {d.get('format')!r} (expected {PROFILE_FORMAT})")
        missing = [k for k in ("name", "n_clips", "model_key", "mean", "m2") if k not in d]
        if missing:
            raise ProfileError(f"profile lacks {', '.join(missing)}")
        name, n, key = d["name"], d["n_clips"], d["model_key"]
        if not isinstance(name, str) or not isinstance(key, str):
            raise ProfileError("profile 'name' and 'model_key' must be strings")
        if isinstance(n, bool) or not isinstance(n, int) or n < MIN_ENROL_CLIPS:
            raise ProfileError(f"profile 'n_clips' must be an integer >= {MIN_ENROL_CLIPS}, got {n!r}")
        try:
            mean = np.asarray(d["mean"], dtype=np.float64)
            m2 = np.asarray(d["m2"], dtype=np.float64)
        except (TypeError, ValueError):
            raise ProfileError("profile 'mean' and 'm2' must be lists of numbers") from None
        if mean.ndim != 1 or mean.shape != m2.shape or not len(mean):
            raise ProfileError("profile 'mean' and 'm2' must be lists of the same, non-zero length")
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(m2)) and np.all(m2 >= 0)):
            raise ProfileError("profile statistics must be finite (and 'm2' not negative)")
        return cls(name, n, key, mean, m2)

    def save(self, path) -> Path:
        """Write :meth:`to_dict` as a JSON file, atomically."""
        from .atomic import atomic_write_bytes

        path = Path(path)
        atomic_write_bytes(path, json.dumps(self.to_dict()).encode())
        return path

    @classmethod
    def load(cls, path) -> SpeakerProfile:
        """Read a profile JSON file written by :meth:`save`."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ProfileError(f"profile file not found: {path}") from None
        except (OSError, ValueError) as exc:
            raise ProfileError(f"{path}: not a profile file ({exc})") from None
        return cls.from_dict(data)

    def __eq__(self, other) -> bool:
        return (isinstance(other, SpeakerProfile) and (self.name, self.n_clips, self.model_key)
                == (other.name, other.n_clips, other.model_key)
                and np.array_equal(self.mean, other.mean) and np.array_equal(self.m2, other.m2))

    __hash__ = None


def _check_name(name) -> None:
    if not isinstance(name, str) or not name.strip() or len(name) > 100 or any(not c.isprintable() for c in name):
        raise ProfileError(f"a profile name must be 1-100 printable characters, got {name!r}")


def shrunk_statistics(profile: SpeakerProfile, prior_mean, prior_var, k_mean: float, k_var: float):
    """``(mean, std)`` of a profile shrunk towards population statistics.

    ``k_mean``/``k_var`` count as that many pseudo-clips at the prior; with
    ``n`` clips the estimate is ``(n * profile + k * prior) / (n + k)``.
    """
    n = profile.n_clips
    mean = (n * profile.mean + k_mean * np.asarray(prior_mean)) / (n + k_mean)
    var = (n * profile.var + k_var * np.asarray(prior_var)) / (n + k_var)
    return mean, np.sqrt(np.maximum(var, 0.0)) + 1e-6

