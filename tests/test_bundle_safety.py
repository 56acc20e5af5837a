"""Bundles are data, not code: checksums, no pickle, dimension and version checks."""
from __future__ import annotations

import json
import pickle
import shutil
import warnings

import numpy as np
import pytest
from click.testing import CliRunner

from ser_framework.bundle import MANIFEST, load_bundle
from ser_framework.errors import BundleError
from ser_framework.provenance import sha256_file as sha256_of


@pytest.fixture
def bundle_copy(tiny_bundle_dir, tmp_path):
    dest = tmp_path / "model"
    shutil.copytree(tiny_bundle_dir, dest)
    return dest


def _manifest(path):
    return json.loads((path / MANIFEST).read_text())


def _save_manifest(path, manifest):
    (path / MANIFEST).write_text(json.dumps(manifest))


def _selector_file(path):
    return next(iter(sorted(path.glob("selector_0_*.npz"))))


def test_intact_bundle_loads_without_warnings(bundle_copy):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bundle = load_bundle(bundle_copy)
    assert bundle.labels == ["high", "low", "mid"]


def test_loading_never_unpickles(bundle_copy, monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("pickle used while loading a bundle")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    load_bundle(bundle_copy)


def test_modified_file_is_refused(bundle_copy):
    target = bundle_copy / "classifier" / "logreg.npz"
    data = bytearray(target.read_bytes())
    data[-30] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"classifier/logreg.npz does not match its SHA-256"):
        load_bundle(bundle_copy)


def test_missing_file_is_refused(bundle_copy):
    _selector_file(bundle_copy).unlink()
    with pytest.raises(BundleError, match="missing file selector_0_"):
        load_bundle(bundle_copy)


def test_file_outside_the_bundle_is_refused(bundle_copy):
    (bundle_copy.parent / "evil.npz").write_bytes(b"x")
    m = _manifest(bundle_copy)
    m["files"]["../evil.npz"] = sha256_of(bundle_copy.parent / "evil.npz")
    _save_manifest(bundle_copy, m)
    with pytest.raises(BundleError, match="outside the bundle"):
        load_bundle(bundle_copy)


def test_unlisted_file_is_refused(bundle_copy):
    """A state file dropped from the manifest's checksums cannot be swapped in unchecked."""
    m = _manifest(bundle_copy)
    del m["files"]["classifier/logreg.npz"]
    _save_manifest(bundle_copy, m)
    with pytest.raises(BundleError, match="not covered by the manifest's checksums: classifier/logreg.npz"):
        load_bundle(bundle_copy)


def test_pickled_arrays_are_refused_and_not_executed(bundle_copy, tmp_path):
    """An npz holding an object array (a pickle) is refused even with a matching checksum."""
    marker = tmp_path / "executed"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    target = _selector_file(bundle_copy)
    np.savez(target, mean=np.array([Payload()], dtype=object), scale=np.ones(3))
    m = _manifest(bundle_copy)
    m["files"][target.name] = sha256_of(target)
    _save_manifest(bundle_copy, m)
    with pytest.raises(BundleError, match="cannot load bundle.*allow_pickle=False"):
        load_bundle(bundle_copy)
    assert not marker.exists()


def test_feature_dimension_mismatch_is_refused(bundle_copy):
    m = _manifest(bundle_copy)
    m["features"][0]["params"]["n_mfcc"] = 13
    _save_manifest(bundle_copy, m)
    with pytest.raises(BundleError, match="feature dimension mismatch: the manifest says 80 features"):
        load_bundle(bundle_copy)
    del m["n_features"]
    _save_manifest(bundle_copy, m)
    with pytest.raises(BundleError, match="feature dimension mismatch: .*gives 26 features but the fitted "
                                          "selector 'standard_scaler' expects 80"):
        load_bundle(bundle_copy)


def test_dimension_mismatch_caught_without_selectors(bundle_copy):
    """No selector to ask: a dry run through the classifier finds the mismatch."""
    m = _manifest(bundle_copy)
    m["features"][0]["params"]["n_mfcc"] = 13
    del m["n_features"]
    for name in [f for f in m["files"] if f.startswith("selector_")]:
        del m["files"][name]
        (bundle_copy / name).unlink()
    m["selectors"] = []
    _save_manifest(bundle_copy, m)
    with pytest.raises(BundleError, match="feature dimension mismatch: 26 features do not fit"):
        load_bundle(bundle_copy)


def test_other_library_versions_warn_with_names(bundle_copy):
    m = _manifest(bundle_copy)
    m["versions"]["numpy"] = "0.0.1"
    m["versions"]["scikit-learn"] = "0.0.2"
    _save_manifest(bundle_copy, m)
    with pytest.warns(UserWarning, match=r"other library versions: numpy 0\.0\.1 \(here .*\), scikit-learn 0\.0\.2"):
        bundle = load_bundle(bundle_copy)
    assert bundle.labels  # still usable


@pytest.mark.parametrize("content, fragment", [
    ("not json", "unreadable"),
    ("[1, 2]", "not a JSON object"),
    ('{"format_version": 99}', "unsupported bundle format 99"),
])
def test_broken_manifest(bundle_copy, content, fragment):
    (bundle_copy / MANIFEST).write_text(content)
    with pytest.raises(BundleError, match=fragment):
        load_bundle(bundle_copy)


@pytest.mark.parametrize("edit, fragment", [
    (lambda m: m.update(files=["a"]), "'files' must map file names"),
    (lambda m: m.update(labels="angry"), "'labels' must be a list"),
    (lambda m: m.pop("classifier"), "lacks 'classifier'"),
    (lambda m: m["classifier"].update(name="no_such_classifier"), "needs the classifier 'no_such_classifier', which no installed plugin provides"),
    (lambda m: m["classifier"]["params"].update(C="lots"), "component settings are invalid: classifier.params.C"),
    (lambda m: m["features"][0]["params"].update(window=3), "features.0.params.window: unknown parameter"),
])
def test_inconsistent_manifest(bundle_copy, edit, fragment):
    m = _manifest(bundle_copy)
    edit(m)
    _save_manifest(bundle_copy, m)
    with pytest.raises(BundleError, match=fragment):
        load_bundle(bundle_copy)


def test_not_a_bundle(tmp_path):
    with pytest.raises(BundleError, match="model bundle not found"):
        load_bundle(tmp_path / "nope")
    with pytest.raises(BundleError, match="not a model bundle"):
        load_bundle(tmp_path)


def test_cli_refuses_tampered_bundle_in_one_line(bundle_copy, tmp_path):
    import soundfile as sf
    from conftest import synth_tone

    from ser_frontends.cli.main import cli

    clip = tmp_path / "clip.wav"
    sf.write(clip, synth_tone(300.0), 16000)
    (bundle_copy / "classifier" / "logreg.npz").write_bytes(b"tampered")
    result = CliRunner().invoke(cli, ["predict", str(clip), "-m", str(bundle_copy)])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert "does not match its SHA-256" in result.stderr


@pytest.mark.slow
def test_keras_file_is_loaded_in_safe_mode(tmp_path):
    """A ``.keras`` file with a Lambda layer (arbitrary code) is refused by ``load_keras``."""
    from ser_plugins.classifiers.keras_mlp import KERAS_FILE, KerasMLP, import_keras

    _, keras = import_keras()
    model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Lambda(lambda x: x * 2.0),
                              keras.layers.Dense(2, activation="softmax")])
    model.save(tmp_path / KERAS_FILE)
    with pytest.raises(ValueError, match="(?i)unsafe|safe_mode"):
        KerasMLP().load_keras(tmp_path)
