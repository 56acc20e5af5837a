"""Local plugins load the standard way and work on every command that reads a config or a bundle."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import tiny_config_dict

from ser_framework import PluginError, get_registry
from ser_framework.plugins import LOCAL_PACKAGE
from ser_frontends.cli.main import cli

HERE = Path(__file__).parent
FEATURE_DIR = HERE / "plugin_modules_feature"


@pytest.fixture(autouse=True)
def _no_autoload(monkeypatch):
    monkeypatch.setenv("SER_DISABLE_PLUGIN_AUTOLOAD", "1")


def _cli(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_dataclass_module_with_postponed_annotations_loads():
    spec = get_registry([FEATURE_DIR]).get("feature", "level_stats")
    assert spec.source == f"local:{(FEATURE_DIR / 'level_feature.py').resolve()}"
    assert sys.modules[spec.cls.__module__].__file__ == str(FEATURE_DIR / "level_feature.py")


def test_same_named_files_in_same_named_folders_are_separate_plugins():
    a, b = HERE / "plugin_sets" / "a" / "plugins", HERE / "plugin_sets" / "b" / "plugins"
    registry = get_registry([a, b])
    assert {"keep_a", "keep_b"} <= set(registry.names("balancer"))
    assert registry.get("balancer", "keep_a").source != registry.get("balancer", "keep_b").source


def test_a_failing_module_is_named_and_removed_from_sys_modules():
    before = {m for m in sys.modules if m.startswith(LOCAL_PACKAGE)}
    with pytest.raises(PluginError, match=r"could not import plugin .*broken\.py: ImportError: this plugin needs"):
        get_registry([HERE / "plugin_modules_broken"])
    assert {m for m in sys.modules if m.startswith(LOCAL_PACKAGE) and "broken" in m} <= before


@pytest.fixture(scope="module")
def local_plugin_bundle(synthetic_corpus_dir, tmp_path_factory):
    """A bundle whose features include the local ``level_stats`` plugin, trained with --plugins-dir."""
    work = tmp_path_factory.mktemp("local_plugin")
    raw = tiny_config_dict(synthetic_corpus_dir, work / "runs")
    raw["features"] = [{"name": "mfcc", "params": {"n_mfcc": 13}}, {"name": "level_stats"}]
    config = work / "local.yaml"
    config.write_text(yaml.safe_dump(raw))
    env = {"SER_DISABLE_PLUGIN_AUTOLOAD": "1"}
    for command in ("validate", "extract"):
        result = CliRunner().invoke(cli, [command, str(config), "--plugins-dir", str(FEATURE_DIR),
                                          *(["-o", str(work / "f.parquet"), "-q"] if command == "extract" else [])],
                                    env=env)
        assert result.exit_code == 0, result.output
    result = CliRunner().invoke(cli, ["train", str(config), "-o", str(work / "run"), "-q",
                                      "--plugins-dir", str(FEATURE_DIR)], env=env)
    assert result.exit_code == 0, result.output
    return work / "run" / "model"


def test_bundle_records_plugin_sources(local_plugin_bundle):
    manifest = json.loads((local_plugin_bundle / "manifest.json").read_text())
    assert manifest["plugins"]["feature:mfcc"] == "built-in"
    assert manifest["plugins"]["feature:level_stats"].startswith("local:")
    assert manifest["plugins"]["feature:level_stats"].endswith("level_feature.py")


def test_predict_and_evaluate_need_and_accept_plugins_dir(local_plugin_bundle, synthetic_corpus_dir):
    clip = next((synthetic_corpus_dir / "high").glob("spk4_*.wav"))
    missing = _cli("predict", clip, "-m", local_plugin_bundle)
    assert missing.exit_code == 1
    assert "needs the feature 'level_stats' from the local plugin" in missing.stderr
    assert f"--plugins-dir {FEATURE_DIR.resolve()}" in missing.stderr
    ok = _cli("predict", clip, "-m", local_plugin_bundle, "--plugins-dir", FEATURE_DIR, "--json")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)[0]["label"] == "high"
    ev = _cli("evaluate", synthetic_corpus_dir, "--dataset", "folder", "-m", local_plugin_bundle,
              "--plugins-dir", FEATURE_DIR, "--json", "-q")
    assert ev.exit_code == 0, ev.output
    assert json.loads(ev.stdout)["n"] == 36


def test_app_takes_plugins_dir(local_plugin_bundle, monkeypatch):
    """``ser app --plugins-dir`` checks the bundle with the plugins and hands the folders to the page."""
    from ser_frontends.app import logic

    refused = _cli("app", "-m", local_plugin_bundle)
    assert refused.exit_code == 1 and "needs the feature 'level_stats'" in refused.stderr

    started = {}

    def execve(exe, cmd, env):  # stands in for becoming the Streamlit server
        started.update(cmd=cmd, env=env)
        raise SystemExit(0)

    monkeypatch.setattr(os, "execve", execve)
    result = _cli("app", "-m", local_plugin_bundle, "--plugins-dir", FEATURE_DIR)
    assert result.exit_code == 0, result.output
    dirs = started["env"][logic.PLUGINS_DIRS_ENV]
    assert dirs == str(FEATURE_DIR.resolve())

    monkeypatch.setenv(logic.PLUGINS_DIRS_ENV, dirs)
    assert logic.plugins_dirs_setting([]) == (dirs,)
    assert logic.plugins_dirs_setting(["--plugins-dir", "x", "--plugins-dir=y"]) == ("x", "y")
    bundle = logic.load_model(str(local_plugin_bundle), logic.plugins_dirs_setting([]))
    assert "level_stats" in [e.name for e in bundle.pipeline.extractors]
