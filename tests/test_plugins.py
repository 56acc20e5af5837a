"""Plugin registration: built-ins, local folders, entry points, duplicates, unknown names."""
from __future__ import annotations

import inspect
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ser_framework import hookspecs
from ser_framework.components import KINDS
from ser_framework.errors import PluginError
from ser_framework.plugins import DEFAULT_PLUGINS, get_plugin_manager, get_registry
from ser_frontends.cli.main import cli

HERE = Path(__file__).parent
BUILT_IN = {
    "dataset": {"ravdess", "folder"},
    "feature": {"mfcc", "chroma", "spectral_contrast", "tonnetz"},
    "balancer": {"upsample", "none"},
    "selector": {"standard_scaler", "select_k_best", "pca"},
    "classifier": {"keras_mlp", "logistic_regression"},
}
HOOK_TESTS = {
    "register_datasets": "test_hook_register_datasets",
    "register_features": "test_hook_register_features",
    "register_balancers": "test_hook_register_balancers",
    "register_selectors": "test_hook_register_selectors",
    "register_classifiers": "test_hook_register_classifiers",
}


@pytest.fixture(autouse=True)
def _no_autoload(monkeypatch):
    monkeypatch.setenv("SER_DISABLE_PLUGIN_AUTOLOAD", "1")


def test_every_hook_has_a_test():
    specs = {n for n, f in inspect.getmembers(hookspecs, inspect.isfunction) if n.startswith("register_")}
    assert specs == set(HOOK_TESTS)
    for test_name in HOOK_TESTS.values():
        assert callable(globals().get(test_name)), f"missing {test_name}"


def test_built_ins_go_through_the_plugin_manager():
    pm = get_plugin_manager()
    names = {pm.get_name(p) for p in pm.get_plugins()}
    assert set(DEFAULT_PLUGINS) <= names
    registry = get_registry()
    for kind, expected in BUILT_IN.items():
        assert expected <= set(registry.names(kind))
        for name in expected:
            assert registry.get(kind, name).source == "built-in"


def test_hook_register_datasets(tmp_path):
    registry = get_registry()
    spec = registry.get("dataset", "ravdess")
    root = tmp_path / "Actor_03"
    root.mkdir()
    for name in ("03-01-05-02-01-01-03.wav", "03-02-05-02-01-01-03.wav", "notes.txt", "03-01-01-01-02-02-03.flac"):
        (root / name).write_bytes(b"x")
    items = spec.cls(**{**{k: p.default for k, p in spec.params.items()}, "root": str(tmp_path)}).load()
    assert sorted(items["label"]) == ["angry", "neutral"]  # song channel (02) and non-audio skipped
    assert set(items["speaker"]) == {"actor_03"}


def test_hook_register_features():
    from ser_framework.spectral import AudioContext

    registry = get_registry()
    sr = 22050
    y = (0.2 * np.sin(2 * np.pi * 220 * np.arange(sr) / sr)).astype(np.float32)
    ctx = AudioContext(y, sr)
    for name, size in (("mfcc", 80), ("chroma", 24), ("spectral_contrast", 14), ("tonnetz", 12)):
        spec = registry.get("feature", name)
        extractor = spec.cls(**{k: p.default for k, p in spec.params.items()})
        vector = extractor.extract(ctx)
        assert vector.shape == (size,) and np.all(np.isfinite(vector)), name
        assert len(extractor.feature_names()) == size


def test_hook_register_balancers():
    registry = get_registry()
    X = np.arange(14, dtype=float)[:, None]
    y = np.array([0] * 10 + [1] * 4)
    Xb, yb = registry.create("balancer", "upsample", {}).resample(X, y, np.random.default_rng(0))
    assert np.bincount(yb).tolist() == [10, 10]
    assert set(Xb[yb == 1, 0]) <= set(X[y == 1, 0])  # only copies of training rows of that class


def test_hook_register_selectors():
    registry = get_registry()
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 50)
    X = rng.normal(size=(100, 10))
    X[:, 3] += 5 * y  # the one informative column
    sel = registry.create("selector", "select_k_best", {"k": 1}).fit(X, y)
    assert np.flatnonzero(sel.get_state()["support"]).tolist() == [3]
    clone = registry.create("selector", "select_k_best", {"k": 1})
    clone.set_state(sel.get_state())
    assert np.array_equal(clone.transform(X), X[:, [3]])


def test_hook_register_classifiers(tmp_path):
    registry = get_registry()
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 30)
    X = rng.normal(size=(90, 4)) + y[:, None] * 3
    clf = registry.create("classifier", "logistic_regression", {"C": 1.0, "max_iter": 500, "class_weight": "balanced"})
    clf.fit(X, y, 3)
    saved = clf.save(tmp_path)
    loaded = registry.get("classifier", "logistic_regression").cls.load(tmp_path, clf.config)
    assert saved == ["logreg.npz"]
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X))
    assert (clf.predict_proba(X).argmax(1) == y).mean() > 0.95


def test_local_plugins_dir_registers_with_its_source():
    registry = get_registry([HERE / "plugin_modules"])
    spec = registry.get("balancer", "downsample")
    assert spec.source.startswith("local:") and spec.source.endswith("extra_balancer.py")


def test_duplicate_name_fails_loudly():
    with pytest.raises(PluginError, match=r"duplicate selector name 'standard_scaler'.*built-in.*dup_scaler"):
        get_registry([HERE / "plugin_modules_dup"])


def test_misspelt_hook_fails():
    with pytest.raises(PluginError, match="register_clasifiers"):
        get_registry([HERE / "plugin_modules_badhook"])


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(PluginError) as err:
        get_registry().get("classifier", "svm")
    assert "unknown classifier 'svm'" in str(err.value)
    assert "keras_mlp" in str(err.value) and "logistic_regression" in str(err.value)


def test_missing_plugins_dir_is_an_error():
    with pytest.raises(PluginError, match="not found"):
        get_registry(["/no/such/folder"])


def test_cli_plugins_json():
    result = CliRunner().invoke(cli, ["plugins", "--json", "--plugins-dir", str(HERE / "plugin_modules")])
    assert result.exit_code == 0, result.output
    entries = json.loads(result.output)
    assert all({"name", "kind", "source"} <= set(e) for e in entries)
    assert {e["kind"] for e in entries} == set(KINDS)
    by_name = {(e["kind"], e["name"]): e for e in entries}
    assert by_name[("classifier", "keras_mlp")]["source"] == "built-in"
    assert by_name[("balancer", "downsample")]["source"].startswith("local:")
    assert by_name[("selector", "select_k_best")]["params"]["k"]["default"] == 300


def test_cli_plugins_duplicate_is_one_line_error():
    result = CliRunner().invoke(cli, ["plugins", "--plugins-dir", str(HERE / "plugin_modules_dup")])
    assert result.exit_code == 1
    assert "duplicate selector name" in result.output and "Traceback" not in result.output
