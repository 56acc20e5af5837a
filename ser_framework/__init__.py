"""ser-framework: speech emotion recognition with pluggable components.

This module is the public API: plugins and front ends import from
``ser_framework`` only (the walls are import-linter contracts, checked in CI).
It is light to import: every name below that needs numpy, librosa, pandas or
TensorFlow is loaded on first use.
"""
from __future__ import annotations

import importlib

from .components import Augmenter, Balancer, Classifier, Component, Dataset, FeatureExtractor, Selector
from .errors import (
    AccountError,
    AudioError,
    AudioNotFoundError,
    AudioTooLongError,
    AudioTooShortError,
    BundleError,
    ConfigError,
    DataError,
    EmptyAudioError,
    InvalidSamplesError,
    NoSpeechError,
    NotAudioError,
    PluginError,
    ProfileError,
    SerError,
    SignInThrottled,
    StoreError,
)
from .hookspecs import hookimpl
from .params import Field, Params, PathField

__version__ = "0.1.0"

#: names loaded on first use: name -> "module" or "module:attribute" that defines it
_LAZY = {
    # audio and features
    "load_audio": "audio", "audio_info": "audio", "AUDIO_SUFFIXES": "audio",
    "encode_audio": "audio_ffmpeg:encode", "codec_round_trip": "audio_ffmpeg:round_trip",
    "AudioContext": "spectral", "pool": "pooling", "STATS": "pooling",
    # configs, plugins, experiments
    "load_config": "config", "get_registry": "plugins",
    "run_training": "experiment", "default_run_dir": "experiment", "build_table": "experiment",
    "evaluate_bundle": "experiment", "load_items": "experiment",
    "classification_report_text": "evaluation", "compute_metrics": "evaluation", "paired_uar_difference": "evaluation",
    # sweeps and ensembles
    "plan_sweep": "sweep", "run_sweep": "sweep", "markdown_table": "sweep_table",
    "fuse_bundles": "fusion", "fuse_probabilities": "fusion", "calibrate_fusion": "fusion",
    "fused_out_of_fold": "fusion", "fused_conditions": "fusion",
    # robustness: evaluation conditions and augmented copies
    "CONDITIONS": "conditions", "condition_report": "conditions", "conditions_report_text": "conditions:report_text",
    # bundles and prediction
    "load_bundle": "bundle", "Bundle": "bundle", "Prediction": "bundle", "MANIFEST": "bundle",
    "MIN_CONFIDENCE": "bundle",
    # speaker profiles (adaptation to one voice)
    "SpeakerProfile": "profiles", "MIN_ENROL_CLIPS": "profiles",
    # honest confidence: calibration and the voice check
    "expected_calibration_error": "calibration", "ece_floor": "calibration", "fit_temperature": "calibration",
    "apply_temperature": "calibration", "save_reliability_png": "calibration",
    "check_voice": "voice", "voice_stats": "voice", "pitch_track": "voice",
    "pitch_autocorrelation": "voice", "pick_pitch": "voice",
    # worker processes forked after a model is loaded (ser predict, timelines)
    "fork_pool": "parallel", "fork_state": "parallel", "can_fork": "parallel",
    # long recordings
    "emotion_timeline": "timeline:timeline", "timeline_table": "timeline:table", "write_timeline_csv": "timeline:write_csv",
    "clock": "timeline.export",
    # live emotion: the streaming analyser shared by timelines, ser listen and the app's Live mode
    "StreamAnalyser": "timeline.analyser", "WindowResult": "timeline.analyser",
    "LiveAnalyser": "timeline.live", "play_recording": "timeline.live:play",
    # personal data: accounts, stored profiles, history (SQLite in the data folder)
    "DataStore": "store", "UserData": "store", "HistoryEntry": "store", "data_dir": "store",
    "sign_up": "store", "sign_in": "store", "user_by_id": "store", "local_user": "store",
    "history_csv": "store", "history_json": "store", "LOCAL_USER": "store", "SCHEMA_VERSION": "store",
    # files and cache
    "atomic_write_bytes": "atomic", "FeatureCache": "cache", "CACHE_FORMAT": "cache:FORMAT",
    "library_versions": "provenance",
}


def __getattr__(name: str):
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'ser_framework' has no attribute {name!r}")
    module, _, attr = target.partition(":")
    value = getattr(importlib.import_module(f".{module}", __name__), attr or name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)


__all__ = [
    "__version__", "hookimpl", "Params", "Field", "PathField",
    "Component", "Dataset", "FeatureExtractor", "Balancer", "Selector", "Classifier", "Augmenter",
    "SerError", "ConfigError", "PluginError", "DataError", "BundleError", "AudioError", "AudioNotFoundError",
    "NotAudioError", "EmptyAudioError", "InvalidSamplesError", "AudioTooShortError", "AudioTooLongError",
    "NoSpeechError", "ProfileError", "StoreError", "AccountError", "SignInThrottled",
    *_LAZY,
]
