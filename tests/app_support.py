"""Shared by the web-app tests: a model bundle to serve and clips made from the corpus.

The bundle named by ``$SER_TEST_MODEL`` is used if set (to check a candidate model in the
browser tests before it is shipped); else the shipped default model when it is installed (CI
and a person's checkout after the lead commits it); otherwise a tiny bundle is trained once per
test session.
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared/data/ravdess"
APP_FILE = ROOT / "frontends/app/streamlit_app.py"
#: an angry, strong-intensity sentence by actor 5
CLIP = CORPUS / "Actor_05/03-01-05-02-01-01-05.flac"

TINY_CONFIG = {
    "name": "app-test",
    "seed": 0,
    "dataset": {"name": "ravdess", "params": {"root": str(CORPUS), "actors": [1, 2]}},
    "features": [{"name": "mfcc"}],
    "extraction": {"n_jobs": 1, "cache": False},
    "selectors": [{"name": "standard_scaler"}],
    "classifier": {"name": "logistic_regression"},
    "evaluation": {"protocol": "holdout_speakers", "test_speakers": ["actor_02"], "refit": False},
}


def default_model_installed() -> bool:
    from ser_framework.bundle import DEFAULT_BUNDLE, MANIFEST

    return (DEFAULT_BUNDLE / MANIFEST).is_file()


def bundle_for_tests(tmp_path_factory) -> str | None:
    """``$SER_TEST_MODEL`` if set; ``None`` (serve the shipped default) if installed; else a tiny trained bundle."""
    if os.environ.get("SER_TEST_MODEL"):
        return str(Path(os.environ["SER_TEST_MODEL"]).resolve())
    if default_model_installed():
        return None
    run_dir = tmp_path_factory.getbasetemp() / "app-tiny-run"
    if not (run_dir / "model").is_dir():
        from ser_framework.config import load_config
        from ser_framework.experiment import run_training

        cfg_path = tmp_path_factory.getbasetemp() / "app-tiny.yaml"
        cfg_path.write_text(yaml.safe_dump(TINY_CONFIG))
        config, registry = load_config(cfg_path)
        run_training(config, registry, run_dir, progress=False)
    return str(run_dir / "model")


def m4a_bytes(path: Path = CLIP) -> bytes:
    """A corpus clip as a phone's voice memo holds it: AAC in M4A (``ser_framework.encode_audio``)."""
    import soundfile as sf

    from ser_framework import encode_audio

    y, sr = sf.read(path, dtype="float32")
    return encode_audio(y, sr, "aac")[0]


def wav_bytes(path: Path = CLIP, seconds: float | None = None, subtype: str = "PCM_16") -> bytes:
    """A corpus clip converted to WAV in memory (optionally cut to ``seconds``)."""
    import soundfile as sf

    y, sr = sf.read(path, dtype="float32")
    if seconds is not None:
        y = y[: int(seconds * sr)]
    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV", subtype=subtype)
    return buf.getvalue()
