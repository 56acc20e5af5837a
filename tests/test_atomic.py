"""Nothing lost, nothing half-written: atomic folders/files and interrupted training."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import tiny_config_dict

from ser_framework.atomic import OutputExistsError, atomic_dir, atomic_write_bytes
from ser_framework.errors import SerError

FAILING_PLUGINS = Path(__file__).parent / "failing_plugins"


def _entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# ------------------------------------------------------------------ atomic_dir / atomic_write_bytes


def test_atomic_dir_success(tmp_path):
    final = tmp_path / "out"
    with atomic_dir(final) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".out.partial-")
        (tmp / "a.txt").write_text("a")
        assert not final.exists()  # nothing under the real name until complete
    assert (final / "a.txt").read_text() == "a"
    assert _entries(tmp_path) == ["out"]


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_atomic_dir_failure_leaves_nothing(tmp_path, error):
    final = tmp_path / "out"
    with pytest.raises(error):
        with atomic_dir(final) as tmp:
            (tmp / "half.bin").write_bytes(b"x")
            raise error()
    assert _entries(tmp_path) == []


def test_atomic_dir_refuses_existing_and_keeps_it(tmp_path):
    final = tmp_path / "out"
    final.mkdir()
    (final / "old.txt").write_text("old")
    with pytest.raises(OutputExistsError, match="already exists") as info:
        with atomic_dir(final) as tmp:
            (tmp / "new.txt").write_text("new")
    assert isinstance(info.value, SerError) and isinstance(info.value, FileExistsError)
    assert _entries(final) == ["old.txt"]
    assert _entries(tmp_path) == ["out"]


def test_atomic_dir_overwrite_replaces_only_when_complete(tmp_path):
    final = tmp_path / "out"
    final.mkdir()
    (final / "old.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_dir(final, overwrite=True) as tmp:
            (tmp / "new.txt").write_text("new")
            raise RuntimeError
    assert _entries(final) == ["old.txt"]  # a failed replacement keeps the old content
    with atomic_dir(final, overwrite=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert _entries(final) == ["new.txt"]
    assert _entries(tmp_path) == ["out"]  # no .old- or .partial- leftovers


def test_atomic_outputs_get_normal_permissions(tmp_path):
    """mkdtemp/mkstemp make 0700/0600; the renamed results follow the umask like any other file."""
    mask = os.umask(0o022)
    os.umask(mask)
    with atomic_dir(tmp_path / "out"):
        pass
    atomic_write_bytes(tmp_path / "f.bin", b"x")
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o777 & ~mask
    assert stat.S_IMODE((tmp_path / "f.bin").stat().st_mode) == 0o666 & ~mask


def test_atomic_write_bytes(tmp_path, monkeypatch):
    target = tmp_path / "sub" / "f.bin"
    atomic_write_bytes(target, b"one")
    assert target.read_bytes() == b"one"

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"one"
    assert _entries(target.parent) == ["f.bin"]  # the temporary file is gone


# ------------------------------------------------------------------ training


def _registry():
    from ser_framework.plugins import get_registry

    return get_registry([FAILING_PLUGINS])


def _config(corpus, out, fail_in, error="runtime"):
    from ser_framework.config import validate

    clf = {"name": "failing_classifier", "params": {"fail_in": fail_in, "error": error}}
    return validate(tiny_config_dict(corpus, out, classifier=clf), _registry())


@pytest.mark.parametrize("fail_in", ["fit", "save"])
def test_training_failure_leaves_no_run_dir(synthetic_corpus_dir, tmp_path, fail_in):
    from ser_framework.experiment import run_training

    out = tmp_path / "runs"
    with pytest.raises(RuntimeError, match=f"failed in {fail_in} on purpose"):
        run_training(_config(synthetic_corpus_dir, out, fail_in), _registry(), out / "run", progress=False)
    assert _entries(out) == []  # neither the run dir, nor a bundle, nor a .partial- folder


def test_interrupted_ser_train_writes_nothing(synthetic_corpus_dir, tmp_path):
    """Ctrl-C while the bundle is being written: exit 130, a message, and no run directory at all."""
    from ser_frontends.cli.main import cli

    out = tmp_path / "runs"
    raw = tiny_config_dict(synthetic_corpus_dir, out, classifier={
        "name": "failing_classifier", "params": {"fail_in": "save", "error": "interrupt"}})
    raw["plugins_dir"] = str(FAILING_PLUGINS)
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(raw))
    result = CliRunner().invoke(cli, ["train", "-q", str(path), "-o", str(out / "run")])
    assert result.exit_code == 130
    assert "interrupted; nothing was written" in result.stderr
    assert _entries(out) == []


def test_ser_train_refuses_existing_run_dir_unless_force(synthetic_corpus_dir, tmp_path):
    from ser_frontends.cli.main import cli

    out = tmp_path / "runs"
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(tiny_config_dict(synthetic_corpus_dir, out)))
    run = out / "run"
    run.mkdir(parents=True)
    (run / "keep.txt").write_text("mine")

    result = CliRunner().invoke(cli, ["train", "-q", str(path), "-o", str(run)])
    assert result.exit_code == 1
    assert "already exists (use --force to replace it)" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert _entries(run) == ["keep.txt"]

    result = CliRunner().invoke(cli, ["train", "-q", str(path), "-o", str(run), "--force"])
    assert result.exit_code == 0, result.output
    assert "keep.txt" not in _entries(run)
    assert {"metrics.json", "model", "config.yaml"} <= set(_entries(run))
    assert (run / "model" / "manifest.json").is_file()
    assert _entries(out) == ["run"]
