"""Augmented audio: chains of augmenters, their seeds, and the cached features of augmented clips.

A :class:`Chain` applies augmenters (built by the registry from config
entries) in order; each step gets its own generator spawned from one
``numpy.random.SeedSequence``, and a step whose params declare ``p`` runs with
that probability. A :class:`Variant` is a chain plus a seed and a tag (``copy:2``,
``condition:pink_10db``): applied to a clip it is seeded by (seed, the clip's
audio digest, tag), so the same clip always gets the same samples. Features of a
variant are cached under a digest of (audio digest, chain identity, seed, tag) in
the ordinary :class:`~ser_framework.cache.FeatureCache`.

Training copies (the config's ``augmentation`` section) are extra rows of the
feature table with ``copy`` = 1..copies; the orchestrator trains on them only
inside training folds (see :func:`ser_framework.experiment.evaluate_folds`).
"""
from __future__ import annotations

import hashlib
import json
import zlib
from dataclasses import dataclass

import numpy as np

from .errors import AudioError, DataError, SerError
from .provenance import library_versions, sha256_file

#: libraries whose versions change augmented samples (numpy, scipy, librosa, soundfile and soxr
#: are already in every feature-cache key)
VERSIONED = ("audiomentations",)


class Chain:
    """Augmenters applied in order, each with its own seeded generator and probability ``p``."""

    def __init__(self, augmenters):
        self.augmenters = list(augmenters)

    @classmethod
    def from_entries(cls, entries, registry, path: str = "augmentation.chain") -> Chain:
        return cls([registry.build("augmenter", e, f"{path}.{i}") for i, e in enumerate(entries)])

    def identity(self) -> list[dict]:
        """What decides the output: every augmenter's name, params and version."""
        return [{"name": a.name, "params": a.config, "version": str(getattr(a, "version", "1"))}
                for a in self.augmenters]

    def apply(self, y: np.ndarray, sr: int, entropy) -> np.ndarray:
        """Augment mono ``y`` at ``sr``; ``entropy`` (ints) seeds every random choice."""
        steps = np.random.SeedSequence(entropy).spawn(len(self.augmenters))
        for augmenter, step in zip(self.augmenters, steps):
            rng = np.random.default_rng(step)
            p = getattr(augmenter.params, "p", 1.0)
            if rng.random() >= p:  # drawn for every step, so p does not shift the step's later draws
                continue
            y = _checked(augmenter.apply(y, sr, rng), augmenter.name)
        return y


def _checked(y, name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or y.size == 0:
        raise SerError(f"augmenter '{name}' returned {y.shape} samples; expected a non-empty mono array")
    if not np.all(np.isfinite(y)):
        raise SerError(f"augmenter '{name}' returned NaN or infinite samples")
    return np.ascontiguousarray(y, dtype=np.float32)


class Variant:
    """One augmented version of every clip: a chain, a seed and a tag naming it."""

    def __init__(self, chain: Chain, seed: int, tag: str):
        self.chain, self.seed, self.tag = chain, int(seed), str(tag)
        self._ident = json.dumps({"augmentation": chain.identity(), "seed": self.seed, "tag": self.tag,
                                  "versions": library_versions(VERSIONED)}, sort_keys=True, default=str)

    def entropy(self, audio_digest: str) -> list[int]:
        """Seed material: the seed, the clip's audio digest and the tag."""
        return [self.seed, int(audio_digest[:32], 16), zlib.crc32(self.tag.encode())]

    def digest(self, audio_digest: str) -> str:
        """Stands in for the audio digest in feature-cache keys of this variant of the clip."""
        return hashlib.sha256(f"{self._ident}|audio_sha256={audio_digest}".encode()).hexdigest()

    def apply(self, y: np.ndarray, sr: int, audio_digest: str) -> np.ndarray:
        return self.chain.apply(y, sr, self.entropy(audio_digest))


def training_variants(augmentation: dict, registry, seed: int) -> list[Variant]:
    """The ``augmentation`` config section as one variant per copy (``copy:1`` ... ``copy:N``)."""
    chain = Chain.from_entries(augmentation["chain"], registry)
    return [Variant(chain, seed, f"copy:{k}") for k in range(1, int(augmentation["copies"]) + 1)]


# ----------------------------------------------------------------------------- extraction
def _variants_job(job, path: str, lookup_only: bool = False):
    """Every variant's feature vector for one clip: from the cache, else decode once and compute.

    Returns ``(path, [vector per variant] or None, error or None, counts)``;
    with ``lookup_only`` the vectors are ``None`` unless all were cached.
    """
    pipeline, cache, variants = job
    counts = {"decoded": 0, "hits": 0, "misses": 0, "corrupt": 0}
    try:
        digest = sha256_file(path)
    except OSError as exc:
        return path, None, f"{path}: cannot read ({exc.strerror or exc})", counts
    y, out = None, []
    for variant in variants:
        keys = cache.keys_for(variant.digest(digest), pipeline.extractors, pipeline.audio) if cache else None
        vectors = [None] * len(pipeline.extractors)
        for i, key in enumerate(keys or ()):
            vectors[i], corrupt = cache.get(key)
            counts["corrupt"] += corrupt
        missing = [i for i, v in enumerate(vectors) if v is None]
        counts["hits"] += len(vectors) - len(missing)
        counts["misses"] += len(missing)
        if missing and lookup_only:
            return path, None, None, counts
        if missing:
            if y is None:
                try:
                    y = pipeline.load(path)
                except AudioError as exc:
                    return path, None, str(exc), counts
                counts["decoded"] = 1
            z = variant.apply(y, pipeline.sample_rate, digest)
            for i, vector in zip(missing, pipeline.parts(z, [pipeline.extractors[i] for i in missing])):
                vectors[i] = vector
                if keys is not None:
                    cache.put(keys[i], vector)
        out.append(np.concatenate(vectors))
    return path, out, None, counts


def extract_variants(paths, pipeline, variants, extraction=None, progress: bool = True,
                     desc: str = "augmenting"):
    """Feature rows of every clip in ``paths`` under every variant.

    Each clip is decoded at most once (and not at all when every vector is
    cached). Returns ``(matrices, counts)``: one ``len(paths) × n_features``
    array per variant, and counts of decoded clips and cache hits/misses.
    """
    from .cache import FeatureCache
    from .config import ExtractionSettings
    from .parallel import map_files

    extraction = ExtractionSettings.model_validate(extraction or {})
    paths = [str(p) for p in paths]
    variants = list(variants)
    cache = FeatureCache(extraction.cache_dir) if extraction.cache else None
    job = (pipeline, cache, variants)
    counts = {"decoded": 0, "hits": 0, "misses": 0, "corrupt": 0}
    results, todo = {}, []
    for path in dict.fromkeys(paths):
        if cache is None:
            todo.append(path)
            continue
        _, vectors, _, c = _variants_job(job, path, lookup_only=True)  # complete hits are read here
        if vectors is None:
            todo.append(path)
            counts["corrupt"] += c["corrupt"]
            continue
        results[path] = (vectors, None)
        for k in counts:
            counts[k] += c[k]
    for path, vectors, err, c in map_files(_variants_job, job, todo, extraction, progress=progress, desc=desc,
                                           warm_up=pipeline.warm_up):
        results[path] = (vectors, err)
        for k in counts:
            counts[k] += c[k]
    failures = [err for _, err in results.values() if err is not None]
    if failures:
        more = f" (and {len(failures) - 3} more)" if len(failures) > 3 else ""
        raise DataError(f"{len(failures)} of {len(results)} clips could not be augmented: "
                        f"{'; '.join(failures[:3])}{more}")
    matrices = [np.vstack([results[p][0][j] for p in paths]) if paths else np.zeros((0, 0), np.float32)
                for j in range(len(variants))]
    return matrices, counts


# ----------------------------------------------------------------------------- training copies
@dataclass
class TrainingCopies:
    """Augmented training rows: features, labels, speakers and the row of the original clip of each."""

    X: np.ndarray
    y: np.ndarray
    speakers: np.ndarray
    clip: np.ndarray

    def of(self, clips) -> np.ndarray:
        """Indices of the copies whose original clip is in ``clips``."""
        return np.flatnonzero(np.isin(self.clip, clips))

    def numbers(self) -> np.ndarray:
        """Each copy's number k (1, 2, ...) among its clip's copies, in row order."""
        seen: dict[int, int] = {}
        out = np.empty(len(self.clip), dtype=int)
        for i, c in enumerate(self.clip.tolist()):
            seen[c] = out[i] = seen.get(c, 0) + 1
        return out

    def add_to(self, X, y, speakers, clips=None):
        """``(X, y, speakers)`` of the original rows followed by the copies of ``clips`` (default: all)."""
        extra = slice(None) if clips is None else self.of(clips)
        return tuple(np.concatenate([a, b[extra]]) for a, b in zip((X, y, speakers), (self.X, self.y, self.speakers)))


def augment_table(table, pipeline, config: dict, registry, progress: bool = True):
    """The feature table plus ``copies`` augmented rows per clip, marked by a ``copy`` column.

    Originals come first with ``copy`` = 0, then every clip's copy 1, copy 2, ...
    Copy k of a clip is seeded by (config seed, the clip's audio, k). Chains are
    drawn per clip: with per-speaker feature normalisation, one would rather give
    all copies k of a speaker the same chain (NOTES, robustness probe), so the
    speaker's statistics describe one channel; nothing here normalises per speaker.
    """
    import pandas as pd

    augmentation = config.get("augmentation")
    if not augmentation:
        return table
    table = table.copy()
    table.insert(3, "copy", 0)
    if table["path"].duplicated().any():
        raise DataError("augmentation needs every clip path to be unique; the dataset lists some twice")
    variants = training_variants(augmentation, registry, config["seed"])
    matrices, counts = extract_variants(table["path"].tolist(), pipeline, variants, config["extraction"],
                                        progress=progress, desc="augmenting")
    feature_cols = [c for c in table.columns if c.startswith("f") and c[1:].isdigit()]
    parts = [table]
    for k, matrix in enumerate(matrices, start=1):
        part = table[["path", "label", "speaker"]].copy()
        part["copy"] = k
        parts.append(pd.concat([part, pd.DataFrame(matrix, columns=feature_cols, index=part.index)], axis=1))
    out = pd.concat(parts, ignore_index=True)
    out.attrs.update(table.attrs)
    out.attrs["augmentation_counts"] = counts
    return out


def split_copies(table):
    """``(originals, copies)``: the rows with ``copy`` = 0 (all rows if there is no such column) and the rest.

    ``copies`` is a :class:`TrainingCopies` (``None`` without augmented rows).
    """
    from .extraction import feature_matrix

    if "copy" not in table.columns or not (table["copy"] > 0).any():
        return table.reset_index(drop=True), None
    is_copy = table["copy"].to_numpy() > 0
    originals = table[~is_copy].reset_index(drop=True)
    originals.attrs.update(table.attrs)
    extra = table[is_copy]
    index = {p: i for i, p in enumerate(originals["path"])}
    missing = sorted(set(extra["path"]) - set(index))
    if missing or len(index) < len(originals):
        raise DataError("the feature table's augmented rows do not match its originals one to one "
                        f"(paths must be unique; e.g. {missing[:1] or 'a duplicate path'})")
    labels = sorted(originals["label"].unique().tolist())
    copies = TrainingCopies(
        X=feature_matrix(extra),
        y=np.searchsorted(labels, extra["label"].to_numpy()),
        speakers=extra["speaker"].astype(str).to_numpy(),
        clip=np.array([index[p] for p in extra["path"]]),
    )
    return originals, copies
