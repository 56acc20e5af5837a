"""Datasets read every format load_audio reads and say when speakers are unknown; reports on label subsets."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml
from click.testing import CliRunner
from conftest import SYNTH_SR, synth_tone, tiny_config_dict

from ser_framework import get_registry
from ser_framework.config import load_config
from ser_framework.evaluation import classification_report_text, compute_metrics, confusion_title
from ser_frontends.cli.main import cli


@pytest.fixture(scope="module")
def registry():
    return get_registry(load_entrypoints=False)


def _clip(path: Path, fmt: str | None = None, subtype: str | None = None, freq: float = 220.0):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, synth_tone(freq, seconds=0.5), SYNTH_SR, format=fmt, subtype=subtype)
    return path


def test_ravdess_lists_every_format_load_audio_reads(registry, tmp_path):
    actor = tmp_path / "Actor_07"
    _clip(actor / "03-01-05-01-01-01-07.wav")
    _clip(actor / "03-01-04-01-01-01-07.flac", "FLAC")
    _clip(actor / "03-01-03-01-01-01-07.ogg", "OGG", "VORBIS")
    _clip(actor / "03-01-02-01-01-01-07.mp3", "MP3", "MPEG_LAYER_III")
    (actor / "03-01-06-01-01-01-07.txt").write_text("not audio")
    items = registry.build("dataset", {"name": "ravdess", "params": {"root": str(tmp_path)}}).load()
    assert sorted(items["label"]) == ["angry", "calm", "happy", "sad"]
    assert sorted(Path(p).suffix for p in items["path"]) == [".flac", ".mp3", ".ogg", ".wav"]


def test_folder_without_speakers_says_not_speaker_independent(synthetic_corpus_dir, tmp_path):
    raw = tiny_config_dict(synthetic_corpus_dir, tmp_path / "runs")
    raw["dataset"]["params"] = {"root": str(synthetic_corpus_dir), "speaker_from": "file"}
    raw["evaluation"] = {"protocol": "group_kfold", "n_splits": 3}
    config = tmp_path / "files.yaml"
    config.write_text(yaml.safe_dump(raw))
    result = CliRunner().invoke(cli, ["train", str(config), "-o", str(tmp_path / "run"), "-q"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert "NOT speaker-independent" in metrics["protocol_description"]
    assert "NOT speaker-independent" in result.stdout
    # with speakers from the file-name prefix it is speaker-independent again
    raw["dataset"]["params"]["speaker_from"] = "prefix"
    config.write_text(yaml.safe_dump(raw))
    result = CliRunner().invoke(cli, ["train", str(config), "-o", str(tmp_path / "run2"), "-q"])
    assert result.exit_code == 0, result.output
    assert "NOT" not in json.loads((tmp_path / "run2" / "metrics.json").read_text())["protocol_description"]


def test_evaluate_accepts_the_folder_that_holds_its_csv(synthetic_corpus_dir, tiny_bundle_dir, tmp_path):
    data = tmp_path / "mine"
    rows = ["path,label,speaker"]
    for label in ("low", "high"):
        for clip in sorted((synthetic_corpus_dir / label).glob("spk4_*.wav")):
            target = data / "audio" / f"{label}_{clip.name}"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(clip, target)
            rows.append(f"audio/{target.name},{label},spk4")
    (data / "labels.csv").write_text("\n".join(rows) + "\n")
    result = CliRunner().invoke(cli, ["evaluate", str(data), "--dataset", "folder", "-m", str(tiny_bundle_dir),
                                      "--json", "-q"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n"] == 6


def test_relative_roots_resolve_against_the_config_folder(synthetic_corpus_dir, tmp_path, monkeypatch):
    project = tmp_path / "project"
    shutil.copytree(synthetic_corpus_dir, project / "data")
    raw = tiny_config_dict("../data", "runs")
    (project / "configs").mkdir()
    config = project / "configs" / "exp.yaml"
    config.write_text(yaml.safe_dump(raw))
    monkeypatch.chdir(tmp_path)  # somewhere else entirely
    ok = CliRunner().invoke(cli, ["validate", str(config)])
    assert ok.exit_code == 0, ok.output
    # one name per folder (configs/../data is data), so runs made from configs in other folders compare clip by clip
    assert load_config(config)[0]["dataset"]["params"]["root"] == str(project / "data")
    raw["dataset"]["params"]["root"] = "../no-such-folder"
    config.write_text(yaml.safe_dump(raw))
    bad = CliRunner().invoke(cli, ["validate", str(config)])
    assert bad.exit_code == 1
    assert f"dataset.params.root: not found: {project / 'no-such-folder'}" in bad.stderr


def test_metrics_on_a_subset_of_the_model_labels():
    labels = ["angry", "calm", "happy", "sad"]
    y_true = np.array([0, 0, 2, 2, 2])
    y_pred = np.array([0, 1, 2, 2, 3])
    m = compute_metrics(y_true, y_pred, labels)
    assert m["labels_scored"] == ["angry", "happy"]
    assert set(m["per_class"]) == {"angry", "happy"}
    assert m["uar"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert m["macro_f1"] == pytest.approx(np.mean([2 / 3, 0.8]))
    assert "calm, sad" in m["note"]
    assert np.array(m["confusion"]).shape == (4, 4)
    assert "note: UAR, macro-F1" in classification_report_text(m)


def test_paired_uar_difference_resamples_whole_speakers():
    from ser_framework.evaluation import paired_uar_difference

    rng = np.random.default_rng(0)
    speakers = np.repeat([f"s{i}" for i in range(8)], 24)
    y = np.tile(np.arange(4), 48)
    b = np.where(rng.random(len(y)) < 0.5, y, (y + 1) % 4)
    same = paired_uar_difference(y, b, b, speakers, n_resamples=200)
    assert same["difference"] == same["low"] == same["high"] == 0.0 and same["share_above_zero"] == 0.0
    # a corrects some of b's errors on every speaker: ahead in every draw, the observed figures are compute_metrics'
    a = np.where((b != y) & (rng.random(len(y)) < 0.5), y, b)
    d = paired_uar_difference(y, a, b, speakers, n_resamples=500, seed=3)
    labels = ["w", "x", "y", "z"]
    assert d["uar_a"] == pytest.approx(compute_metrics(y, a, labels)["uar"])
    assert d["uar_b"] == pytest.approx(compute_metrics(y, b, labels)["uar"])
    assert 0 < d["low"] <= d["difference"] <= d["high"] and d["share_above_zero"] == 1.0
    assert (d["n"], d["n_groups"], d["n_resamples"]) == (192, 8, 500)
    assert paired_uar_difference(y, a, b, speakers, n_resamples=500, seed=3) == d  # seeded
    # one speaker carries the whole gain: the interval by speaker reaches zero, though the clip count is large
    lucky = np.where(speakers == "s0", y, b)
    wide = paired_uar_difference(y, lucky, b, speakers, n_resamples=2000)
    assert wide["difference"] > 0 and wide["low"] == 0.0
    with pytest.raises(ValueError, match="one speaker per clip"):
        paired_uar_difference(y, a, b, speakers[:-1])


def test_evaluate_on_fewer_labels_than_the_model_prints_no_library_warnings(synthetic_corpus_dir, tiny_bundle_dir,
                                                                          tmp_path):
    data = tmp_path / "two_labels"
    for label in ("low", "high"):
        shutil.copytree(synthetic_corpus_dir / label, data / label)
    proc = subprocess.run(
        [sys.executable, "-m", "ser_frontends.cli", "evaluate", str(data), "--dataset", "folder",
         "-m", str(tiny_bundle_dir), "-q"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert "note: UAR, macro-F1 and per-class scores cover the 2 labels present" in proc.stdout
    assert "mid" not in proc.stdout.split("note:")[0]  # no per-class row for a label without support


def test_confusion_figure_title_names_protocol_and_n():
    m = compute_metrics(np.array([0, 1, 1]), np.array([0, 1, 0]), ["a", "b"])
    title = confusion_title(m, "held-out speakers (['spk4']); no speaker in both training and test")
    assert "held-out speakers" in title and "n=3" in title and "UAR 0.750" in title


def test_training_run_writes_the_titled_figure(tiny_bundle_dir):
    run = tiny_bundle_dir.parent
    assert (run / "confusion_matrix.png").stat().st_size > 1000
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["protocol_description"].startswith("held-out speakers")
