"""Augmenters, the evaluation conditions and augmented training copies (issue 10, items 1-2)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from conftest import tiny_config_dict

from ser_framework.augmentation import Chain, Variant
from ser_framework.conditions import CONDITIONS, IN_ALL, condition_variants, resolve_names
from ser_framework.config import load_config, validate
from ser_framework.errors import ConfigError
from ser_framework.experiment import run_training
from ser_framework.plugins import get_registry
from ser_frontends.cli.main import cli
from ser_plugins.augmenters import active_power

HERE = Path(__file__).parent
SR = 16000
BUILT_IN_AUGMENTERS = ("resample", "noise", "gain", "reverb", "codec", "trim", "pad", "speed", "pitch_shift", "quantize",
                       "webrtc")


@pytest.fixture(autouse=True)
def _no_autoload(monkeypatch):
    monkeypatch.setenv("SER_DISABLE_PLUGIN_AUTOLOAD", "1")


@pytest.fixture(scope="module")
def registry():
    return get_registry(load_entrypoints=False)


def voiced(seconds: float = 2.0, sr: int = SR, seed: int = 0):
    """Two voiced stretches (harmonic 150 Hz with vibrato) between near-silent pauses; and the voiced mask."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f0 = 150 * (1 + 0.03 * np.sin(2 * np.pi * 4 * t))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    y = sum(np.sin(k * phase) / k for k in range(1, 8))
    mask = ((t > 0.25 * seconds) & (t < 0.45 * seconds)) | ((t > 0.55 * seconds) & (t < 0.85 * seconds))
    y = 0.3 * y / np.max(np.abs(y)) * mask + 1e-5 * rng.standard_normal(t.size)
    return y.astype(np.float32), mask


def _build(registry, name, **params):
    return registry.build("augmenter", {"name": name, "params": params})


# ------------------------------------------------------------------ each augmenter
@pytest.mark.parametrize("name", BUILT_IN_AUGMENTERS)
def test_augmenter_keeps_the_rate_and_is_deterministic(registry, name):
    y, _ = voiced()
    augmenter = registry.build("augmenter", name)
    a = augmenter.apply(y, SR, np.random.default_rng(7))
    b = augmenter.apply(y, SR, np.random.default_rng(7))
    assert a.dtype == np.float32 and a.ndim == 1 and np.all(np.isfinite(a))
    np.testing.assert_array_equal(a, b)
    if name == "trim":
        assert 0.1 * SR <= len(a) < len(y)  # the pauses at both ends are cut
    elif name == "pad":
        p = augmenter.params
        assert 2 * p.min_seconds * SR <= len(a) - len(y) <= 2 * p.max_seconds * SR + 2
    elif name == "speed":
        p = augmenter.params
        assert len(y) / p.max_factor - 2 <= len(a) <= len(y) / p.min_factor + 2
    else:
        assert abs(len(a) - len(y)) <= 2  # same rate in and out: same duration


@pytest.mark.parametrize("snr", [0.0, 10.0, 20.0, 30.0])
def test_noise_snr_is_relative_to_the_speech(registry, snr):
    y, mask = voiced()
    noisy = _build(registry, "noise", min_snr_db=snr, max_snr_db=snr, min_slope_db=-3.01,
                   max_slope_db=-3.01).apply(y, SR, np.random.default_rng(1))
    noise = noisy.astype(np.float64) - y
    speech_power = np.mean(y[mask].astype(np.float64) ** 2)  # the voiced stretches, known by construction
    measured = 10 * np.log10(speech_power / np.mean(noise ** 2))
    assert abs(measured - snr) < 0.5
    assert abs(10 * np.log10(active_power(y, SR) / speech_power)) < 0.5  # the estimate finds the speech


@pytest.mark.parametrize("slope", [0.0, -3.01, -6.02])
def test_noise_slope_in_db_per_octave(registry, slope):
    import scipy.signal

    y = np.zeros(4 * SR, np.float32)
    y[SR: 3 * SR] = 0.1
    noise = _build(registry, "noise", min_snr_db=0, max_snr_db=0, min_slope_db=slope,
                   max_slope_db=slope).apply(y, SR, np.random.default_rng(2)) - y
    f, psd = scipy.signal.welch(noise, SR, nperseg=4096)
    band = (f >= 250) & (f <= 4000)
    fit = np.polyfit(np.log2(f[band]), 10 * np.log10(psd[band]), 1)[0]
    assert abs(fit - slope) < 0.5


def test_resample_band_limits(registry):
    sr = 22050
    t = np.arange(sr) / sr
    y = (0.2 * np.sin(2 * np.pi * 300 * t) + 0.2 * np.sin(2 * np.pi * 6000 * t)).astype(np.float32)
    out = _build(registry, "resample", rates=[8000], quantize=True, p=1.0).apply(y, sr, np.random.default_rng(0))
    spec = np.abs(np.fft.rfft(out[: sr]))
    f = np.fft.rfftfreq(sr, 1 / sr)
    assert spec[np.argmin(abs(f - 6000))] < 1e-3 * spec[np.argmin(abs(f - 300))]  # above 4 kHz: gone
    assert np.allclose(out[1000:-1000], 0.2 * np.sin(2 * np.pi * 300 * t[1000:-1000]), atol=2e-3)


def test_gain_reverb_codec_trim_pad_do_what_they_say(registry):
    y, _ = voiced()
    rng = np.random.default_rng
    quieter = _build(registry, "gain", min_gain_db=-20, max_gain_db=-20).apply(y, SR, rng(0))
    np.testing.assert_allclose(quieter, 0.1 * y, rtol=1e-5, atol=1e-9)
    wet = _build(registry, "reverb", min_rt60=0.5, max_rt60=0.5, min_drr_db=0, max_drr_db=0).apply(y, SR, rng(0))
    assert abs(10 * np.log10(active_power(wet, SR) / active_power(y, SR))) < 0.1  # speech level kept
    pause = slice(int(0.92 * SR), int(1.08 * SR))  # the 0.9-1.1 s pause fills with the tail
    assert np.mean(wet[pause] ** 2) > 100 * np.mean(y[pause] ** 2)
    for fmt in ("ogg", "mp3"):
        coded = _build(registry, "codec", formats=[fmt]).apply(y, SR, rng(0))
        assert len(coded) == len(y) and not np.array_equal(coded, y)
    trimmed = _build(registry, "trim", min_top_db=35, max_top_db=35).apply(y, SR, rng(0))
    assert 1.15 * SR < len(trimmed) < 1.25 * SR  # the 0.5-1.7 s speech span, give or take a frame
    padded = _build(registry, "pad", min_seconds=1, max_seconds=1, min_level_dbfs=-60,
                    max_level_dbfs=-60).apply(y, SR, rng(0))
    assert len(padded) == len(y) + 2 * SR
    assert abs(10 * np.log10(np.mean(padded[: SR].astype(np.float64) ** 2)) + 60) < 0.5


def _f0(y, sr) -> float:
    """The fundamental of a harmonic signal: the strongest autocorrelation lag between 2.5 and 12.5 ms."""
    y = np.asarray(y, np.float64)
    ac = np.correlate(y, y, "full")[len(y) - 1:]
    lo, hi = int(sr / 400), int(sr / 80)
    lag = lo + int(np.argmax(ac[lo:hi]))
    a, b, c = ac[lag - 1: lag + 2]  # parabolic interpolation of the peak
    return sr / (lag + 0.5 * (a - c) / (a - 2 * b + c))


@pytest.mark.parametrize("factor", [0.9, 1.12])
def test_speed_moves_pitch_and_tempo_together(registry, factor):
    y, mask = voiced()
    fast = _build(registry, "speed", min_factor=factor, max_factor=factor, p=1.0).apply(y, SR, np.random.default_rng(0))
    assert abs(len(fast) - len(y) / factor) <= 2  # the tempo
    part = slice(int(0.6 * SR), int(0.8 * SR))  # inside the second voiced stretch, before and after
    moved = slice(int(part.start / factor), int(part.stop / factor))
    assert _f0(fast[moved], SR) / _f0(y[part], SR) == pytest.approx(factor, rel=0.01)  # the pitch


@pytest.mark.parametrize("semitones", [-2.0, 3.0])
def test_pitch_shift_moves_the_pitch_and_keeps_the_tempo(registry, semitones):
    y, mask = voiced()
    shifted = _build(registry, "pitch_shift", min_semitones=semitones, max_semitones=semitones,
                     p=1.0).apply(y, SR, np.random.default_rng(0))
    assert len(shifted) == len(y)
    part = slice(int(0.6 * SR), int(0.8 * SR))
    assert _f0(shifted[part], SR) / _f0(y[part], SR) == pytest.approx(2 ** (semitones / 12), rel=0.01)
    silent = slice(int(0.05 * SR), int(0.4 * SR))  # the stretches stay where they were
    assert np.mean(shifted[silent] ** 2) < 1e-3 * np.mean(shifted[part] ** 2)


@pytest.mark.parametrize("fmt, sr", [("aac", SR), ("aac", 22050), ("opus", SR), ("opus", 22050), ("opus", 11025),
                                     ("amr", SR), ("amr", 22050)])
def test_codec_phone_and_browser_round_trips(registry, fmt, sr):
    """AAC in M4A, Opus in WebM, AMR-NB (FFmpeg): the same rate, the speech kept, the codec's own delay only."""
    import soxr

    y, _ = voiced()
    y = y if sr == SR else soxr.resample(y, SR, sr).astype(np.float32)
    codec = _build(registry, "codec", formats=[fmt])
    coded = codec.apply(y, sr, np.random.default_rng(0))
    assert coded.dtype == np.float32 and not np.array_equal(coded[: len(y)], y)
    np.testing.assert_array_equal(coded, codec.apply(y, sr, np.random.default_rng(1)))  # no randomness in it
    part = slice(int(0.5 * sr), int(1.7 * sr))  # the speech
    if fmt == "amr":  # a speech codec at 8 kHz: the band below 4 kHz, its shape kept, not its waveform
        low = soxr.resample(soxr.resample(y, sr, 8000), 8000, sr)
        lag = max(range(0, sr // 40), key=lambda k: float(low[part] @ coded[part.start + k: part.stop + k]))
        a, b = low[part], coded[part.start + lag: part.stop + lag]
        assert float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)) > 0.4
        spectrum, f = np.abs(np.fft.rfft(coded[part])), np.fft.rfftfreq(part.stop - part.start, 1 / sr)
        assert spectrum[f > 4200].max() < 0.01 * spectrum.max()
        assert len(y) <= len(coded) <= len(y) + sr // 20
        return
    delay = 1024 if fmt == "aac" else 0  # AAC's encoder delay stays in the decoded track; WebM trims Opus's
    assert len(y) + delay <= len(coded) <= len(y) + delay + 1100 * sr / 16000
    residual = coded[delay:][part] - y[part]
    snr = 10 * np.log10(np.sum(y[part].astype(np.float64) ** 2) / np.sum(residual.astype(np.float64) ** 2))
    assert snr > 10.0, snr  # a lossy copy of the speech, aligned, not noise


def _level_db(y, start: float, stop: float) -> float:
    """Mean power (dB re full scale) of ``y`` between ``start`` and ``stop`` seconds."""
    part = np.asarray(y[int(start * SR): int(stop * SR)], np.float64)
    return float(10 * np.log10(np.mean(part ** 2) + 1e-20))


def test_webrtc_raises_quiet_speech_clips_loud_speech_and_suppresses_noise(registry):
    """What the browser recorder does (NOTES.md): louder speech, clipping, a quieter floor between words."""
    y, mask = voiced(4.0)
    noise = 0.003 * np.random.default_rng(5).standard_normal(y.size).astype(np.float32)
    noisy = 0.1 * y + noise  # speech at about -27 dBFS over a -50 dBFS noise floor
    rng = np.random.default_rng
    plain = _build(registry, "webrtc", min_gain_db=0, max_gain_db=0, noise_suppression=[0], p=1.0)
    cleaned = _build(registry, "webrtc", min_gain_db=0, max_gain_db=0, noise_suppression=[4], p=1.0)
    a, b = plain.apply(noisy, SR, rng(0)), cleaned.apply(noisy, SR, rng(0))
    assert a.dtype == np.float32 and abs(len(a) - len(noisy)) <= 2
    speech, pause = (2.4, 3.3), (3.5, 3.9)  # the second voiced stretch (1 s in, AGC settled), then the pause
    assert _level_db(a, *speech) > _level_db(noisy, *speech) + 3  # the automatic gain raises quiet speech
    assert _level_db(b, *pause) < _level_db(a, *pause) - 10  # noise suppression empties the pauses
    assert abs(_level_db(b, *speech) - _level_db(a, *speech)) < 3  # and keeps the speech
    loud = _build(registry, "webrtc", min_gain_db=20, max_gain_db=20, noise_suppression=[2], p=1.0)
    clipped = loud.apply(y, SR, rng(0))  # peaks at 0.3 + 20 dB: over full scale before processing
    assert np.max(np.abs(clipped)) <= 1.0 and np.mean(np.abs(clipped[mask]) > 0.5) > 0.01
    # the settings are drawn from the rng: same seed, same copy; another seed, another copy
    drawn = _build(registry, "webrtc", p=1.0)
    np.testing.assert_array_equal(drawn.apply(noisy, SR, rng(3)), drawn.apply(noisy, SR, rng(3)))
    assert not np.array_equal(drawn.apply(noisy, SR, rng(3)), drawn.apply(noisy, SR, rng(4)))
    # at 22.05 kHz: back at the clip's rate, and the band above 8 kHz kept (as WebRTC's upper bands)
    t = np.arange(2 * 22050) / 22050
    wide = (np.interp(t, np.arange(y.size) / SR, y) + 0.02 * np.sin(2 * np.pi * 9500 * t)).astype(np.float32)
    at_22k = _build(registry, "webrtc", min_gain_db=0, max_gain_db=0, noise_suppression=[0],
                    p=1.0).apply(wide, 22050, rng(0))
    assert len(at_22k) == len(wide)
    high = [np.abs(np.fft.rfft(x))[np.fft.rfftfreq(len(x), 1 / 22050) > 8500].sum() for x in (wide, at_22k)]
    assert high[1] > 0.3 * high[0]
    assert len(drawn.apply(y[:100], SR, rng(0))) == 100  # shorter than one 10-ms block


def test_webrtc_without_the_package_names_the_extra(registry, monkeypatch):
    import sys

    from ser_framework.errors import PluginError

    monkeypatch.setitem(sys.modules, "webrtc_noise_gain", None)  # import webrtc_noise_gain -> ImportError
    with pytest.raises(PluginError, match=r"pip install 'ser-framework\[webrtc\]'"):
        registry.build("augmenter", "webrtc")


def test_chain_probability_and_seeds(registry):
    y, _ = voiced()
    never = Chain([_build(registry, "noise", p=0.0)])
    np.testing.assert_array_equal(never.apply(y, SR, [1, 2]), y)
    chain = Chain.from_entries([{"name": "noise", "params": {"p": 1.0}}, {"name": "gain", "params": {"p": 1.0}}],
                               registry)
    a, b, c = chain.apply(y, SR, [1, 2]), chain.apply(y, SR, [1, 2]), chain.apply(y, SR, [1, 3])
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    half = Chain([_build(registry, "gain", min_gain_db=-6, max_gain_db=-6, p=0.5)])
    applied = [not np.array_equal(half.apply(y, SR, [s]), y) for s in range(200)]
    assert 70 < sum(applied) < 130


# ------------------------------------------------------------------ conditions
def test_conditions_are_reproducible(registry):
    y, _ = voiced()
    digest = "ab" * 32
    first = condition_variants(list(CONDITIONS), registry, seed=3)
    again = condition_variants(list(CONDITIONS), registry, seed=3)
    other = condition_variants(list(CONDITIONS), registry, seed=4)
    assert set(first) == set(CONDITIONS) - {"clean"}
    for name, variant in first.items():
        out = variant.apply(y, SR, digest)
        np.testing.assert_array_equal(out, again[name].apply(y, SR, digest))
        assert not np.array_equal(out, y), name
        if name in ("pink_20db", "pink_10db", "reverb", "padded_room_noise"):
            assert not np.array_equal(out, other[name].apply(y, SR, digest)), name  # the seed matters
        assert variant.digest(digest) != other[name].digest(digest) != digest


def test_condition_names():
    assert resolve_names(None) == []
    assert resolve_names("all") == list(IN_ALL) == [n for n in CONDITIONS if n not in ("aac", "opus", "amr", "browser")]
    assert resolve_names("aac,opus") == ["clean", "aac", "opus"]  # named only, like browser
    assert resolve_names("browser") == ["clean", "browser"]  # named only: it needs the webrtc extra
    assert resolve_names(["pink_10db", "resample_8k"]) == ["clean", "pink_10db", "resample_8k"]
    assert resolve_names("ogg, mp3") == ["clean", "ogg", "mp3"]
    with pytest.raises(ConfigError, match="unknown condition 'pink_99db'"):
        resolve_names("pink_99db")


def test_variant_digest_depends_on_chain_seed_and_copy(registry):
    chain = Chain.from_entries(["noise"], registry)
    other = Chain.from_entries([{"name": "noise", "params": {"max_snr_db": 20}}], registry)
    d = "cd" * 32
    digests = {Variant(chain, 0, "copy:1").digest(d), Variant(chain, 0, "copy:2").digest(d),
               Variant(chain, 1, "copy:1").digest(d), Variant(other, 0, "copy:1").digest(d)}
    assert len(digests) == 4 and Variant(chain, 0, "copy:1").digest(d) == Variant(chain, 0, "copy:1").digest(d)


# ------------------------------------------------------------------ config
def test_augmentation_config_errors_have_paths(tmp_path):
    raw = tiny_config_dict(tmp_path, tmp_path / "runs")
    raw["augmentation"] = {"copies": 0, "chains": [], "chain": [
        {"name": "noise", "params": {"min_snr_db": 30, "max_snr_db": 5}},
        {"name": "echo"},
        {"name": "codec", "params": {"formats": ["flac"]}},
        {"name": "resample", "params": {"p": 2}},
        7,
    ]}
    raw["evaluation"]["conditions"] = ["pink_10db", "underwater"]
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    problems = dict(info.value.problems)
    assert problems["augmentation.copies"] == "must be >= 1, got 0"
    assert "unknown parameter" in problems["augmentation.chains"]
    assert "min_snr_db (30.0) must be <= max_snr_db (5.0)" in problems["augmentation.chain.0.params"]
    assert "unknown augmenter 'echo'" in problems["augmentation.chain.1.name"]
    assert "must be one of ogg, mp3, aac, opus or amr" in problems["augmentation.chain.2.params.formats.0"]
    assert problems["augmentation.chain.3.params.p"] == "must be <= 1.0, got 2"
    assert "expected a mapping" in problems["augmentation.chain.4"]
    assert "unknown condition 'underwater'" in problems["evaluation.conditions"]
    raw["augmentation"] = "lots"
    raw["evaluation"]["conditions"] = "everything"
    with pytest.raises(ConfigError) as info:
        validate(raw, get_registry())
    problems = dict(info.value.problems)
    assert "expected a mapping with 'copies' and 'chain'" in problems["augmentation"]
    assert "expected null, 'all' or a list" in problems["evaluation.conditions"]


def test_augmentation_config_resolves_defaults(tmp_path):
    raw = tiny_config_dict(tmp_path, tmp_path / "runs")
    assert validate(raw, get_registry())["augmentation"] is None
    raw["augmentation"] = {"chain": ["trim", {"name": "noise", "params": {"p": 1}}]}
    aug = validate(raw, get_registry())["augmentation"]
    assert aug["copies"] == 3
    assert [e["name"] for e in aug["chain"]] == ["trim", "noise"] and aug["chain"][1]["params"]["p"] == 1.0
    assert aug["chain"][0]["params"]["min_top_db"] == 25.0


# ------------------------------------------------------------------ training rows only
def test_augmented_copies_are_only_ever_training_rows(synthetic_corpus_dir, tmp_path):
    registry = get_registry([HERE / "plugin_modules_spy"], load_entrypoints=False)
    spy_clf = registry.get("classifier", "spy_classifier").cls
    spy_bal = registry.get("balancer", "spy_balancer").cls
    spy_clf.fits.clear()
    spy_clf.predictions.clear()
    spy_bal.seen.clear()
    raw = tiny_config_dict(synthetic_corpus_dir, tmp_path, classifier={"name": "spy_classifier"})
    raw.update({"features": ["spy_id"], "selectors": [], "balancer": {"name": "spy_balancer"},
                "augmentation": {"copies": 2, "chain": [{"name": "spy_mark"}]}})
    raw["evaluation"] = {"protocol": "group_kfold", "n_splits": 4}
    config = validate(raw, registry)
    result = run_training(config, registry, tmp_path / "run", progress=False)

    n = 36  # clips of the synthetic corpus
    fold_batches = [(rows, batch) for rows, batch in spy_clf.predictions if len(batch) and batch[:, 0].any()]
    assert len(fold_batches) >= 4
    for train_rows, test_rows in fold_batches:
        assert not test_rows[:, 1].any(), "a test row is an augmented copy"
        assert not set(train_rows[:, 0]) & set(test_rows[:, 0]), "a test clip (or a copy of it) was trained on"
        assert train_rows[:, 1].sum() == 2 * (train_rows[:, 1] == 0).sum()  # both copies of every training clip
    assert len(spy_bal.seen) >= 5 and all(seen[:, 1].any() for seen in spy_bal.seen)  # the balancer sees copies
    final = spy_clf.fits[-1]  # the refit: every clip and every copy
    assert len(final) == 3 * n and len(set(final[:, 0])) == n and final[:, 1].sum() == 2 * n
    assert result.metrics["n"] == n and result.metrics["augmentation"] == {"copies": 2, "training_rows_added": 2 * n}


# ------------------------------------------------------------------ end to end
def test_train_with_augmentation_and_conditions_then_cached(synthetic_corpus_dir, tmp_path, monkeypatch):
    import pandas as pd

    raw = tiny_config_dict(synthetic_corpus_dir, tmp_path / "runs")
    raw["extraction"] = {"n_jobs": 1, "cache": True, "cache_dir": str(tmp_path / "cache")}
    raw["augmentation"] = {"copies": 2, "chain": [
        {"name": "noise", "params": {"min_snr_db": 10, "max_snr_db": 30, "p": 0.8}},
        {"name": "gain", "params": {"min_gain_db": -20, "max_gain_db": 0}},
        {"name": "resample", "params": {"rates": [8000, 16000]}}]}
    raw["evaluation"] = {"protocol": "group_kfold", "n_splits": 2, "conditions": ["resample_8k", "pink_10db"]}
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(yaml.safe_dump(raw))

    result = CliRunner().invoke(cli, ["train", str(cfg), "-o", str(tmp_path / "run1"), "-q"])
    assert result.exit_code == 0, result.output
    assert "UAR per condition: clean" in result.output and "worst condition:" in result.output
    run = tmp_path / "run1"
    metrics = json.loads((run / "metrics.json").read_text())
    assert list(metrics["conditions"]) == ["clean", "resample_8k", "pink_10db"]
    for m in metrics["conditions"].values():
        assert set(m) == {"accuracy", "uar", "macro_f1", "n", "uar_ratio", "ece", "ece_raw", "ece_floor",
                          "ece_floor_p95"} and m["n"] == 36
        assert 0 <= m["ece_floor"] <= 1 and 0 <= m["ece_floor_p95"] <= 1
        assert 0 <= m["ece"] <= 1 and 0 <= m["ece_raw"] <= 1
    assert metrics["conditions"]["clean"]["uar"] == pytest.approx(metrics["uar"])
    worst = metrics["worst_condition"]
    assert worst["name"] in ("resample_8k", "pink_10db")
    assert worst["uar_ratio"] == pytest.approx(worst["uar"] / metrics["uar"])
    assert (run / "conditions.png").stat().st_size > 5000
    assert "worst condition" in (run / "classification_report.txt").read_text()
    table = pd.read_parquet(run / "features.parquet")
    assert table["copy"].value_counts().to_dict() == {0: 36, 1: 36, 2: 36}
    assert len(pd.read_csv(run / "predictions.csv")) == 36

    # the second run reads every vector (originals, copies, conditions) from the cache: nothing is decoded
    from ser_framework.extraction import FeaturePipeline

    decoded = []
    original_load = FeaturePipeline.load
    monkeypatch.setattr(FeaturePipeline, "load", lambda self, source, **kw: decoded.append(source)
                        or original_load(self, source, **kw))
    again = CliRunner().invoke(cli, ["train", str(cfg), "-o", str(tmp_path / "run2"), "-q"])
    assert again.exit_code == 0, again.output
    assert decoded == []
    assert json.loads((tmp_path / "run2" / "metrics.json").read_text())["conditions"] == metrics["conditions"]


def test_evaluate_conditions_json(tiny_bundle_dir, synthetic_corpus_dir):
    result = CliRunner().invoke(cli, ["evaluate", str(synthetic_corpus_dir), "--model", str(tiny_bundle_dir),
                                      "--dataset", "folder", "--json", "--conditions", "resample_16k,ogg"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert list(out["conditions"]) == ["clean", "resample_16k", "ogg"]
    for name, m in out["conditions"].items():
        assert {"accuracy", "uar", "macro_f1", "n", "labels", "confusion", "per_class", "labels_scored",
                "uar_ratio", "ece", "ece_floor", "ece_floor_p95"} <= set(m), name
        assert m["n"] == out["n"] == 36
    assert out["conditions"]["clean"]["uar"] == out["uar"]
    # the clean ECE is that of the bundle's own (calibrated) probabilities for these clips
    from ser_framework import expected_calibration_error, load_bundle

    bundle = load_bundle(tiny_bundle_dir)
    clips = sorted(synthetic_corpus_dir.rglob("*.wav"))
    proba = np.vstack([bundle.predict_features(bundle.pipeline.from_source(c)[None]) for c in clips])
    y = [bundle.labels.index(c.parent.name) for c in clips]
    assert out["conditions"]["clean"]["ece"] == pytest.approx(expected_calibration_error(y, proba), abs=1e-6)
    assert out["worst_condition"]["name"] in ("resample_16k", "ogg")
    text = CliRunner().invoke(cli, ["evaluate", str(synthetic_corpus_dir), "--model", str(tiny_bundle_dir),
                                    "--dataset", "folder", "--conditions", "mp3", "-q"])
    assert text.exit_code == 0 and "worst condition: mp3" in text.output
    bad = CliRunner().invoke(cli, ["evaluate", str(synthetic_corpus_dir), "--model", str(tiny_bundle_dir),
                                   "--dataset", "folder", "--conditions", "underwater"])
    assert bad.exit_code == 1 and "unknown condition 'underwater'" in bad.output and "Traceback" not in bad.output
