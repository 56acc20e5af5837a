"""ser-framework: speech emotion recognition with pluggable components.

Light to import: heavy libraries (TensorFlow, librosa) load only when a
component needs them.
"""
from __future__ import annotations

from .hookspecs import hookimpl
from .schema import Param

__version__ = "0.1.0"


def load_bundle(path=None):
    """Load a model bundle (the shipped default model when ``path`` is None)."""
    from .bundle import load_bundle as _load

    return _load(path)


__all__ = ["hookimpl", "Param", "load_bundle", "__version__"]
