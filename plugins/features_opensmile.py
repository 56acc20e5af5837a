"""Feature extractor plugin ``opensmile``: the standard openSMILE functionals (eGeMAPS, ComParE) - an extra.

It needs the ``opensmile`` package (its wheel carries the openSMILE binary and runs offline),
which is not part of the default install because its licence allows research, personal and
educational use only: ``pip install 'ser-framework[opensmile]'``. Without it, building the
extractor fails with a message that says so. Not used by the shipped default model.
"""
from __future__ import annotations

import functools
from typing import Literal

import numpy as np

from ser_framework import FeatureExtractor, Field, Params, PluginError, hookimpl

#: openSMILE feature sets at the functionals level (values per clip)
FEATURE_SETS = ("eGeMAPSv02", "GeMAPSv01b", "ComParE_2016", "emobase")
INSTALL_HINT = ("the feature 'opensmile' needs the optional package opensmile (licence: research, personal and "
                "educational use only); install it with: pip install 'ser-framework[opensmile]'")


def _require_opensmile():
    try:
        import opensmile
    except ImportError as exc:
        raise PluginError(INSTALL_HINT) from exc
    return opensmile


@functools.lru_cache(maxsize=4)
def _smile(feature_set: str):
    """One openSMILE extractor per feature set and process (functionals of the whole clip)."""
    opensmile = _require_opensmile()
    return opensmile.Smile(feature_set=getattr(opensmile.FeatureSet, feature_set),
                           feature_level=opensmile.FeatureLevel.Functionals)


class OpenSmileParams(Params):
    """Which openSMILE set, and the rate the clip is resampled to first."""

    feature_set: Literal[FEATURE_SETS] = Field("eGeMAPSv02", description="openSMILE functionals set "
                                               "(eGeMAPSv02: 88 values, ComParE_2016: 6373)")
    sample_rate: int = Field(16000, ge=8000, le=48000, description="the clip is resampled to this rate (Hz) first")


class OpenSmile(FeatureExtractor):
    """openSMILE functionals (eGeMAPSv02, ComParE_2016, ...) of the whole clip; needs the ``opensmile`` extra."""

    name = "opensmile"
    Params = OpenSmileParams

    def __init__(self, params: OpenSmileParams | None = None):
        super().__init__(params)
        _require_opensmile()  # fail when the config is built, not in the middle of extraction

    def extract(self, ctx) -> np.ndarray:
        sr = self.params.sample_rate
        y = np.asarray(ctx.resampled(sr), dtype=np.float32)
        if len(y) < sr // 10:  # openSMILE needs a few frames; pad very short clips with silence
            y = np.pad(y, (0, sr // 10 - len(y)))
        values = _smile(self.params.feature_set).process_signal(y, sr).to_numpy(dtype=np.float64)[0]
        return np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)


@hookimpl
def register_features(register):
    register(OpenSmile)
