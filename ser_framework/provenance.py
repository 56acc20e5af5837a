"""Where results come from: file digests and the versions of the libraries that made them."""
from __future__ import annotations

import functools
import hashlib
import platform
from importlib import metadata


def sha256_file(path) -> str:
    """SHA-256 (hex) of a file's bytes, read in blocks."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


@functools.cache
def library_versions(dists: tuple[str, ...], python: bool = False) -> dict[str, str]:
    """``{distribution: version}`` for ``dists`` ("absent" when not installed), plus Python's if asked."""
    out = {"python": platform.python_version()} if python else {}
    for dist in dists:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "absent"
    return out
