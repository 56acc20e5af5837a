"""A content-addressed cache of feature vectors.

One entry holds one extractor's vector for one recording. Its key is the
SHA-256 of a JSON document naming

* the SHA-256 of the audio file's bytes (so renaming or copying a file keeps
  its entries, and editing it makes new ones),
* the extractor's name, validated params and ``version`` attribute,
* the audio settings that change samples (target sample rate),
* the versions of the libraries that change results (numpy, librosa, scipy,
  soundfile, soxr) and :data:`FORMAT`.

Entries are written to a temporary file and moved into place with
``os.replace``, so an interrupted run never leaves a half-written entry under a
real key; each entry carries the SHA-256 of its payload, so a damaged one is
detected on read, removed and recomputed.

Location: ``extraction.cache_dir`` in a config, else ``$SER_CACHE_DIR``, else
``$XDG_CACHE_HOME/ser-framework``, else ``~/.cache/ser-framework``.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .atomic import atomic_write_bytes
from .provenance import library_versions

#: bump when the entry layout or the shared spectral code changes results
FORMAT = 1
ENV_VAR = "SER_CACHE_DIR"
APP_DIR = "ser-framework"
MAGIC = b"SERFEAT2"  # then the payload's SHA-256, then little-endian float32 values
SUFFIX = ".feat"
_DIGEST = 32
#: distributions whose versions are part of every key
VERSIONED = ("numpy", "scipy", "librosa", "soundfile", "soxr")


def default_cache_dir() -> Path:
    """``$SER_CACHE_DIR``, else ``$XDG_CACHE_HOME/ser-framework``, else ``~/.cache/ser-framework``."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / APP_DIR


def resolve_cache_dir(configured=None) -> Path:
    """The configured folder if given, else :func:`default_cache_dir`."""
    return Path(configured).expanduser() if configured else default_cache_dir()


def extractor_identity(extractor) -> dict:
    """What about an extractor decides its output: name, params and code version."""
    return {
        "name": extractor.name,
        "params": extractor.config,
        "version": str(getattr(extractor, "version", "1")),
    }


def encode_entry(vector: np.ndarray) -> bytes:
    payload = np.ascontiguousarray(vector, dtype="<f4").ravel().tobytes()
    return MAGIC + hashlib.sha256(payload).digest() + payload


def decode_entry(data: bytes) -> np.ndarray | None:
    """The vector in an entry, or ``None`` if the entry is damaged."""
    head = len(MAGIC) + _DIGEST
    if len(data) <= head or not data.startswith(MAGIC) or (len(data) - head) % 4:
        return None
    payload = memoryview(data)[head:]
    if hashlib.sha256(payload).digest() != data[len(MAGIC):head]:
        return None
    return np.frombuffer(payload, dtype="<f4").astype(np.float32)


@dataclass
class CacheStats:
    entries: int = 0
    bytes: int = 0
    partial: int = 0  # temporary files left by interrupted writers


class FeatureCache:
    """A folder of entries ``<root>/v<FORMAT>/<key[:2]>/<key>.feat``.

    Picklable (it holds only paths and strings), so joblib workers use it too.
    """

    def __init__(self, root=None):
        self.root = resolve_cache_dir(root)
        self._versions = library_versions(VERSIONED)

    @property
    def data_dir(self) -> Path:
        return self.root / f"v{FORMAT}"

    # keys -------------------------------------------------------------------
    def keys_for(self, audio_digest: str, extractors, audio: dict) -> list[str]:
        """One key per extractor for the recording whose bytes hash to ``audio_digest``."""
        return [hashlib.sha256(prefix + audio_digest.encode()).hexdigest()
                for prefix in self._prefixes(tuple(extractors), int(audio["sample_rate"]))]

    def _prefixes(self, extractors: tuple, sample_rate: int) -> list[bytes]:
        """Everything in a key but the audio digest, serialised once per extractor set."""
        memo = self.__dict__.setdefault("_prefix_memo", {})
        ident = (tuple(id(e) for e in extractors), sample_rate,
                 json.dumps([extractor_identity(e) for e in extractors], sort_keys=True, default=str),
                 json.dumps(self._versions, sort_keys=True))
        if ident not in memo:
            memo[ident] = [
                json.dumps({"format": FORMAT, "sample_rate": sample_rate, "extractor": extractor_identity(e),
                            "versions": self._versions}, sort_keys=True, default=str).encode() + b"|audio_sha256="
                for e in extractors
            ]
        return memo[ident]

    def __getstate__(self):
        return {"root": self.root, "_versions": self._versions}

    def path_of(self, key: str) -> Path:
        return self.data_dir / key[:2] / f"{key}{SUFFIX}"

    # entries ----------------------------------------------------------------
    def get(self, key: str) -> tuple[np.ndarray | None, bool]:
        """``(vector, corrupt)``: the stored vector, or ``None``; a damaged entry is removed."""
        path = self.path_of(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None, False
        except OSError:
            return None, False
        vector = decode_entry(data)
        if vector is None:
            try:
                path.unlink()
            except OSError:
                pass
            return None, True
        return vector, False

    def put(self, key: str, vector: np.ndarray) -> bool:
        """Store ``vector`` atomically (temporary file + ``os.replace``); False if the folder is unusable."""
        try:
            atomic_write_bytes(self.path_of(key), encode_entry(vector), durable=False)
        except OSError:
            return False
        return True

    # maintenance ------------------------------------------------------------
    def stats(self) -> CacheStats:
        out = CacheStats()
        if not self.root.is_dir():
            return out
        for path in self.root.rglob("*"):
            if not path.is_file():
                continue
            if path.suffix == SUFFIX:
                out.entries += 1
            elif path.suffix == ".tmp":
                out.partial += 1
            else:
                continue
            try:
                out.bytes += path.stat().st_size
            except OSError:
                pass
        return out

    def clear(self) -> CacheStats:
        """Remove every entry and leftover temporary file; return what was removed."""
        import shutil

        removed = self.stats()
        if self.root.is_dir():
            for child in self.root.iterdir():
                if child.is_dir() and child.name.startswith("v") and child.name[1:].isdigit():
                    shutil.rmtree(child, ignore_errors=True)
        return removed


__all__ = ["FeatureCache", "CacheStats", "default_cache_dir", "resolve_cache_dir", "FORMAT"]
