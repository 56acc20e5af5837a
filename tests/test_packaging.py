"""The built wheel is a working tool: every package, the shipped model's files, and the same answers.

The README's commands install the project in editable mode, which reads the source tree and so
hides a package or a model file that ``pyproject.toml`` forgets (a wheel once shipped the fused
default model's manifest without its members, and no ``ser_framework.timeline``). This builds
the wheel as ``pip install ser-framework`` would, installs it alone into a folder, and predicts
with the installed copy's default model (its answer must equal the source tree's).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import soundfile as sf
from conftest import SYNTH_SR, synth_voice

ROOT = Path(__file__).resolve().parents[1]
#: source folder -> the package name it installs as (pyproject's package-dir)
SOURCES = {"ser_framework": "ser_framework", "plugins": "ser_plugins", "frontends": "ser_frontends"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    # built from a copy of what the repository holds: a stale build/ folder in the work tree
    # would put files in the wheel that pyproject.toml no longer (or never) names
    tree = tmp_path_factory.mktemp("tree")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, tree / name)
    for folder in SOURCES:
        shutil.copytree(ROOT / folder, tree / folder, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                    "-w", str(out), str(tree)], check=True, capture_output=True, cwd=out)
    (built,) = out.glob("ser_framework-*.whl")
    return built


def _source_files() -> set[str]:
    """Every module and every file of the shipped model, as the wheel should name them."""
    names = set()
    for folder, package in SOURCES.items():
        for path in (ROOT / folder).rglob("*"):
            rel = path.relative_to(ROOT / folder)
            if "__pycache__" in rel.parts or not path.is_file():
                continue
            if path.suffix == ".py" or rel.parts[0] == "default_model":
                names.add(f"{package}/{rel.as_posix()}")
    return names


def test_wheel_holds_every_module_and_model_file(wheel):
    with zipfile.ZipFile(wheel) as zf:
        shipped = set(zf.namelist())
    missing = sorted(_source_files() - shipped)
    assert not missing, f"the wheel lacks {missing}"


def test_installed_wheel_predicts_like_the_source_tree(wheel, tmp_path):
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(site),
                    str(wheel)], check=True, capture_output=True)
    clip = tmp_path / "voice.wav"
    sf.write(clip, synth_voice(220.0, seconds=2.0, seed=3), SYNTH_SR, subtype="PCM_16")
    predict = ("import json, sys, ser_framework\n"
               "from ser_framework import load_bundle\n"
               "p = load_bundle(None).predict(sys.argv[1])\n"
               "print(json.dumps({'module': ser_framework.__file__, 'answer': p.as_dict(top=8)}))\n")
    # the wheel's copy comes first on the path, ahead of the editable install's finder
    env = {**os.environ, "PYTHONPATH": str(site)}
    installed = subprocess.run([sys.executable, "-c", predict, str(clip)], env=env, cwd=tmp_path,
                               capture_output=True, text=True)
    assert installed.returncode == 0, installed.stderr
    source = subprocess.run([sys.executable, "-c", predict, str(clip)], cwd=ROOT, capture_output=True, text=True)
    assert source.returncode == 0, source.stderr
    from_wheel, from_tree = json.loads(installed.stdout), json.loads(source.stdout)
    assert Path(from_wheel["module"]).is_relative_to(site)
    assert not Path(from_tree["module"]).is_relative_to(site)
    assert from_wheel["answer"]["probabilities"] == from_tree["answer"]["probabilities"]
    timeline = subprocess.run([sys.executable, "-c", "import ser_framework.timeline"], env=env, cwd=tmp_path,
                              capture_output=True, text=True)
    assert timeline.returncode == 0, timeline.stderr
