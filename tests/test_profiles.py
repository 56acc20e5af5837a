"""Speaker profiles: enrolment, persistence, feature-space checks, prediction and the --enrol protocol."""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner
from conftest import SYNTH_SR, steady_tone, synth_voice, tiny_config_dict

from ser_framework import ProfileError, SpeakerProfile, evaluate_bundle, load_bundle


@pytest.fixture(scope="module")
def normalised_run(synthetic_corpus_dir, tmp_path_factory):
    """A tiny model trained with per-speaker normalisation (3-clip profiles), test speaker spk4."""
    from ser_framework.config import validate
    from ser_framework.experiment import run_training
    from ser_framework.plugins import get_registry

    out = tmp_path_factory.mktemp("normalised_run")
    registry = get_registry()
    raw = tiny_config_dict(synthetic_corpus_dir, out)
    raw["speaker_normalisation"] = {"enrol": 3, "shrink_var": 2}
    config = validate(raw, registry)
    return run_training(config, registry, out / "run", progress=False)


@pytest.fixture(scope="module")
def bundle(normalised_run):
    return load_bundle(normalised_run.bundle_dir)


def _clips(corpus, speaker="spk4"):
    return sorted(str(p) for p in corpus.glob(f"*/{speaker}_*.wav"))


def _items(corpus):
    from ser_framework.plugins import get_registry

    return get_registry().build("dataset", {"name": "folder", "params": {"root": str(corpus),
                                                                         "speaker_from": "prefix"}}).load()


def test_enrol_holds_the_statistics_of_the_clips_features(bundle, synthetic_corpus_dir):
    clips = _clips(synthetic_corpus_dir)[:3]
    y = synth_voice(200.0, seed=99)
    profile = SpeakerProfile.enrol(bundle, [*clips, (y, SYNTH_SR)], "ana")
    X = np.vstack([bundle.pipeline.from_source(c) for c in clips]
                  + [bundle.pipeline.from_waveform(bundle.pipeline.load(_wav(y)))]).astype(np.float64)
    assert profile.name == "ana" and profile.n_clips == 4 and profile.model_key == bundle.feature_space
    np.testing.assert_allclose(profile.mean, X.mean(axis=0), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(profile.var, X.var(axis=0), rtol=1e-3, atol=1e-3)


def _wav(y):
    import io

    buf = io.BytesIO()
    sf.write(buf, y, SYNTH_SR, format="WAV", subtype="FLOAT")
    buf.seek(0)
    return buf


def test_updated_equals_enrolling_every_clip_at_once(bundle, synthetic_corpus_dir):
    clips = _clips(synthetic_corpus_dir)
    first = SpeakerProfile.enrol(bundle, clips[:3], "ana")
    both = first.updated(bundle, clips[3:7])
    at_once = SpeakerProfile.enrol(bundle, clips[:7], "ana")
    assert both.n_clips == 7
    np.testing.assert_allclose(both.mean, at_once.mean, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(both.m2, at_once.m2, rtol=1e-6, atol=1e-6)


def test_enrolment_refuses_a_clip_without_speech_naming_it_and_too_few_clips(bundle, synthetic_corpus_dir, tmp_path):
    tone = tmp_path / "hum.wav"
    sf.write(tone, steady_tone(220.0), SYNTH_SR)
    clips = _clips(synthetic_corpus_dir)[:3]
    with pytest.raises(ProfileError, match=r"hum\.wav.*no speech"):
        SpeakerProfile.enrol(bundle, [*clips, str(tone)], "ana")
    with pytest.raises(ProfileError, match="at least 3 clips"):
        SpeakerProfile.enrol(bundle, clips[:2], "ana")
    with pytest.raises(ProfileError, match="profile name"):
        SpeakerProfile.enrol(bundle, clips, "")


def test_round_trip_through_json_and_malformed_profiles(bundle, synthetic_corpus_dir, tmp_path):
    profile = SpeakerProfile.enrol(bundle, _clips(synthetic_corpus_dir)[:4], "ana")
    assert SpeakerProfile.from_dict(json.loads(json.dumps(profile.to_dict()))) == profile
    assert SpeakerProfile.load(profile.save(tmp_path / "ana.json")) == profile
    good = profile.to_dict()
    for bad, message in [({**good, "format": 99}, "format"), ({**good, "n_clips": 1}, "n_clips"),
                         ({**good, "mean": good["mean"][:-1]}, "same"), ({**good, "m2": [-1.0] * len(good["m2"])}, "finite"),
                         ({k: v for k, v in good.items() if k != "mean"}, "lacks mean"), ([], "JSON object")]:
        with pytest.raises(ProfileError, match=message):
            SpeakerProfile.from_dict(bad)


def test_a_profile_of_another_feature_space_or_a_model_without_normalisation_is_refused(
        bundle, tiny_bundle_dir, synthetic_corpus_dir):
    profile = SpeakerProfile.enrol(bundle, _clips(synthetic_corpus_dir)[:4], "ana")
    clip = _clips(synthetic_corpus_dir)[5]
    other = SpeakerProfile("ana", 4, "0123456789abcdef", profile.mean, profile.m2)
    with pytest.raises(ProfileError, match="another model's features"):
        bundle.predict(clip, profile=other)
    plain = load_bundle(tiny_bundle_dir)  # same features, trained without speaker normalisation
    assert plain.feature_space == bundle.feature_space
    with pytest.raises(ProfileError, match="without speaker normalisation"):
        plain.predict(clip, profile=profile)


def test_predicting_with_a_profile_z_scores_the_features_with_its_shrunk_statistics(bundle, synthetic_corpus_dir):
    from ser_framework.calibration import apply_temperature

    clips = _clips(synthetic_corpus_dir)
    profile = SpeakerProfile.enrol(bundle, clips[:3], "ana")
    x = bundle.pipeline.from_source(clips[5]).astype(np.float64)
    norm = bundle.model.normaliser
    n, k = profile.n_clips, norm.k_var
    std = np.sqrt((n * profile.var + k * norm.prior_var) / (n + k)) + 1e-6
    z = ((x - profile.mean) / std).astype(np.float32)[None, :]
    expected = apply_temperature(bundle.model.classifier.predict_proba(bundle.model.transform(z)), bundle.temperature)
    got = bundle.predict(clips[5], profile=profile)
    np.testing.assert_allclose([got.probabilities[lab] for lab in bundle.labels], expected[0], atol=1e-6)
    without = bundle.predict(clips[5])  # population statistics
    assert without.probabilities != got.probabilities


def test_enrol_evaluation_never_puts_a_scored_clip_in_a_profile(bundle, synthetic_corpus_dir, monkeypatch):
    from ser_framework import profiles

    seen = []
    original = profiles.SpeakerProfile.from_features.__func__

    def spy(cls, X, name, model_key):
        seen.append((name, np.array(X, dtype=np.float64)))
        return original(cls, X, name, model_key)

    monkeypatch.setattr(profiles.SpeakerProfile, "from_features", classmethod(spy))
    items = _items(synthetic_corpus_dir)
    metrics = evaluate_bundle(bundle, items, {"n_jobs": 1, "cache": False}, progress=False, enrol=3, seed=5)
    enrol = metrics["enrol"]
    enrolled = {p for paths in enrol["enrolment_paths"].values() for p in paths}
    assert enrol["n_enrolled"] == len(enrolled) == 3 * 4 and metrics["n"] == enrol["n_scored"] == len(items) - 12
    features = {p: bundle.pipeline.from_source(p).astype(np.float64) for p in items["path"]}
    assert sorted(name for name, _ in seen) == ["spk1", "spk2", "spk3", "spk4"]
    for name, X in seen:  # every row a profile saw is an enrolment clip of that speaker, never a scored one
        own = enrol["enrolment_paths"][name]
        assert len(X) == 3
        for row in X:
            match = [p for p, f in features.items() if np.allclose(f, row, atol=1e-4)]
            assert match and set(match) <= set(own)
    again = evaluate_bundle(bundle, items, {"n_jobs": 1, "cache": False}, progress=False, enrol=3, seed=5)
    assert again["enrol"]["enrolment_paths"] == enrol["enrolment_paths"]  # seeded


def test_training_with_speaker_normalisation_scores_only_clips_outside_the_profiles(normalised_run):
    import pandas as pd

    m = normalised_run.metrics
    preds = pd.read_csv(normalised_run.run_dir / "predictions.csv")
    test = preds[preds["speaker"] == "spk4"]
    assert m["n"] == len(test) - 3 == int((test["fold"] == 0).sum())  # 3 enrolment clips: fold -2, unscored
    assert int((test["fold"] == -2).sum()) == 3
    manifest = json.loads((normalised_run.bundle_dir / "manifest.json").read_text())
    assert manifest["speaker_normalisation"]["shrink_var"] == 2
    assert manifest["config"]["speaker_normalisation"] == {"enrol": 3, "shrink_mean": 0.0, "shrink_var": 2.0}
    assert "enrolment" in m["protocol_description"]


def test_cli_predict_with_a_profile_file_and_evaluate_with_enrol(normalised_run, synthetic_corpus_dir, tmp_path):
    from ser_frontends.cli.main import cli

    bundle = load_bundle(normalised_run.bundle_dir)
    clips = _clips(synthetic_corpus_dir)
    path = SpeakerProfile.enrol(bundle, clips[:3], "ana").save(tmp_path / "ana.json")
    runner = CliRunner()
    out = runner.invoke(cli, ["predict", "--json", "--profile", str(path), "-m", str(normalised_run.bundle_dir),
                              clips[6]])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)[0]["label"] in bundle.labels
    out = runner.invoke(cli, ["predict", "--profile", str(tmp_path / "none.json"), clips[6]])
    assert out.exit_code == 1 and "profile file not found" in out.output
    data = tmp_path / "data.csv"
    items = _items(synthetic_corpus_dir)
    items[["path", "label", "speaker"]].to_csv(data, index=False)
    out = runner.invoke(cli, ["evaluate", str(data), "--dataset", "folder", "--enrol", "3", "--json", "-q",
                              "--speakers", "spk3,spk4", "-m", str(normalised_run.bundle_dir)])
    assert out.exit_code == 0, out.output
    result = json.loads(out.output)
    assert result["n"] == 12 and result["enrol"]["clips"] == 3 and set(result["enrol"]["enrolment_paths"]) == {"spk3", "spk4"}
    out = runner.invoke(cli, ["evaluate", str(data), "--dataset", "folder", "--enrol", "9", "-q",
                              "-m", str(normalised_run.bundle_dir)])
    assert out.exit_code == 1 and "has 9 clips" in out.output


def test_speaker_normalisation_config_is_validated_and_named(synthetic_corpus_dir, tmp_path):
    import yaml

    from ser_framework import ConfigError
    from ser_framework.config import validate
    from ser_framework.plugins import get_registry
    from ser_frontends.cli.main import cli

    registry = get_registry()
    raw = tiny_config_dict(synthetic_corpus_dir, tmp_path)
    assert validate(raw, registry)["speaker_normalisation"] is None
    assert validate({**raw, "speaker_normalisation": True}, registry)["speaker_normalisation"] == {
        "enrol": 10, "shrink_mean": 0.0, "shrink_var": 20.0}
    with pytest.raises(ConfigError) as err:
        validate({**raw, "speaker_normalisation": {"enrol": 2, "shrink": 1}}, registry)
    paths = [p for p, _ in err.value.problems]
    assert "speaker_normalisation.enrol" in paths and "speaker_normalisation.shrink" in paths
    path = tmp_path / "sn.yaml"
    path.write_text(yaml.safe_dump({**raw, "speaker_normalisation": {"enrol": 4}}))
    out = CliRunner().invoke(cli, ["validate", str(path)])
    assert out.exit_code == 0 and "per-speaker normalisation (4-clip profiles)" in out.output
