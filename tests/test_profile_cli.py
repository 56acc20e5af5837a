"""``ser profile create|add|list|show|delete`` and ``ser data info|backup`` on a temporary data folder."""
from __future__ import annotations

import json
import sqlite3

import pytest
import soundfile as sf
from click.testing import CliRunner
from conftest import SYNTH_SR, steady_tone, synth_voice
from test_profiles import normalised_run  # noqa: F401 (a fixture: a tiny model trained with speaker normalisation)

from ser_frontends.cli.main import cli


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    monkeypatch.setenv("SER_DATA_DIR", str(folder))
    return folder


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("voice")
    paths = []
    for i in range(5):
        path = folder / f"me_{i}.wav"
        sf.write(path, synth_voice(220.0 * (1 + 0.02 * i), seconds=0.8, seed=100 + i), SYNTH_SR)
        paths.append(str(path))
    tone = folder / "tone.wav"
    sf.write(tone, steady_tone(440.0, seconds=0.8), SYNTH_SR)
    return paths, str(tone)


def ser(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result.exit_code, result.output


def test_profile_life_cycle(data_dir, clips, tiny_bundle_dir):
    from ser_framework import DataStore, SpeakerProfile, load_bundle, local_user

    voice, _ = clips
    code, out = ser("profile", "list")
    assert code == 0 and "no profiles yet" in out
    code, out = ser("profile", "create", "me", *voice[:3], "--model", tiny_bundle_dir)
    assert code == 0 and "profile 'me': 3 clips" in out, out
    assert "1/3 clips\n2/3 clips\n3/3 clips\n" in out and "\r" not in out  # not a terminal: a line per clip
    expected = SpeakerProfile.enrol(load_bundle(tiny_bundle_dir), voice[:3], "me")
    assert local_user(DataStore(data_dir)).profile("me") == expected  # stored in the database, in full

    code, out = ser("profile", "add", "me", *voice[3:], "--model", tiny_bundle_dir)
    assert code == 0 and "5 clips" in out
    code, out = ser("profile", "list", "--json")
    (row,) = json.loads(out)
    assert (row["name"], row["n_clips"], row["model_key"]) == ("me", 5, expected.model_key)
    code, out = ser("profile", "show", "me", "--json")
    shown = json.loads(out)
    assert shown["n_clips"] == 5 and len(shown["mean"]) == row["n_features"]
    code, out = ser("profile", "show", "me")
    assert code == 0 and "n_clips:     5" in out

    code, out = ser("profile", "create", "me", *voice[:3], "--model", tiny_bundle_dir)
    assert code == 1 and "exists" in out
    code, out = ser("profile", "delete", "me")
    assert code == 0
    code, out = ser("profile", "show", "me")
    assert code == 1 and "no profile named 'me'" in out and "Traceback" not in out


def test_profile_errors_are_one_line(data_dir, clips, tiny_bundle_dir):
    voice, tone = clips
    code, out = ser("profile", "create", "me", *voice[:2], "--model", tiny_bundle_dir)
    assert code == 1 and "at least 3 clips" in out
    code, out = ser("profile", "create", "me", *voice[:2], tone, "--model", tiny_bundle_dir)
    assert code == 1 and "tone.wav" in out and "no speech found" in out
    code, out = ser("profile", "add", "nobody", *voice[:3], "--model", tiny_bundle_dir)
    assert code == 1 and "no profile named 'nobody'" in out
    assert ser("profile", "list", "--json")[1].strip() == "[]"


def test_data_info_and_backup(data_dir, tmp_path):
    code, out = ser("data", "info", "--json")
    info = json.loads(out)
    assert code == 0 and info["path"] == str(data_dir / "ser.db") and info["schema_version"] >= 1
    code, out = ser("data", "backup", tmp_path / "copy.db")
    assert code == 0
    with sqlite3.connect(tmp_path / "copy.db") as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchone()[0] == info["schema_version"]
    code, out = ser("data", "backup", tmp_path / "copy.db")
    assert code == 1 and "already exists" in out


def test_predict_resolves_a_stored_profile_by_name(data_dir, clips, tiny_bundle_dir):
    voice, _ = clips
    code, out = ser("predict", "--profile", "me", voice[4], "--model", tiny_bundle_dir)
    assert code == 1 and "no profile named 'me'" in out and "there are no profiles yet" in out
    assert ser("profile", "create", "me", *voice[:3], "--model", tiny_bundle_dir)[0] == 0
    code, out = ser("predict", "--json", "--profile", "me", voice[4], "--model", tiny_bundle_dir)
    # found in the store and used: this tiny model was trained without speaker normalisation, so it says so
    assert "trained without speaker normalisation" in out, out


def test_predict_with_a_stored_profile_gives_the_profiles_answer(data_dir, clips, normalised_run):  # noqa: F811
    from ser_framework import DataStore, load_bundle, local_user

    voice, _ = clips
    model = str(normalised_run.bundle_dir)
    assert ser("profile", "create", "me", *voice[:3], "--model", model)[0] == 0
    code, out = ser("predict", "--json", "--top", "3", "--profile", "me", voice[4], "--model", model)
    assert code == 0, out
    expected = load_bundle(model).predict(voice[4], profile=local_user(DataStore(data_dir)).profile("me"))
    (entry,) = json.loads(out)
    assert entry["label"] == expected.label
    assert entry["probabilities"] == pytest.approx(dict(expected.top(3)))


def test_profile_from_a_folder_of_recordings(data_dir, clips, tiny_bundle_dir, tmp_path):
    """``ser profile create NAME FOLDER``: the audio files under it, as if named one by one."""
    import shutil

    from ser_framework import DataStore, SpeakerProfile, load_bundle, local_user

    voice, _ = clips
    folder = tmp_path / "my voice"
    folder.mkdir()
    for path in voice[:4]:
        shutil.copy(path, folder)
    (folder / "readme.txt").write_text("four sentences")
    code, out = ser("profile", "create", "me", folder, "--model", tiny_bundle_dir)
    assert code == 0 and "profile 'me': 4 clips" in out, out
    expected = SpeakerProfile.enrol(load_bundle(tiny_bundle_dir), sorted(str(folder / p.split("/")[-1])
                                                                        for p in voice[:4]), "me")
    assert local_user(DataStore(data_dir)).profile("me") == expected
    empty = tmp_path / "nothing"
    empty.mkdir()
    code, out = ser("profile", "add", "me", empty, "--model", tiny_bundle_dir)
    assert code == 1 and "is a folder, not an audio file, and holds none" in out and "Traceback" not in out
