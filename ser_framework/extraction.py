"""Turning audio into feature rows: one clip (prediction) or a whole dataset (training).

:class:`FeaturePipeline` decodes a clip once through :func:`ser_framework.audio.load_audio`,
builds one shared :class:`~ser_framework.spectral.AudioContext` and concatenates
what every extractor returns. :func:`extract_table` runs it over a dataset with
joblib (a progress bar that moves as files finish) and the feature cache.
"""
from __future__ import annotations

import warnings

import numpy as np

from .audio import load_audio
from .config import AudioSettings, ExtractionSettings
from .errors import AudioError, DataError
from .provenance import sha256_file
from .spectral import AudioContext


class FeaturePipeline:
    """The configured extractors plus the audio settings they expect."""

    def __init__(self, extractors, audio):
        self.extractors = list(extractors)
        self.settings = AudioSettings.model_validate(audio)

    @classmethod
    def from_config(cls, feature_cfgs, audio_cfg, registry) -> FeaturePipeline:
        return cls([registry.build("feature", f, f"features.{i}") for i, f in enumerate(feature_cfgs)], audio_cfg)

    @property
    def audio(self) -> dict:
        """The audio settings as plain data (for manifests and cache keys)."""
        return self.settings.model_dump()

    @property
    def sample_rate(self) -> int:
        return self.settings.sample_rate

    @property
    def output(self) -> str:
        """What the features are: ``"sequence"`` (frames of a sequence extractor) or ``"pooled"`` (vectors)."""
        return "sequence" if any(getattr(e, "output", "pooled") == "sequence" for e in self.extractors) else "pooled"

    @property
    def frame_shape(self) -> tuple[int, int] | None:
        """(frames, channels with the mask last) of a sequence pipeline's rows; ``None`` for pooled vectors."""
        return None if self.output == "pooled" else tuple(self.extractors[0].frame_shape)

    def classifier_input(self, X: np.ndarray) -> np.ndarray:
        """Feature rows as the classifier takes them: unchanged, or rows × frames × channels."""
        if self.output == "pooled":
            return X
        return np.asarray(X).reshape(len(X), *self.frame_shape)

    def load(self, source, **overrides) -> np.ndarray:
        kwargs = {
            "sample_rate": self.sample_rate,
            "min_duration": self.settings.min_duration,
            "max_duration": self.settings.max_duration,
        }
        kwargs.update(overrides)
        return load_audio(source, **kwargs)

    def from_waveform(self, y: np.ndarray, context: AudioContext | None = None) -> np.ndarray:
        """Feature vector of a mono waveform already at ``sample_rate`` (``context``: its AudioContext, if made)."""
        return np.concatenate(self.parts(y, context=context))

    def parts(self, y: np.ndarray, extractors=None, context: AudioContext | None = None) -> list[np.ndarray]:
        """One finite float32 vector per extractor (default: all), sharing one AudioContext."""
        from .spectral import single_threaded

        ctx = context if context is not None else AudioContext(y, self.sample_rate)
        out = []
        with single_threaded(), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # librosa: n_fft larger than a short clip
            for e in self.extractors if extractors is None else extractors:
                part = np.asarray(e.extract(ctx), dtype=np.float32).ravel()
                if not np.all(np.isfinite(part)):
                    part = np.nan_to_num(part, nan=0.0, posinf=0.0, neginf=0.0)
                out.append(part)
        return out

    def from_source(self, source) -> np.ndarray:
        return self.from_waveform(self.load(source))

    def warm_up(self) -> None:
        """Run every extractor once, in this process, on one second of a synthetic voice.

        librosa's numba kernels are compiled on first use and written to numba's
        on-disk cache. Worker processes started together that each compile them
        write that cache at the same time, which can leave its index and code out
        of step: every later process that loads such a kernel then crashes with a
        segmentation fault (seen here after the first parallel training in a new
        environment). Run before workers start (:func:`~ser_framework.parallel.map_files`
        does), the kernels are compiled once, here, and the workers only read them.
        """
        if getattr(self, "_warmed", False):
            return
        sr = self.sample_rate
        t = np.arange(sr) / sr
        phase = 2 * np.pi * np.cumsum(140.0 + 25.0 * np.sin(2 * np.pi * 3 * t)) / sr
        voiced = sum(np.sin(k * phase) / k for k in range(1, 8)) * np.clip(np.sin(np.pi * t) * 3, 0, 1)
        y = 0.2 * voiced + 0.002 * np.random.default_rng(0).standard_normal(sr)
        self.from_waveform(y.astype(np.float32))
        self._warmed = True

    def n_features(self) -> int:
        rng = np.random.default_rng(0)
        y = (0.1 * rng.standard_normal(self.sample_rate // 2)).astype(np.float32)
        return int(self.from_waveform(y).shape[0])


def _extract_one(pipeline: FeaturePipeline, path: str):
    try:
        return path, pipeline.from_source(path), None
    except AudioError as exc:
        return path, None, str(exc)


def _lookup(pipeline: FeaturePipeline, cache, path: str):
    """Every extractor's cached vector for ``path`` (``None`` where missing), keys and counts."""
    counts = {"decoded": 0, "hits": 0, "misses": 0, "corrupt": 0}
    try:
        keys = cache.keys_for(sha256_file(path), pipeline.extractors, pipeline.audio)
    except OSError:
        keys = None  # unreadable: let the decoder report it in its words
    vectors = [None] * len(pipeline.extractors)
    if keys is not None:
        for i, key in enumerate(keys):
            vectors[i], corrupt = cache.get(key)
            counts["corrupt"] += corrupt
    counts["hits"] = sum(v is not None for v in vectors)
    counts["misses"] = len(vectors) - counts["hits"]
    return keys, vectors, counts


def _extract_cached(job, path: str):
    """Worker: every extractor's vector from the cache; decode only if one is missing.

    Returns ``(path, vector, error, counts)`` with counts of decoded files,
    cache hits, misses and damaged entries.
    """
    pipeline, cache = job
    keys, vectors, counts = _lookup(pipeline, cache, path)
    missing = [i for i, v in enumerate(vectors) if v is None]
    if missing:
        try:
            y = pipeline.load(path)
        except AudioError as exc:
            return path, None, str(exc), counts
        counts["decoded"] = 1
        computed = pipeline.parts(y, [pipeline.extractors[i] for i in missing])
        for i, vector in zip(missing, computed):
            vectors[i] = vector
            if keys is not None:
                cache.put(keys[i], vector)
    return path, np.concatenate(vectors), None, counts


def extract_table(items, pipeline: FeaturePipeline, extraction=None, progress: bool = True):
    """Extract features for every row of a dataset listing.

    Parameters
    ----------
    items : pandas.DataFrame
        Columns ``path``, ``label``, ``speaker`` (from a dataset plugin).
    pipeline : FeaturePipeline
    extraction : dict or ExtractionSettings
        The config's ``extraction`` section (``n_jobs``, ``backend``, ``cache``...);
        missing keys take their defaults.
    progress : bool
        Show a progress bar.

    Returns
    -------
    pandas.DataFrame
        One row per clip: ``path``, ``label``, ``speaker`` then ``f0..fN``.
    """
    import pandas as pd

    from .parallel import map_files

    extraction = ExtractionSettings.model_validate(extraction or {})
    paths = items["path"].astype(str).tolist()
    counts = {"decoded": 0, "hits": 0, "misses": 0, "corrupt": 0}
    if extraction.cache:
        from .cache import FeatureCache

        cache = FeatureCache(extraction.cache_dir)
        results, todo = [], []
        for path in paths:  # complete hits are read here: cheaper than shipping them to workers
            _, vectors, c = _lookup(pipeline, cache, path)
            if c["misses"]:
                todo.append(path)
                counts["corrupt"] += c["corrupt"]  # damaged entries are removed by the lookup
                continue
            results.append((path, np.concatenate(vectors), None))
            for k in counts:
                counts[k] += c[k]
        for path, vector, err, c in map_files(_extract_cached, (pipeline, cache), todo, extraction,
                                              progress=progress, warm_up=pipeline.warm_up):
            results.append((path, vector, err))
            for k in counts:
                counts[k] += c[k]
    else:
        results = map_files(_extract_one, pipeline, paths, extraction, progress=progress, warm_up=pipeline.warm_up)
        counts["decoded"] = len(paths)
    failures = [(p, err) for p, _, err in results if err is not None]
    if failures:
        shown = "; ".join(err for _, err in failures[:3])
        more = f" (and {len(failures) - 3} more)" if len(failures) > 3 else ""
        raise DataError(f"{len(failures)} of {len(paths)} clips could not be used: {shown}{more}")
    by_path = {p: v for p, v, _ in results}
    matrix = np.vstack([by_path[p] for p in paths])
    features = pd.DataFrame(matrix, columns=[f"f{i}" for i in range(matrix.shape[1])], index=items.index)
    meta = items[["path", "label", "speaker"]].astype(str)
    table = pd.concat([meta, features], axis=1).reset_index(drop=True)
    table.attrs.update(items.attrs)
    table.attrs["extraction_counts"] = counts  # decoded files, cache hits/misses/damaged entries
    return table


def feature_matrix(table) -> np.ndarray:
    cols = [c for c in table.columns if c.startswith("f") and c[1:].isdigit()]
    return table[cols].to_numpy(dtype=np.float32)
