"""Late fusion: ``ser fuse`` makes one bundle from trained bundles; it loads and predicts like any bundle."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import tiny_config_dict

from ser_framework import BundleError, fuse_bundles, fuse_probabilities, load_bundle
from ser_frontends.cli.main import cli


def _train(corpus, out, features, name="run"):
    """A tiny calibrated bundle (logistic regression) on ``features``."""
    from ser_framework.config import validate
    from ser_framework.experiment import run_training
    from ser_framework.plugins import get_registry

    registry = get_registry(load_entrypoints=False)
    raw = tiny_config_dict(corpus, out)
    raw["features"] = features
    raw["evaluation"]["refit"] = False
    return run_training(validate(raw, registry), registry, out / name, progress=False).bundle_dir


@pytest.fixture(scope="module")
def members(tiny_bundle_dir, synthetic_corpus_dir, tmp_path_factory):
    """Two tiny bundles on different (overlapping) feature sets: mfcc; mfcc + spectral contrast."""
    out = tmp_path_factory.mktemp("fusion_members")
    return tiny_bundle_dir, _train(synthetic_corpus_dir, out, [{"name": "mfcc"}, {"name": "spectral_contrast"}], "b")


def test_fuse_probabilities_geometric_and_arithmetic():
    a = np.array([[0.7, 0.2, 0.1], [0.5, 0.5, 0.0]])
    b = np.array([[0.1, 0.6, 0.3], [0.5, 0.4, 0.1]])
    arith = fuse_probabilities([a, b], [3, 1], "arithmetic")
    np.testing.assert_allclose(arith, 0.75 * a + 0.25 * b)
    geo = fuse_probabilities([a, b], [1, 1], "geometric")
    expected = np.sqrt(a[0] * b[0])
    np.testing.assert_allclose(geo[0], expected / expected.sum())
    assert geo[1, 2] < 1e-5  # a label one member rules out stays ruled out
    np.testing.assert_allclose(geo.sum(axis=1), 1.0)


def test_fused_bundle_predicts_the_fused_calibrated_probabilities(members, synthetic_corpus_dir, tmp_path):
    a, b = (load_bundle(m) for m in members)
    assert a.temperature != 1.0 and b.temperature != 1.0  # members are calibrated
    result = CliRunner().invoke(cli, ["fuse", str(members[0]), str(members[1]), "-o", str(tmp_path / "fused"),
                                      "-w", "3,1", "--mean", "arithmetic"])
    assert result.exit_code == 0, result.output
    fused = load_bundle(tmp_path / "fused")
    assert fused.labels == a.labels
    assert [e.name for e in fused.pipeline.extractors] == ["mfcc", "spectral_contrast"]  # mfcc computed once
    clips = sorted(synthetic_corpus_dir.rglob("*.wav"))[::4]
    for clip in clips:
        y = fused.pipeline.load(clip)
        expected = 0.75 * a.predict_features(a.pipeline.from_waveform(y)[None]) + \
            0.25 * b.predict_features(b.pipeline.from_waveform(y)[None])
        got = fused.predict_features(fused.pipeline.from_waveform(y)[None])
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
        assert fused.predict(clip).probabilities == pytest.approx(dict(zip(fused.labels, got[0])), abs=1e-6)
    manifest = json.loads((tmp_path / "fused" / "manifest.json").read_text())
    assert manifest["kind"] == "fusion" and manifest["classifier"]["params"] == {"mean": "arithmetic",
                                                                                 "weights": [0.75, 0.25]}
    sources = [m["source"] for m in manifest["members"]]
    assert sources == [str(members[0].resolve()), str(members[1].resolve())]
    assert all({"training", "evaluation", "calibration", "manifest_sha256"} <= set(m) for m in manifest["members"])
    # ser predict --model and ser evaluate take it like any bundle
    proc = CliRunner().invoke(cli, ["predict", "--json", "-m", str(tmp_path / "fused"), *map(str, clips[:2])])
    assert proc.exit_code == 0, proc.output
    assert [r["label"] for r in json.loads(proc.output)] == [fused.predict(c).label for c in clips[:2]]
    proc = CliRunner().invoke(cli, ["evaluate", str(synthetic_corpus_dir), "--dataset", "folder", "--json", "-q",
                                    "-m", str(tmp_path / "fused")])
    assert proc.exit_code == 0, proc.output
    assert json.loads(proc.output)["uar"] > 0.6


def test_fusion_refuses_members_with_other_labels(members, synthetic_corpus_dir, tmp_path):
    two = tmp_path / "two_labels"
    for label in ("low", "high"):
        shutil.copytree(synthetic_corpus_dir / label, two / label)
    other = _train(two, tmp_path / "runs", [{"name": "mfcc"}])
    with pytest.raises(BundleError, match="labels differ"):
        fuse_bundles([members[0], other], tmp_path / "fused")
    with pytest.raises(BundleError, match="one weight per member"):
        fuse_bundles(members, tmp_path / "fused", weights=[1.0])
    result = CliRunner().invoke(cli, ["fuse", str(members[0]), str(members[1]), "-o", str(tmp_path / "f"), "-w", "1,x"])
    assert result.exit_code == 1 and "--weights" in result.output
    assert not (tmp_path / "fused").exists() and not (tmp_path / "f").exists()


def test_a_tampered_member_is_refused(members, tmp_path):
    fused = fuse_bundles(members, tmp_path / "fused")
    member_manifest = fused / "members" / "01" / "manifest.json"
    member_manifest.write_text(member_manifest.read_text().replace('"labels"', '"labels" ', 1))
    with pytest.raises(BundleError, match="does not match its SHA-256"):
        load_bundle(fused)


def test_a_fused_bundle_without_a_profile_member_refuses_a_speaker_profile(members, tmp_path):
    from ser_framework import ProfileError

    fused = load_bundle(fuse_bundles(members, tmp_path / "fused"))
    assert not fused.accepts_profiles
    X = np.zeros((1, fused.pipeline.n_features()), dtype=np.float32)
    with pytest.raises(ProfileError, match="no member trained with speaker normalisation"):
        fused.model.predict_proba_features(X, profile=object())
    assert fused.predict_features(X).shape == (1, len(fused.labels))


@pytest.fixture(scope="module")
def normalised_member(synthetic_corpus_dir, tmp_path_factory):
    """A tiny bundle trained with per-speaker normalisation (3-clip profiles) on mfcc + chroma."""
    from ser_framework.config import validate
    from ser_framework.experiment import run_training
    from ser_framework.plugins import get_registry

    registry = get_registry(load_entrypoints=False)
    out = tmp_path_factory.mktemp("fusion_normalised")
    raw = tiny_config_dict(synthetic_corpus_dir, out)
    raw["features"] = [{"name": "mfcc"}, {"name": "chroma"}]
    raw["speaker_normalisation"] = {"enrol": 3, "shrink_var": 2}
    raw["evaluation"]["refit"] = False
    return run_training(validate(raw, registry), registry, out / "sn", progress=False).bundle_dir


def test_a_profile_member_takes_the_replaced_members_place_only_with_a_profile(
        members, normalised_member, synthetic_corpus_dir, tmp_path):
    from ser_framework import SpeakerProfile, evaluate_bundle

    result = CliRunner().invoke(cli, ["fuse", str(members[0]), str(members[1]), "-o", str(tmp_path / "fused"),
                                      "--profile-member", str(normalised_member), "--replaces", "1"])
    assert result.exit_code == 0, result.output
    assert "takes the place of" in result.output
    fused = load_bundle(tmp_path / "fused")
    plain = load_bundle(fuse_bundles(members, tmp_path / "plain"))
    a, b, sn = (load_bundle(m) for m in (*members, normalised_member))
    manifest = fused.manifest
    assert [m["use"] for m in manifest["members"]] == ["without_profile", "always", "with_profile"]
    assert manifest["classifier"]["params"]["weights"] == [0.5, 0.5, 0.5]  # the profile member at the replaced weight
    assert [e.name for e in fused.pipeline.extractors] == ["mfcc", "spectral_contrast", "chroma"]
    # a profile of the fused bundle is one of the profile member's feature space, from its features only
    clips = sorted(str(p) for p in synthetic_corpus_dir.glob("*/spk4_*.wav"))
    profile = SpeakerProfile.enrol(fused, clips[:3], "ana")
    assert fused.accepts_profiles and profile.model_key == fused.feature_space == sn.feature_space
    assert profile == SpeakerProfile.enrol(sn, clips[:3], "ana")
    for clip in clips[3:6]:
        y = fused.pipeline.load(clip)
        row = fused.pipeline.from_waveform(y)[None]
        # without a profile: exactly the fusion of the other members; the profile member is not used
        np.testing.assert_allclose(fused.predict_features(row), plain.predict_features(row[:, :plain.pipeline.n_features()]),
                                   atol=1e-7)
        expected = fuse_probabilities([sn.predict_features(sn.pipeline.from_waveform(y)[None], profile=profile),
                                       b.predict_features(b.pipeline.from_waveform(y)[None])], [1, 1])
        got = fused.predict_features(row, profile=profile)
        np.testing.assert_allclose(got, expected, atol=1e-6)
        # the profile changes the answer (compared as logs: the tiny models are near-certain on these clips)
        assert not np.allclose(np.log(got), np.log(fused.predict_features(row)), atol=0.1)
    assert fused.predict(clips[6], profile=profile).probabilities == pytest.approx(
        sn_fusion(sn, b, clips[6], profile), abs=1e-6)
    # ser evaluate --enrol takes it like a speaker-normalised bundle; profiles come from enrolment clips only
    from ser_framework.plugins import get_registry

    items = get_registry().build("dataset", {"name": "folder", "params": {"root": str(synthetic_corpus_dir),
                                                                          "speaker_from": "prefix"}}).load()
    metrics = evaluate_bundle(fused, items, {"n_jobs": 1, "cache": False}, progress=False, enrol=3, seed=5)
    assert metrics["n"] == len(items) - 12 and metrics["enrol"]["without_profile"]["n"] == metrics["n"]
    # a profile made for the other members' features is refused
    with pytest.raises(Exception, match="another model's features"):
        fused.predict_features(row, profile=SpeakerProfile(profile.name, 3, a.feature_space, profile.mean,
                                                           profile.m2))


def sn_fusion(sn, b, clip, profile) -> dict:
    y = sn.pipeline.load(clip)
    p = fuse_probabilities([sn.predict_features(sn.pipeline.from_waveform(y)[None], profile=profile),
                            b.predict_features(b.pipeline.from_waveform(y)[None])], [1, 1])[0]
    return dict(zip(sn.labels, p))


def test_a_profile_member_must_be_speaker_normalised_and_replace_an_existing_member(
        members, normalised_member, cv_members, tmp_path):
    with pytest.raises(BundleError, match="must be trained with speaker_normalisation"):
        fuse_bundles(members, tmp_path / "f1", profile_member=members[1])
    with pytest.raises(BundleError, match="replaces member 3, but there are 2"):
        fuse_bundles(members, tmp_path / "f2", profile_member=normalised_member, replaces=2)
    runs = cv_members
    with pytest.raises(BundleError, match="cannot be combined with a profile member"):
        fuse_bundles([r / "model" for r in runs], tmp_path / "f3", profile_member=normalised_member,
                     calibrate_on=runs)
    result = CliRunner().invoke(cli, ["fuse", str(members[0]), str(members[1]), "-o", str(tmp_path / "f4"),
                                      "--profile-member", str(members[1])])
    assert result.exit_code == 1 and "must be trained with speaker_normalisation" in result.output
    assert not any((tmp_path / f).exists() for f in ("f1", "f2", "f3", "f4"))
    # a manifest whose members' uses do not pair up is refused on loading
    fused = fuse_bundles(members, tmp_path / "f5", profile_member=normalised_member)
    manifest = json.loads((fused / "manifest.json").read_text())
    manifest["members"][0]["use"] = "always"
    (fused / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="'use' must be one of"):
        load_bundle(fused)
    with pytest.raises(BundleError, match="profile member's weight must be a positive number"):
        fuse_bundles(members, tmp_path / "f6", profile_member=normalised_member, profile_weight=0)
    assert not (tmp_path / "f6").exists()


def test_a_profile_member_at_a_weight_of_its_own(members, normalised_member, synthetic_corpus_dir, tmp_path):
    from ser_framework import SpeakerProfile

    result = CliRunner().invoke(cli, ["fuse", str(members[0]), str(members[1]), "-o", str(tmp_path / "fused"),
                                      "-w", "1,3", "--profile-member", str(normalised_member),
                                      "--profile-weight", "9"])
    assert result.exit_code == 0, result.output
    assert "at weight 9" in result.output
    fused = load_bundle(tmp_path / "fused")
    assert fused.manifest["classifier"]["params"]["weights"] == [0.25, 0.75, 2.25]
    plain = load_bundle(fuse_bundles(members, tmp_path / "plain", weights=[1, 3]))
    sn, b = load_bundle(normalised_member), load_bundle(members[1])
    clips = sorted(str(p) for p in synthetic_corpus_dir.glob("*/spk4_*.wav"))
    profile = SpeakerProfile.enrol(fused, clips[:3], "ana")
    for clip in clips[3:5]:
        y = fused.pipeline.load(clip)
        row = fused.pipeline.from_waveform(y)[None]
        # with a profile: the profile member against the kept member, 9 to 3; without: the members at 1 to 3
        expected = fuse_probabilities([sn.predict_features(sn.pipeline.from_waveform(y)[None], profile=profile),
                                       b.predict_features(b.pipeline.from_waveform(y)[None])], [9, 3])
        np.testing.assert_allclose(fused.predict_features(row, profile=profile), expected, atol=1e-6)
        np.testing.assert_allclose(fused.predict_features(row), plain.predict_features(row[:, :plain.pipeline.n_features()]),
                                   atol=1e-7)


def test_a_profile_temperature_tempers_only_the_answers_with_a_profile(members, normalised_member,
                                                                        synthetic_corpus_dir, tmp_path):
    from ser_framework import SpeakerProfile, apply_temperature

    args = ["fuse", str(members[0]), str(members[1]), "--profile-member", str(normalised_member),
            "--profile-weight", "2"]
    result = CliRunner().invoke(cli, [*args, "-o", str(tmp_path / "tempered"), "--profile-temperature", "2.5"])
    assert result.exit_code == 0, result.output
    assert "at temperature 2.5" in result.output
    tempered = load_bundle(tmp_path / "tempered")
    assert tempered.manifest["profile_calibration"]["temperature"] == 2.5
    assert CliRunner().invoke(cli, [*args, "-o", str(tmp_path / "plain")]).exit_code == 0
    plain = load_bundle(tmp_path / "plain")
    assert "profile_calibration" not in plain.manifest and plain.profile_temperature == 1.0
    clips = sorted(str(p) for p in synthetic_corpus_dir.glob("*/spk4_*.wav"))
    profile = SpeakerProfile.enrol(plain, clips[:3], "ana")
    rows = np.vstack([plain.pipeline.from_waveform(plain.pipeline.load(c)) for c in clips[3:6]])
    with_profile = plain.predict_features(rows, profile=profile)
    got = tempered.predict_features(rows, profile=profile)
    np.testing.assert_allclose(got, apply_temperature(with_profile, 2.5), atol=1e-6)
    # a temperature above 1 flattens: the top probability falls, the answer stays
    assert (got.max(axis=1) < with_profile.max(axis=1)).all()
    assert (got.argmax(axis=1) == with_profile.argmax(axis=1)).all()
    np.testing.assert_allclose(tempered.predict_features(rows), plain.predict_features(rows), atol=1e-7)
    # refused: without a profile member, not a positive number, or a bad value in a manifest
    with pytest.raises(BundleError, match="needs a profile member"):
        fuse_bundles(members, tmp_path / "t1", profile_temperature=0.8)
    for bad in (0, -1, float("nan")):
        with pytest.raises(BundleError, match="profile temperature must be a positive number"):
            fuse_bundles(members, tmp_path / "t2", profile_member=normalised_member, profile_temperature=bad)
    assert not (tmp_path / "t1").exists() and not (tmp_path / "t2").exists()
    manifest = json.loads((tmp_path / "tempered" / "manifest.json").read_text())
    manifest["profile_calibration"]["temperature"] = "hot"
    (tmp_path / "tempered" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="'profile_calibration.temperature' must be a positive number"):
        load_bundle(tmp_path / "tempered")


def test_a_given_fused_temperature_tempers_only_the_answers_without_a_profile(members, normalised_member,
                                                                             synthetic_corpus_dir, tmp_path):
    """ser fuse --temperature: refitted members hold no out-of-fold predictions, so the CV's choice is a number."""
    from ser_framework import SpeakerProfile, apply_temperature

    args = ["fuse", str(members[0]), str(members[1]), "--profile-member", str(normalised_member)]
    result = CliRunner().invoke(cli, [*args, "-o", str(tmp_path / "tempered"), "--temperature", "0.8"])
    assert result.exit_code == 0, result.output
    assert "fused probabilities at temperature 0.8" in result.output
    assert CliRunner().invoke(cli, [*args, "-o", str(tmp_path / "plain")]).exit_code == 0
    tempered, plain = load_bundle(tmp_path / "tempered"), load_bundle(tmp_path / "plain")
    assert tempered.manifest["calibration"]["temperature"] == 0.8
    assert "--temperature" in tempered.manifest["calibration"]["fitted_on"]
    assert tempered.profile_temperature == 1.0  # the answers with a profile stay as they were
    clips = sorted(str(p) for p in synthetic_corpus_dir.glob("*/spk4_*.wav"))
    rows = np.vstack([plain.pipeline.from_waveform(plain.pipeline.load(c)) for c in clips[3:6]])
    without = plain.predict_features(rows)
    np.testing.assert_allclose(tempered.predict_features(rows), apply_temperature(without, 0.8), atol=1e-6)
    assert (tempered.predict_features(rows).max(axis=1) > without.max(axis=1)).all()  # T < 1 sharpens
    profile = SpeakerProfile.enrol(plain, clips[:3], "ana")
    np.testing.assert_allclose(tempered.predict_features(rows, profile=profile),
                               plain.predict_features(rows, profile=profile), atol=1e-7)
    # without a profile member it is the bundle's calibration; refused: not positive, or with --calibrate-on
    alone = load_bundle(fuse_bundles(members, tmp_path / "alone", temperature=1.5))
    assert alone.temperature == 1.5 and "profile_calibration" not in alone.manifest
    for bad in (0, -2, float("inf")):
        with pytest.raises(BundleError, match="fused temperature must be a positive number"):
            fuse_bundles(members, tmp_path / "t1", temperature=bad)
    with pytest.raises(BundleError, match="either as a number or as the runs"):
        fuse_bundles(members, tmp_path / "t2", temperature=0.9, calibrate_on=[tmp_path, tmp_path])
    assert not (tmp_path / "t1").exists() and not (tmp_path / "t2").exists()


@pytest.fixture(scope="module")
def cv_members(synthetic_corpus_dir, tmp_path_factory):
    """Two cross-validated runs (speaker-grouped 2-fold, calibrated, two conditions) of the same clips, different
    features."""
    from ser_framework.config import validate
    from ser_framework.experiment import run_training
    from ser_framework.plugins import get_registry

    registry = get_registry(load_entrypoints=False)
    out = tmp_path_factory.mktemp("fusion_cv")
    runs = []
    for name, features in (("a", [{"name": "mfcc"}]), ("b", [{"name": "spectral_contrast"}])):
        raw = tiny_config_dict(synthetic_corpus_dir, out)
        raw["features"] = features
        raw["evaluation"] = {"protocol": "group_kfold", "n_splits": 2, "calibrate": True, "refit": False,
                             "conditions": ["resample_8k", "pink_10db"]}
        runs.append(run_training(validate(raw, registry), registry, out / name, progress=False).run_dir)
    return runs


def test_a_fused_bundle_gets_its_own_temperature_from_the_members_runs(cv_members, tmp_path):
    import pandas as pd

    from ser_framework import apply_temperature, fit_temperature, fused_out_of_fold

    runs = cv_members
    bundles = [r / "model" for r in runs]
    plain = load_bundle(fuse_bundles(bundles, tmp_path / "plain"))
    assert plain.temperature == 1.0 and "calibration" not in plain.manifest
    args = ["fuse", *map(str, bundles), "-o", str(tmp_path / "fused"),
            "--calibrate-on", str(runs[0]), "--calibrate-on", str(runs[1])]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "fused temperature" in result.output and "cross-fitted" in result.output
    fused = load_bundle(tmp_path / "fused")
    cal = fused.manifest["calibration"]
    base, members, fused_oof = fused_out_of_fold(runs)
    assert len(members) == 2 and fused_oof.shape == (len(base["y"]), len(fused.labels))
    assert cal["n"] == len(base["y"]) and cal["runs"] == [str(r.resolve()) for r in runs]
    # fitted on the members' raw out-of-fold probabilities, each with the temperature its bundle applies
    raw = [pd.read_csv(r / "predictions.csv").sort_values("path") for r in runs]
    raw = [p[p["fold"] >= 0][[f"p_{lab}" for lab in fused.labels]].to_numpy() for p in raw]
    as_shipped = fuse_probabilities([apply_temperature(p, load_bundle(b).temperature) for p, b in zip(raw, bundles)],
                                    [1, 1])
    assert fused.temperature == pytest.approx(fit_temperature(base["y"], as_shipped), abs=1e-4)
    assert fused.temperature != 1.0
    # the fused bundle's answer is the plain fusion with that temperature applied
    X = fused.pipeline.from_source(base["path"][0])[None]
    np.testing.assert_allclose(fused.predict_features(X), apply_temperature(plain.predict_features(X),
                                                                            fused.temperature), atol=1e-6)


def _fake_cv_run(path, y, logits, speakers, folds):
    """A run directory as ser train writes it for a speaker-grouped k-fold run, with these raw logits."""
    import pandas as pd
    import yaml

    labels = ["a", "b", "c"]
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    proba = z / z.sum(axis=1, keepdims=True)
    path.mkdir()
    table = pd.DataFrame({"path": [f"clip{i:04d}.wav" for i in range(len(y))], "speaker": speakers,
                          "label": [labels[i] for i in y], "predicted": [labels[i] for i in proba.argmax(1)],
                          "fold": folds})
    for j, lab in enumerate(labels):
        table[f"p_{lab}"] = proba[:, j]
    table.to_csv(path / "predictions.csv", index=False)
    noisy = logits + np.random.default_rng(len(y)).normal(0, 2.0, logits.shape)  # a degraded condition
    z = np.exp(noisy - noisy.max(axis=1, keepdims=True))
    degraded = table[["path", "speaker", "label", "fold"]].assign(condition="pink_10db")
    for j, lab in enumerate(labels):
        degraded[f"p_{lab}"] = z[:, j] / z.sum(axis=1)
    degraded.to_csv(path / "condition_predictions.csv", index=False)
    (path / "config.yaml").write_text(yaml.safe_dump({"seed": 0, "evaluation": {
        "protocol": "group_kfold", "n_splits": 4, "calibrate": True}}))
    return path


@pytest.fixture(scope="module")
def noisy_runs(tmp_path_factory):
    """Two over-confident members (raw logits x 3) whose noise is independent: each alone is calibrated by a
    temperature near 3; their geometric mean is more accurate than either, so it is then under-confident."""
    rng = np.random.default_rng(0)
    n = 2000
    y = rng.integers(0, 3, n)
    speakers = np.array([f"spk{i % 16:02d}" for i in range(n)])
    folds = np.array([int(s[3:]) % 4 for s in speakers])
    out = tmp_path_factory.mktemp("noisy_runs")
    runs = []
    for name in ("a", "b"):
        logits = 3.0 * (1.2 * np.eye(3)[y] + rng.normal(0, 1.0, (n, 3)))
        runs.append(_fake_cv_run(out / name, y, logits, speakers, folds))
    return runs


def test_the_fused_temperature_is_judged_nested_so_a_run_fused_with_itself_needs_none(noisy_runs):
    """A member fused with itself is the member: its fused temperature is 1 in every fold and its ECE unchanged.

    Fitting the fused temperature on members calibrated cross-fitted (each fold with temperatures fitted on the
    others) does not give that: every fold's clips are then in the member temperatures of the folds it is fitted
    on. The evaluation fits member and fused temperatures without the fold it scores."""
    from ser_framework import calibrate_fusion, expected_calibration_error, fused_out_of_fold

    run = noisy_runs[0]
    cal = calibrate_fusion([run, run], [2, 1])
    base, (member, _), _ = fused_out_of_fold([run, run], [2, 1])
    np.testing.assert_allclose(cal.raw, member, atol=1e-9)  # the plain fusion is the member, cross-fitted
    assert cal.temperature == pytest.approx(1.0, abs=2e-3)
    assert all(t == pytest.approx(1.0, abs=2e-3) for t in cal.fold_temperatures.values())
    assert cal.ece == pytest.approx(expected_calibration_error(base["y"], member), abs=1e-3)


def test_the_fused_temperature_sharpens_an_under_confident_fusion(noisy_runs):
    from ser_framework import (
        calibrate_fusion,
        compute_metrics,
        expected_calibration_error,
        fused_conditions,
        fused_out_of_fold,
    )

    base, members, fused = fused_out_of_fold(noisy_runs)
    y = base["y"]
    accuracy = [float(np.mean(p.argmax(1) == y)) for p in (*members, fused)]
    assert accuracy[2] > max(accuracy[:2]) + 0.03  # independent errors: the fusion is right more often ...
    assert fused.max(axis=1).mean() < accuracy[2] - 0.03  # ... than its confidence says
    cal = calibrate_fusion(noisy_runs)
    assert cal.temperature < 0.9 and all(t < 0.9 for t in cal.fold_temperatures.values())
    assert cal.ece < 0.5 * cal.ece_raw and cal.ece_raw == pytest.approx(expected_calibration_error(y, fused))
    assert compute_metrics(y, cal.calibrated.argmax(1), base["labels"])["uar"] == pytest.approx(
        compute_metrics(y, fused.argmax(1), base["labels"])["uar"])  # a temperature never changes an answer
    # under a condition, each fold's fusion gets the fused temperature fitted without that fold
    _, plain = fused_conditions(noisy_runs)
    _, tempered = fused_conditions(noisy_runs, own_temperature=True)
    np.testing.assert_allclose(tempered["clean"], cal.calibrated, atol=1e-9)
    np.testing.assert_allclose(tempered["pink_10db"], cal.apply(plain["pink_10db"], base["fold"]), atol=1e-9)
    _, itself = fused_conditions([noisy_runs[0]] * 2, own_temperature=True)
    _, member = fused_conditions([noisy_runs[0]])
    np.testing.assert_allclose(itself["pink_10db"], member["pink_10db"], atol=2e-3)


def test_fusion_calibration_refuses_runs_that_do_not_match(cv_members, members, tmp_path):
    runs = cv_members
    bundles = [r / "model" for r in runs]
    with pytest.raises(BundleError, match="is not the member bundle"):
        fuse_bundles(bundles, tmp_path / "f1", calibrate_on=runs[::-1])
    with pytest.raises(BundleError, match="2 member bundles"):
        fuse_bundles(bundles, tmp_path / "f2", calibrate_on=runs[:1])
    holdout = [m.parent for m in members]  # the tiny runs tested one held-out speaker: one split
    with pytest.raises(BundleError, match="one split only"):
        fuse_bundles(members, tmp_path / "f3", calibrate_on=holdout)
    assert not any((tmp_path / f).exists() for f in ("f1", "f2", "f3"))


def test_fused_out_of_fold_on_the_clips_every_run_tested(cv_members, tmp_path):
    """A run that did not score some clips (a speaker-normalised run's enrolment clips, fold -2) fuses on the rest."""
    import shutil

    import pandas as pd

    from ser_framework import fuse_probabilities, fused_out_of_fold

    a, b = cv_members
    fewer = tmp_path / "fewer"
    shutil.copytree(b, fewer)
    preds = pd.read_csv(fewer / "predictions.csv")
    tested = preds.index[preds["fold"] >= 0]
    dropped = set(preds.loc[tested[::3], "path"])
    preds.loc[tested[::3], "fold"] = -2
    preds.to_csv(fewer / "predictions.csv", index=False)

    with pytest.raises(BundleError, match="not the same clips"):
        fused_out_of_fold([a, fewer])
    base, members, fused = fused_out_of_fold([a, fewer], shared_clips=True)
    full, _, _ = fused_out_of_fold([a, b])
    assert len(base["y"]) == len(full["y"]) - len(dropped) > 0
    assert not dropped & set(base["path"]) and set(base["path"]) <= set(full["path"])
    assert list(base["path"]) == sorted(base["path"])
    np.testing.assert_allclose(fused, fuse_probabilities(members, [1.0, 1.0], "geometric"))

    nothing = tmp_path / "nothing"
    shutil.copytree(b, nothing)
    preds = pd.read_csv(nothing / "predictions.csv")
    preds["path"] = preds["path"] + ".other"
    preds.to_csv(nothing / "predictions.csv", index=False)
    with pytest.raises(BundleError, match="no clip tested by every run"):
        fused_out_of_fold([a, nothing], shared_clips=True)


def test_the_fusion_benchmark_compares_two_fusions_by_speaker(cv_members):
    """bench/fusion_cv.py --against: both fusions on the same clips and their paired UAR difference."""
    import subprocess
    import sys
    from pathlib import Path

    from ser_framework import fused_out_of_fold
    from ser_framework.evaluation import compute_metrics

    a, b = cv_members
    script = Path(__file__).resolve().parents[1] / "bench" / "fusion_cv.py"
    proc = subprocess.run([sys.executable, str(script), str(a), str(b), "--weights", "2,1", "--against", str(b)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    base, members, fused = fused_out_of_fold([a, b], [2, 1])
    uar_a = compute_metrics(base["y"], fused.argmax(axis=1), base["labels"])["uar"]
    uar_b = compute_metrics(base["y"], members[1].argmax(axis=1), base["labels"])["uar"]
    assert "| A: a (2) + b (1) | " in proc.stdout and f" | {uar_a:.3f} | " in proc.stdout.split("| A:")[1]
    assert f" | {uar_b:.3f} | " in proc.stdout.split("| B:")[1]
    assert f"UAR A - B: {uar_a - uar_b:+.3f}, 95 % interval [" in proc.stdout
    assert "paired bootstrap over 4 speakers" in proc.stdout
    bad = subprocess.run([sys.executable, str(script), str(a), str(b), "--weights", "1"], capture_output=True,
                         text=True, timeout=300)
    assert bad.returncode != 0 and "1 weights for 2 runs" in bad.stderr


def test_fused_conditions_score_the_fusion_under_each_condition(cv_members, tmp_path):
    """A run keeps each condition's probabilities; fused, one run reproduces its own conditions report."""
    import subprocess
    import sys
    from pathlib import Path

    import pandas as pd

    from ser_framework import condition_report, fused_conditions, fused_out_of_fold

    a, b = cv_members
    kept = pd.read_csv(a / "condition_predictions.csv")
    assert sorted(kept["condition"].unique()) == ["pink_10db", "resample_8k"]
    assert len(kept) == 2 * len(pd.read_csv(a / "predictions.csv"))
    base, fused = fused_conditions([a])
    assert list(fused) == ["clean", "resample_8k", "pink_10db"]
    report = condition_report(base["y"], fused, base["labels"])["conditions"]
    own = json.loads((a / "metrics.json").read_text())["conditions"]
    for name in fused:  # the member calibrated as its run's report calibrates it
        assert report[name]["uar"] == pytest.approx(own[name]["uar"], abs=1e-9)
        assert report[name]["ece"] == pytest.approx(own[name]["ece"], abs=1e-9)
    both, fused2 = fused_conditions([a, b], [2, 1])
    np.testing.assert_allclose(fused2["clean"], fused_out_of_fold([a, b], [2, 1])[2])
    assert not np.allclose(fused2["pink_10db"], fused2["clean"])

    script = Path(__file__).resolve().parents[1] / "bench" / "fusion_cv.py"
    proc = subprocess.run([sys.executable, str(script), str(a), str(b), "--weights", "2,1", "--conditions"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    both_report = condition_report(both["y"], fused2, both["labels"])["conditions"]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("| pink_10db |"))
    assert f" | {both_report['pink_10db']['uar']:.3f} | " in line and f" | {both_report['pink_10db']['ece']:.3f} | " in line

    bare = tmp_path / "bare"
    shutil.copytree(b, bare)
    (bare / "condition_predictions.csv").unlink()
    with pytest.raises(BundleError, match="no condition_predictions.csv"):
        fused_conditions([a, bare])
