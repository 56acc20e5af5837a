"""The content-addressed feature cache: reuse without decoding, atomic writes, damaged entries, CLI."""
from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from click.testing import CliRunner

import ser_framework.extraction as extraction
from ser_framework.cache import FeatureCache, decode_entry, default_cache_dir, encode_entry, resolve_cache_dir
from ser_framework.extraction import FeaturePipeline, extract_table
from ser_framework.plugins import get_registry

SR = 16000


def _tone(freq, seed, seconds=0.4):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.fixture()
def clips(tmp_path):
    paths = []
    for i, f in enumerate((200.0, 330.0, 470.0)):
        p = tmp_path / "audio" / f"spk{i}_{i}.wav"
        p.parent.mkdir(exist_ok=True)
        sf.write(p, _tone(f, i), SR, subtype="PCM_16")
        paths.append(str(p))
    return pd.DataFrame({"path": paths, "label": ["a", "b", "a"], "speaker": ["s0", "s1", "s2"]})


@pytest.fixture(scope="module")
def registry():
    return get_registry(load_entrypoints=False)


def _pipeline(registry, mfcc_params=None):
    specs = [("mfcc", mfcc_params or {"n_mfcc": 13}), ("chroma", {})]
    exts = [registry.build("feature", {"name": name, "params": params}) for name, params in specs]
    return FeaturePipeline(exts, {"sample_rate": 22050})


@pytest.fixture()
def decode_counter(monkeypatch):
    """Count every decode done by extraction (the one decode path, load_audio)."""
    calls = []
    real = extraction.load_audio

    def counting(source, **kw):
        calls.append(str(source))
        return real(source, **kw)

    monkeypatch.setattr(extraction, "load_audio", counting)
    return calls


def _cfg(tmp_path, **kw):
    return {"n_jobs": 1, "cache": True, "cache_dir": str(tmp_path / "cache"), **kw}


def test_second_run_decodes_nothing(tmp_path, clips, registry, decode_counter):
    pipe = _pipeline(registry)
    first = extract_table(clips, pipe, _cfg(tmp_path), progress=False)
    assert len(decode_counter) == 3
    assert first.attrs["extraction_counts"] == {"decoded": 3, "hits": 0, "misses": 6, "corrupt": 0}
    second = extract_table(clips, pipe, _cfg(tmp_path), progress=False)
    assert len(decode_counter) == 3  # no new decode
    assert second.attrs["extraction_counts"]["hits"] == 6
    pd.testing.assert_frame_equal(first, second)
    # and the cached vectors equal a fresh uncached extraction
    fresh = extract_table(clips, pipe, {"n_jobs": 1, "cache": False}, progress=False)
    pd.testing.assert_frame_equal(first, fresh)


def test_only_the_changed_extractor_is_recomputed(tmp_path, clips, registry, decode_counter):
    extract_table(clips, _pipeline(registry), _cfg(tmp_path), progress=False)
    table = extract_table(clips, _pipeline(registry, {"n_mfcc": 20}), _cfg(tmp_path), progress=False)
    counts = table.attrs["extraction_counts"]
    assert counts["hits"] == 3 and counts["misses"] == 3 and counts["decoded"] == 3  # chroma reused


def test_key_follows_content_not_path(tmp_path, clips, registry, decode_counter):
    pipe = _pipeline(registry)
    extract_table(clips, pipe, _cfg(tmp_path), progress=False)
    moved = clips.copy()
    moved.loc[0, "path"] = str(shutil.copy(clips.loc[0, "path"], tmp_path / "renamed.wav"))
    extract_table(moved, pipe, _cfg(tmp_path), progress=False)
    assert len(decode_counter) == 3  # a copy under another name is a hit
    sf.write(clips.loc[1, "path"], _tone(999.0, 7), SR, subtype="PCM_16")  # edited in place
    table = extract_table(clips, pipe, _cfg(tmp_path), progress=False)
    assert decode_counter[3:] == [clips.loc[1, "path"]]
    assert table.attrs["extraction_counts"]["decoded"] == 1


def test_versions_and_params_are_part_of_the_key(tmp_path, registry):
    cache = FeatureCache(tmp_path)
    pipe = _pipeline(registry)
    base = cache.keys_for("ab" * 32, pipe.extractors, {"sample_rate": 22050})
    assert len(set(base)) == 2
    assert cache.keys_for("ab" * 32, pipe.extractors, {"sample_rate": 16000}) != base
    assert cache.keys_for("cd" * 32, pipe.extractors, {"sample_rate": 22050}) != base
    cache._versions = {**cache._versions, "librosa": "0.0.1"}
    assert cache.keys_for("ab" * 32, pipe.extractors, {"sample_rate": 22050}) != base
    cache._versions = FeatureCache(tmp_path)._versions
    pipe.extractors[0].version = "2"  # an extractor that bumps its version
    changed = cache.keys_for("ab" * 32, pipe.extractors, {"sample_rate": 22050})
    assert changed[0] != base[0] and changed[1] == base[1]


def test_damaged_entry_is_detected_and_recomputed(tmp_path, clips, registry, decode_counter):
    pipe = _pipeline(registry)
    first = extract_table(clips, pipe, _cfg(tmp_path), progress=False)
    entries = sorted((tmp_path / "cache").rglob("*.feat"))
    assert len(entries) == 6
    good = entries[0].read_bytes()
    entries[0].write_bytes(good[:-7])  # truncated
    entries[1].write_bytes(good[:40] + b"\x00" * (len(good) - 40))  # digest no longer matches
    again = extract_table(clips, pipe, _cfg(tmp_path), progress=False)
    counts = again.attrs["extraction_counts"]
    assert counts["corrupt"] == 2 and counts["misses"] == 2
    pd.testing.assert_frame_equal(first, again)
    for e in entries[:2]:  # rewritten, valid again
        assert decode_entry(e.read_bytes()) is not None
    third = extract_table(clips, pipe, _cfg(tmp_path), progress=False)
    assert third.attrs["extraction_counts"]["hits"] == 6


def test_interrupted_write_leaves_no_entry(tmp_path, monkeypatch):
    cache = FeatureCache(tmp_path)
    key = "0f" * 32
    vec = np.arange(5, dtype=np.float32)

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cache.put(key, vec)
    monkeypatch.undo()
    assert cache.get(key) == (None, False)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []  # no temporary file left either
    assert cache.put(key, vec)
    got, corrupt = cache.get(key)
    np.testing.assert_array_equal(got, vec)
    assert not corrupt


def test_leftover_temporary_file_is_not_an_entry(tmp_path):
    """A writer killed before os.replace leaves only a *.tmp file, never read as an entry."""
    cache = FeatureCache(tmp_path)
    key = "1e" * 32
    partial = cache.path_of(key).parent / f".{key[:16]}.abc.tmp"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(encode_entry(np.ones(3, np.float32))[:20])
    assert cache.get(key) == (None, False)
    st = cache.stats()
    assert (st.entries, st.partial) == (0, 1)
    cache.clear()
    assert not partial.exists()


def test_entry_format_round_trip_and_rejects_garbage():
    vec = np.linspace(-1, 1, 17, dtype=np.float32)
    np.testing.assert_array_equal(decode_entry(encode_entry(vec)), vec)
    assert decode_entry(b"") is None
    assert decode_entry(b"not an entry at all" * 5) is None


def test_cache_off_writes_nothing(tmp_path, clips, registry):
    extract_table(clips, _pipeline(registry), {"n_jobs": 1, "cache": False, "cache_dir": str(tmp_path / "c")},
                  progress=False)
    assert not (tmp_path / "c").exists()


def test_cache_location(monkeypatch, tmp_path):
    monkeypatch.delenv("SER_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "ser-framework"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "ser-framework"
    monkeypatch.setenv("SER_CACHE_DIR", str(tmp_path / "env"))
    assert default_cache_dir() == tmp_path / "env"
    assert resolve_cache_dir(str(tmp_path / "cfg")) == tmp_path / "cfg"  # config wins
    assert resolve_cache_dir(None) == tmp_path / "env"


def test_rerun_with_only_the_classifier_changed_decodes_nothing(tmp_path, synthetic_corpus_dir, decode_counter):
    from conftest import tiny_config_dict

    from ser_framework.config import validate
    from ser_framework.experiment import build_table

    registry = get_registry(load_entrypoints=False)
    raw = tiny_config_dict(synthetic_corpus_dir, tmp_path)
    raw["extraction"] = {"n_jobs": 1, "cache": True, "cache_dir": str(tmp_path / "cache")}
    first, _ = build_table(validate(raw, registry), registry, progress=False)
    n = len(first)
    assert len(decode_counter) == n
    raw["classifier"] = {"name": "logistic_regression", "params": {"C": 0.5}}
    raw["balancer"] = {"name": "upsample"}
    second, _ = build_table(validate(raw, registry), registry, progress=False)
    assert len(decode_counter) == n
    pd.testing.assert_frame_equal(first, second)


def test_cli_info_and_clear(tmp_path, clips, registry):
    from ser_frontends.cli.main import cli

    cache_dir = tmp_path / "cache"
    runner = CliRunner()
    res = runner.invoke(cli, ["cache", "info", "--cache-dir", str(cache_dir), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["entries"] == 0
    extract_table(clips, _pipeline(registry), _cfg(tmp_path), progress=False)
    res = runner.invoke(cli, ["cache", "info", "--cache-dir", str(cache_dir), "--json"])
    info = json.loads(res.output)
    assert info["entries"] == 6 and info["bytes"] > 0 and info["path"] == str(cache_dir)
    res = runner.invoke(cli, ["cache", "info", "--cache-dir", str(cache_dir)])
    assert "entries: 6" in res.output
    res = runner.invoke(cli, ["cache", "clear", "--cache-dir", str(cache_dir)])
    assert res.exit_code == 0 and "removed 6 entries" in res.output
    assert list(cache_dir.rglob("*.feat")) == []
    res = runner.invoke(cli, ["cache", "info"], env={"SER_CACHE_DIR": str(tmp_path / "envcache")})
    assert str(tmp_path / "envcache") in res.output
