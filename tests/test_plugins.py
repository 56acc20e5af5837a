"""Plugin registration: built-ins, local folders, entry points, duplicates, unknown names."""
from __future__ import annotations

import importlib.util
import inspect
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ser_framework import hookspecs
from ser_framework.components import KINDS
from ser_framework.errors import ConfigError, PluginError
from ser_framework.plugins import DEFAULT_PLUGINS, get_plugin_manager, get_registry, hook_name
from ser_frontends.cli.main import cli

HERE = Path(__file__).parent
BUILT_IN = {
    "dataset": {"ravdess", "folder"},
    "feature": {"mfcc", "chroma", "spectral_contrast", "tonnetz", "voice_band", "voice_quality", "modulation", "opensmile",
                "log_mel_frames", "mfcc_frames"},
    "balancer": {"upsample", "none"},
    "selector": {"standard_scaler", "select_k_best", "pca", "autoencoder"},
    "classifier": {"keras_mlp", "logistic_regression", "lda", "crnn", "transformer"},
    "augmenter": {"resample", "noise", "gain", "reverb", "codec", "trim", "pad", "quantize", "webrtc"},
}
ROOT = HERE.parent
#: every hook specification, read from the hookspecs module itself (not a hand-kept list)
HOOKS = sorted(n for n, f in inspect.getmembers(hookspecs, inspect.isfunction)
               if getattr(f, "ser_framework_spec", None) is not None)


@pytest.fixture(autouse=True)
def _no_autoload(monkeypatch):
    monkeypatch.setenv("SER_DISABLE_PLUGIN_AUTOLOAD", "1")


def test_hookspecs_are_found():
    assert len(HOOKS) >= 5 and all(h.startswith("register_") for h in HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_test_a_kind_and_a_readme_entry(hook):
    assert callable(globals().get(f"test_hook_{hook}")), f"no test_hook_{hook} in {__file__}"
    assert hook in {hook_name(kind) for kind in KINDS}, f"{hook} is no component kind's hook"
    assert f"`{hook}`" in (ROOT / "README.md").read_text(), f"the README does not document {hook}"


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
    items = registry.build("dataset", {"name": spec.name, "params": {"root": str(tmp_path)}}).load()
    assert sorted(items["label"]) == ["angry", "neutral"]  # song channel (02) and non-audio skipped
    assert set(items["speaker"]) == {"actor_03"}


def test_hook_register_features():
    from ser_framework.spectral import AudioContext

    registry = get_registry()
    sr = 22050
    y = (0.2 * np.sin(2 * np.pi * 220 * np.arange(sr) / sr)).astype(np.float32)
    ctx = AudioContext(y, sr)
    for name, size in (("mfcc", 80), ("chroma", 24), ("spectral_contrast", 14), ("tonnetz", 12)):
        vector = registry.build("feature", name).extract(ctx)
        assert vector.shape == (size,) and np.all(np.isfinite(vector)), name


def test_hook_register_balancers():
    registry = get_registry()
    X = np.arange(14, dtype=float)[:, None]
    y = np.array([0] * 10 + [1] * 4)
    Xb, yb = registry.build("balancer", {"name": "upsample", "params": {}}).resample(X, y, np.random.default_rng(0))
    assert np.bincount(yb).tolist() == [10, 10]
    assert set(Xb[yb == 1, 0]) <= set(X[y == 1, 0])  # only copies of training rows of that class


def test_hook_register_selectors():
    registry = get_registry()
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 50)
    X = rng.normal(size=(100, 10))
    X[:, 3] += 5 * y  # the one informative column
    sel = registry.build("selector", {"name": "select_k_best", "params": {"k": 1}}).fit(X, y)
    assert np.flatnonzero(sel.get_state()["support"]).tolist() == [3]
    clone = registry.build("selector", {"name": "select_k_best", "params": {"k": 1}})
    clone.set_state(sel.get_state())
    assert np.array_equal(clone.transform(X), X[:, [3]])


def test_hook_register_classifiers(tmp_path):
    registry = get_registry()
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 30)
    X = rng.normal(size=(90, 4)) + y[:, None] * 3
    clf = registry.build("classifier", {"name": "logistic_regression", "params": {"C": 1.0, "max_iter": 500, "class_weight": "balanced"}})
    clf.fit(X, y, 3)
    saved = clf.save(tmp_path)
    loaded = registry.get("classifier", "logistic_regression").cls.load(tmp_path, clf.params)
    assert saved == ["logreg.npz"]
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X))
    assert (clf.predict_proba(X).argmax(1) == y).mean() > 0.95


@pytest.mark.parametrize("priors", ["uniform", "empirical"])
@pytest.mark.parametrize("shrinkage", [0.0, 0.5, "auto"])
def test_lda_probabilities_are_sklearns_and_survive_the_bundle(priors, shrinkage, tmp_path):
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    rng = np.random.default_rng(1)
    y = np.repeat([0, 1, 2, 4], [40, 20, 30, 25])  # unbalanced, and class 3 of 5 never seen
    X = rng.normal(size=(len(y), 6)) + y[:, None] * rng.normal(size=6)
    clf = get_registry().build("classifier", {"name": "lda", "params": {"shrinkage": shrinkage, "priors": priors}})
    proba = clf.fit(X, y, 5).predict_proba(X)
    sk = LinearDiscriminantAnalysis(solver="lsqr", shrinkage=shrinkage,
                                    priors=np.full(4, 0.25) if priors == "uniform" else None).fit(X, y)
    np.testing.assert_allclose(proba[:, [0, 1, 2, 4]], sk.predict_proba(X), rtol=1e-4, atol=1e-6)
    assert np.all(proba[:, 3] == 0)  # an unseen class is never predicted
    assert clf.save(tmp_path) == ["lda.npz"]
    loaded = type(clf).load(tmp_path, clf.params)
    np.testing.assert_array_equal(loaded.predict_proba(X), proba)


def test_lda_binary_and_uniform_priors():
    rng = np.random.default_rng(2)
    y = np.repeat([0, 1], [90, 10])  # 9 : 1
    X = rng.normal(size=(100, 3)) + y[:, None] * 1.0
    uniform = get_registry().build("classifier", {"name": "lda"}).fit(X, y, 2).predict_proba(X)
    empirical = get_registry().build("classifier", {"name": "lda", "params": {"priors": "empirical"}}).fit(
        X, y, 2).predict_proba(X)
    assert uniform.shape == (100, 2) and np.allclose(uniform.sum(axis=1), 1, atol=1e-6)
    # uniform priors do not favour the large class: the rare one is predicted far more often
    assert (uniform.argmax(1) == 1).sum() > (empirical.argmax(1) == 1).sum()
    odds = np.log(empirical[:, 1] / empirical[:, 0]) - np.log(uniform[:, 1] / uniform[:, 0])
    assert np.all(odds < 0) and abs(np.median(odds) - np.log(0.1 / 0.9)) < 0.5  # mostly the log prior ratio


@pytest.mark.parametrize("value", [1.5, -0.1, "lots"])
def test_lda_shrinkage_out_of_range_is_reported_with_its_path(value):
    with pytest.raises(ConfigError, match=r"classifier\.params\.shrinkage"):
        get_registry().build("classifier", {"name": "lda", "params": {"shrinkage": value}}, "classifier")


def test_hook_register_augmenters():
    registry = get_registry()
    sr = 16000
    y = (0.2 * np.sin(2 * np.pi * 220 * np.arange(sr) / sr)).astype(np.float32)
    quieter = registry.build("augmenter", {"name": "gain", "params": {"min_gain_db": -20, "max_gain_db": -20}})
    np.testing.assert_allclose(quieter.apply(y, sr, np.random.default_rng(0)), 0.1 * y, rtol=1e-5, atol=1e-9)
    browser = registry.build("augmenter", {"name": "webrtc", "params": {"min_gain_db": 12, "max_gain_db": 12,
                                                                         "noise_suppression": [0]}})
    assert registry.get("augmenter", "webrtc").source == "built-in" and browser.params.p == 0.5
    louder = browser.apply(0.05 * y, sr, np.random.default_rng(0))  # (a steady tone: no noise suppression)
    assert np.sqrt(np.mean(louder[sr // 2:] ** 2)) > 3 * np.sqrt(np.mean((0.05 * y) ** 2))  # +12 dB, then AGC
    spy = get_registry([HERE / "plugin_modules_spy"]).get("augmenter", "spy_mark")
    assert spy.source.startswith("local:") and spy.source.endswith("spy_augmentation.py")


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


# ------------------------------------------------------------------ every built-in component, exercised
def _exercise_dataset(component, tmp_path):
    import soundfile as sf
    from conftest import synth_tone

    if component.name == "ravdess":
        for name in ("03-01-05-02-01-01-03.wav", "03-01-04-01-01-01-04.flac"):
            folder = tmp_path / f"Actor_{name[-6:-4]}"
            folder.mkdir(exist_ok=True)
            sf.write(folder / name, synth_tone(200.0), 16000)
        root = {"root": str(tmp_path)}
    else:
        for label in ("a", "b"):
            (tmp_path / label).mkdir()
            sf.write(tmp_path / label / f"spk1_{label}.wav", synth_tone(200.0), 16000)
        root = {"root": str(tmp_path), "speaker_from": "prefix"}
    items = get_registry().build("dataset", {"name": component.name, "params": root}).load()
    assert len(items) == 2 and {"path", "label", "speaker"} <= set(items.columns)


def _exercise_feature(component, tmp_path):
    from ser_framework import AudioContext

    sr = 22050
    t = np.arange(sr) / sr
    y = (0.2 * np.sin(2 * np.pi * 220 * t * (1 + 0.2 * t))).astype(np.float32)
    vector = component.extract(AudioContext(y, sr))
    if component.output == "sequence":  # frames × channels, the last channel the mask
        assert vector.shape == component.frame_shape and set(np.unique(vector[:, -1])) <= {0.0, 1.0}
        vector = vector.ravel()
    assert vector.ndim == 1 and len(vector) > 0 and np.all(np.isfinite(vector))


def _exercise_balancer(component, tmp_path):
    X = np.arange(12, dtype=float)[:, None]
    y = np.array([0] * 9 + [1] * 3)
    Xb, yb = component.resample(X, y, np.random.default_rng(0))
    assert len(Xb) == len(yb) and set(Xb[yb == 1, 0]) <= set(X[y == 1, 0])


def _exercise_selector(component, tmp_path):
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 20)
    X = rng.normal(size=(40, 6)) + y[:, None]
    out = component.fit(X, y).transform(X)
    clone = get_registry().build("selector", {"name": component.name, "params": component.config})
    clone.set_state({k: np.asarray(v) for k, v in component.get_state().items()})
    np.testing.assert_allclose(clone.transform(X), out)


def _exercise_classifier(component, tmp_path):
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 20)
    X = (rng.normal(size=(60, 5)) + 3 * y[:, None]).astype(np.float32)
    if component.input == "sequence":  # 8 frames of the 5 values plus the mask channel
        X = np.concatenate([np.repeat(X[:, None, :], 8, axis=1) + rng.normal(0, 0.3, (60, 8, 5)),
                            np.ones((60, 8, 1))], axis=2).astype(np.float32)
    component.fit(X, y, 3, seed=0)
    proba = component.predict_proba(X)
    assert proba.shape == (60, 3) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    assert (proba.argmax(1) == y).mean() > 0.8
    component.save(tmp_path)
    loaded = type(component).load(tmp_path, component.params)
    np.testing.assert_allclose(loaded.predict_proba(X), proba, rtol=1e-4, atol=1e-6)


def _exercise_augmenter(component, tmp_path):
    sr = 16000
    t = np.arange(sr) / sr
    y = (0.2 * np.sin(2 * np.pi * 220 * t * (1 + 0.2 * t)) * (t > 0.2) * (t < 0.8)).astype(np.float32)
    out = component.apply(y, sr, np.random.default_rng(0))
    assert out.dtype == np.float32 and out.ndim == 1 and len(out) > 0.1 * sr and np.all(np.isfinite(out))
    np.testing.assert_array_equal(out, component.apply(y, sr, np.random.default_rng(0)))


#: small but real settings for the components whose defaults take long (Keras training)
QUICK = {("classifier", "keras_mlp"): {"units": [16], "dropout": [0.0], "batch_norm": [False], "epochs": 40,
                                       "learning_rate": 0.01},
         ("classifier", "crnn"): {"conv_filters": [4], "gru_units": 8, "epochs": 30, "learning_rate": 0.01,
                                  "time_masks": 0, "freq_masks": 0},
         ("classifier", "transformer"): {"d_model": 8, "heads": 2, "layers": 1, "ff_units": 8, "pool": 2,
                                         "epochs": 30, "learning_rate": 0.01, "time_masks": 0, "freq_masks": 0},
         ("selector", "autoencoder"): {"code_size": 3, "hidden": [8], "epochs": 5}}
#: built-ins that need an optional package: name -> (module, extra); without it, building names the extra
OPTIONAL_PACKAGE = {"opensmile": ("opensmile", "opensmile"), "webrtc": ("webrtc_noise_gain", "webrtc")}
BUILT_IN_SPECS = [(s.kind, s.name) for s in get_registry(load_entrypoints=False).all() if s.source == "built-in"]


@pytest.mark.parametrize("kind, name", BUILT_IN_SPECS, ids=[f"{k}:{n}" for k, n in BUILT_IN_SPECS])
def test_every_built_in_component_is_built_and_exercised(kind, name, tmp_path):
    params = QUICK.get((kind, name), {})
    if kind == "dataset":
        params = {"root": str(tmp_path)}
    if name in OPTIONAL_PACKAGE and importlib.util.find_spec(OPTIONAL_PACKAGE[name][0]) is None:
        with pytest.raises(PluginError, match=rf"pip install 'ser-framework\[{OPTIONAL_PACKAGE[name][1]}\]'"):
            get_registry().build(kind, {"name": name, "params": params})
        return
    component = get_registry().build(kind, {"name": name, "params": params})
    globals()[f"_exercise_{kind}"](component, tmp_path)
