"""No voiced speech -> refused ("no speech found"); low confidence -> "uncertain" with close alternatives."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner
from conftest import steady_tone, synth_voice

from ser_framework import NoSpeechError, Prediction
from ser_framework.voice import check_voice, voice_stats

SR = 16000


def _pink(n, rng):
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum /= np.sqrt(np.maximum(np.arange(spectrum.size), 1.0))
    x = np.fft.irfft(spectrum, n)
    return x / np.sqrt(np.mean(x ** 2))


def not_speech(seconds=3.0, sr=SR) -> dict[str, np.ndarray]:
    """Signals the voice check must refuse, at an ordinary level (about -20 dBFS RMS)."""
    n = int(seconds * sr)
    t = np.arange(n) / sr
    rng = np.random.default_rng(0)
    g = 0.1
    hum = sum(np.sin(2 * np.pi * 50 * k * t + k) / k for k in range(1, 11))
    k = np.log(4000 / 100) / seconds
    clicks = np.zeros(n)
    clicks[(np.arange(0, seconds, 0.2) * sr).astype(int) + 100] = 0.5
    signals = {
        "white_noise": g * rng.standard_normal(n),
        "pink_noise": g * _pink(n, rng),
        "tone_220hz": steady_tone(220.0, seconds, sr, amp=g * np.sqrt(2)),
        "hum_50hz": g * hum / np.sqrt(np.mean(hum ** 2)),
        "sweep": g * np.sqrt(2) * np.sin(2 * np.pi * 100 * (np.exp(k * t) - 1) / k),
        "clicks": clicks,
        "am_tone": g * 2 * 0.5 * (1 + np.sin(2 * np.pi * 4 * t)) * np.sin(2 * np.pi * 220 * t),
        "lsb_dither": rng.integers(-1, 2, n) / 32768.0,
    }
    return {name: y.astype(np.float32) for name, y in signals.items()}


REFUSED_BY_CLI = ("white_noise", "pink_noise", "tone_220hz", "hum_50hz", "sweep", "clicks")


@pytest.mark.parametrize("name", sorted(not_speech()))
def test_signals_without_voiced_speech_are_refused(name):
    y = not_speech()[name]
    assert not voice_stats(y, SR).is_speech
    with pytest.raises(NoSpeechError, match=rf"^{name}\.wav: no speech found: \S"):
        check_voice(y, SR, f"{name}.wav")


@pytest.mark.parametrize("sr", [8000, 16000, 44100])
@pytest.mark.parametrize("f0", [110.0, 180.0, 260.0, 600.0])
def test_voice_like_sounds_are_accepted(f0, sr):
    for seconds in (0.2, 0.5, 3.0):
        stats = voice_stats(synth_voice(f0, seconds=seconds, sr=sr, seed=int(f0)), sr)
        assert stats.is_speech, (seconds, stats.problem())


def test_the_message_names_what_was_found():
    with pytest.raises(NoSpeechError) as info:
        check_voice(not_speech()["pink_noise"], SR, "noise.wav")
    assert "no voiced sound (6% of the active frames are voiced, need 16%)" in str(info.value)
    with pytest.raises(NoSpeechError, match="a steady sound without syllables or pauses"):
        check_voice(steady_tone(220.0, 2.0), SR, "tone.wav")
    with pytest.raises(NoSpeechError, match="a steady pitch, like a tone or hum"):
        check_voice(not_speech()["am_tone"], SR, "am.wav")


def test_cli_refuses_each_non_speech_file_in_one_line(tmp_path, tiny_bundle_dir):
    from ser_frontends.cli.main import cli

    paths = []
    for name in REFUSED_BY_CLI:
        paths.append(str(tmp_path / f"{name}.wav"))
        sf.write(paths[-1], not_speech()[name], SR, subtype="PCM_16")
    good = tmp_path / "voice.wav"
    sf.write(good, synth_voice(180.0, seconds=1.5), SR, subtype="PCM_16")

    result = CliRunner().invoke(cli, ["predict", *paths, "-m", str(tiny_bundle_dir)])
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == len(REFUSED_BY_CLI)
    for path, line in zip(paths, lines):
        assert line.startswith(f"Error: {path}: no speech found: ") and "Traceback" not in line

    both = CliRunner().invoke(cli, ["predict", str(good), paths[0], "-m", str(tiny_bundle_dir), "--json"])
    assert both.exit_code == 1
    entries = json.loads(both.stdout)
    assert entries[0]["path"] == str(good) and "label" in entries[0] and "uncertain" in entries[0]
    assert "no speech found" in entries[1]["error"]


def test_training_and_extraction_do_not_check_for_speech(tiny_bundle_dir):
    """The check guards prediction only: feature rows are computed for any clip."""
    from ser_framework.bundle import load_bundle

    bundle = load_bundle(tiny_bundle_dir)
    tone = steady_tone(220.0, 1.0, bundle.pipeline.sample_rate)
    assert bundle.pipeline.from_waveform(tone).shape == (bundle.pipeline.n_features(),)
    with pytest.raises(NoSpeechError):
        bundle.predict_waveform(tone, "tone")
    assert bundle.predict_waveform(tone, "tone", check_speech=False).label in bundle.labels


def test_timeline_skips_windows_without_voiced_speech(tmp_path, tiny_bundle_dir):
    """A tone and a stretch of noise between two utterances get no segment."""
    from ser_framework.bundle import load_bundle
    from ser_framework.timeline import timeline

    bundle = load_bundle(tiny_bundle_dir)
    rng = np.random.default_rng(5)
    floor = lambda s: (3e-4 * rng.standard_normal(int(s * SR))).astype(np.float32)  # noqa: E731
    parts = [floor(1.0), synth_voice(180.0, 4.0, seed=1), floor(2.0), steady_tone(220.0, 8.0, amp=0.2),
             floor(2.0), not_speech(6.0)["white_noise"], floor(2.0), synth_voice(260.0, 4.0, seed=2), floor(1.0)]
    y = np.concatenate(parts)
    path = tmp_path / "mixed.wav"
    sf.write(path, y, SR, subtype="PCM_16")
    result = timeline(bundle, str(path))
    voice = [(1.0, 5.0), (25.0, 29.0)]
    assert result.segments
    for seg in result.segments:  # every segment lies on (or right next to) an utterance
        assert any(seg.start >= s - 2.0 and seg.end <= e + 2.0 for s, e in voice), (seg.start, seg.end)
    covered = lambda s, e: sum(max(0.0, min(e, g.end) - max(s, g.start)) for g in result.segments)  # noqa: E731
    assert covered(*voice[0]) > 3.0 and covered(*voice[1]) > 3.0
    unchecked = timeline(bundle, str(path), check_speech=False)
    assert any(g.start > 8.0 and g.end < 25.0 for g in unchecked.segments)  # without the check they are labelled


def test_prediction_uncertain_and_alternatives():
    sure = Prediction("a.wav", "angry", {"angry": 0.8, "fearful": 0.15, "sad": 0.05})
    assert not sure.uncertain and sure.as_dict()["uncertain"] is False
    unsure = Prediction("b.wav", "angry", {"angry": 0.41, "fearful": 0.335, "sad": 0.15, "calm": 0.105})
    assert unsure.uncertain and unsure.as_dict(top=2) == {
        "path": "b.wav", "label": "angry", "uncertain": True, "probabilities": {"angry": 0.41, "fearful": 0.335}}
    assert unsure.alternatives() == [("angry", 0.41), ("fearful", 0.335)]  # sad is under half of the top
    assert not Prediction("c.wav", "sad", {"sad": 0.45, "calm": 0.55}, min_confidence=0.4).uncertain


@pytest.fixture(scope="module")
def flat_bundle(tiny_bundle_dir, tmp_path_factory):
    """The tiny bundle with a high temperature: every answer is close to a three-way tie."""
    folder = tmp_path_factory.mktemp("flat") / "model"
    shutil.copytree(tiny_bundle_dir, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["calibration"] = {**manifest.get("calibration", {}), "temperature": 200.0}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def test_cli_says_uncertain_with_the_close_alternatives(tmp_path, flat_bundle, tiny_bundle_dir):
    from ser_frontends.cli.main import cli

    clip = tmp_path / "voice.wav"
    sf.write(clip, synth_voice(150.0, seconds=1.0), SR, subtype="PCM_16")
    text = CliRunner().invoke(cli, ["predict", str(clip), "-m", str(flat_bundle)])
    assert text.exit_code == 0, text.output
    line = text.stdout.strip()
    assert line.startswith(f"{clip}: uncertain — ") and " or " in line and line.count("%") >= 4
    js = CliRunner().invoke(cli, ["predict", str(clip), "-m", str(flat_bundle), "--json"])
    assert json.loads(js.stdout)[0]["uncertain"] is True
    sure = CliRunner().invoke(cli, ["predict", str(clip), "-m", str(flat_bundle), "--json", "--min-confidence", "0.1"])
    assert json.loads(sure.stdout)[0]["uncertain"] is False
    plain = CliRunner().invoke(cli, ["predict", str(clip), "-m", str(tiny_bundle_dir)])
    assert plain.exit_code == 0 and ": uncertain" not in plain.stdout


def test_app_shows_uncertain_answers_with_alternatives():
    from ser_frontends.app.logic import UNCERTAIN_ICON, answer_for, icon_for

    unsure = answer_for(Prediction("b.wav", "angry", {"angry": 0.41, "fearful": 0.335, "sad": 0.254}), 3.0)
    assert unsure.uncertain and unsure.icon == UNCERTAIN_ICON
    assert unsure.title == "Uncertain: angry or fearful or sad" and len(unsure.rows()) == 3
    two = answer_for(Prediction("c.wav", "sad", {"sad": 0.45, "angry": 0.35, "calm": 0.2}), 3.0)
    assert two.title == "Uncertain: sad or angry"
    one = answer_for(Prediction("d.wav", "sad", {"sad": 0.45, "angry": 0.2, "calm": 0.2, "happy": 0.15}), 3.0)
    assert one.title == "Uncertain: perhaps sad"
    sure = answer_for(Prediction("a.wav", "happy", {"happy": 0.9, "sad": 0.1}), 3.0)
    assert not sure.uncertain and sure.title == "Happy" and sure.icon == icon_for("happy")
