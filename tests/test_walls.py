"""Walls and hygiene: import contracts, lint, a public API, CLI modules that import on their own."""
from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import ser_framework

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _run(*cmd):
    return subprocess.run([str(c) for c in cmd], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_import_contracts_hold():
    """import-linter: the core imports no plugin, front end or TensorFlow; others use its public API only."""
    result = _run(BIN / "lint-imports")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.split("Contracts:")[-1].replace("0 broken", "")


def test_public_api_contract_covers_every_core_module():
    """The contract's list of private modules is the core's actual list, so a new module is walled in too."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    contract = next(c for c in config if c["name"].startswith("Plugins and front ends use only the public API"))
    modules = {f"ser_framework.{m.name}" for m in pkgutil.iter_modules(ser_framework.__path__)}
    assert set(contract["forbidden_modules"]) == modules


def test_ruff_is_clean():
    result = _run(BIN / "ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_public_api_names_resolve():
    for name in ser_framework.__all__:
        assert getattr(ser_framework, name) is not None, name


@pytest.mark.parametrize("module", sorted(
    f"ser_frontends.cli.{p.stem}" for p in (ROOT / "frontends" / "cli").glob("*.py") if p.stem != "__main__"))
def test_every_cli_module_imports_in_a_fresh_interpreter(module):
    result = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_tensorflow_settings_live_in_one_place():
    """Only the Keras classifier plugin sets TensorFlow's environment; nothing else mentions it."""
    hits = []
    for folder in ("ser_framework", "plugins", "frontends", "bench"):
        for path in (ROOT / folder).rglob("*.py"):
            if "TF_CPP_MIN_LOG_LEVEL" in path.read_text():
                hits.append(path.relative_to(ROOT).as_posix())
    assert hits == ["plugins/classifiers/keras_mlp.py"]


def _functions(folder: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in (ROOT / folder).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef):
                found.setdefault(node.name, []).append(path.relative_to(ROOT).as_posix())
    return found


def test_no_near_copies_or_dead_helpers_in_the_core():
    functions = _functions("ser_framework")
    assert functions.get("library_versions") == ["ser_framework/provenance.py"]
    assert functions.get("sha256_file") == ["ser_framework/provenance.py"]
    assert not {"sha256_of", "file_digest", "atomic_write_text", "feature_names", "keras_predict_proba"} & set(functions)
    core = "\n".join(p.read_text() for p in (ROOT / "ser_framework").rglob("*.py"))
    assert "hashlib.sha256()" not in core  # streaming file digests go through hashlib.file_digest
    assert "tempfile.mkstemp" not in core.replace(  # one atomic file writer
        (ROOT / "ser_framework" / "atomic.py").read_text(), "")
    assert not (ROOT / "ser_framework" / "mlp.py").exists()  # the numpy MLP lives with the Keras plugin
    plugin_code = "\n".join(p.read_text() for p in (ROOT / "plugins").rglob("*.py"))
    assert "_names" not in plugin_code and "history_" not in plugin_code
    assert "TqdmCallback" in (ROOT / "plugins" / "classifiers" / "keras_mlp.py").read_text()


def test_fitted_model_and_bundle_carry_no_unused_state(tiny_bundle_dir):
    from ser_framework import load_bundle

    bundle = load_bundle(tiny_bundle_dir)
    assert not hasattr(bundle, "_lock")
    assert not hasattr(bundle.model, "config")
