"""The orchestrator: dataset → features → evaluation by speaker → bundle and report."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .atomic import atomic_dir
from .augmentation import augment_table, split_copies
from .conditions import ConditionScorer, condition_report, save_conditions_png
from .conditions import report_text as conditions_text
from .conditions import resolve_names as resolve_conditions
from .conditions import summary as condition_summary
from .errors import DataError, SerError
from .evaluation import classification_report_text, compute_metrics, make_splits, save_confusion_png
from .extraction import FeaturePipeline, extract_table, feature_matrix
from .model import fit_model


@dataclass
class RunResult:
    run_dir: Path
    metrics: dict
    bundle_dir: Path


def load_items(config: dict, registry):
    dataset = registry.build("dataset", config["dataset"], "dataset")
    items = dataset.load()
    missing = {"path", "label", "speaker"} - set(items.columns)
    if missing:
        raise DataError(f"dataset '{config['dataset']['name']}' returned no column(s) {', '.join(sorted(missing))}")
    return items


def build_table(config: dict, registry, progress: bool = True):
    """Dataset listing plus feature rows (through the feature cache).

    With an ``augmentation`` section the table also holds each clip's augmented
    copies, marked by a ``copy`` column (0 for the original; see
    :func:`ser_framework.augmentation.augment_table`).
    """
    items = load_items(config, registry)
    pipeline = FeaturePipeline.from_config(config["features"], config["audio"], registry)
    table = extract_table(items, pipeline, config["extraction"], progress=progress)
    if config.get("augmentation"):
        table = augment_table(table, pipeline, config, registry, progress=progress)
    return table, pipeline


def fit_rows(X, y, speakers, labels, config, registry, pipeline, seed: int, *, copies=None, clips=None,
             progress: bool = False):
    """Fit a model on the clips ``clips`` (default: all) and their augmented copies, as the config says.

    The one way training rows become a model here: the copies of exactly these
    clips are added (so no copy of a test clip is trained on) and, with
    ``speaker_normalisation``, the rows are normalised per speaker
    (:func:`~ser_framework.speaker_norm.normalise_training`).
    """
    clips = np.arange(len(y)) if clips is None else np.asarray(clips)
    rows = (X[clips], y[clips], speakers[clips])
    copy_index = np.zeros(len(clips), dtype=int)
    if copies is not None:  # augmented copies of these clips only
        rows = copies.add_to(*rows, clips=clips)
        copy_index = np.concatenate([copy_index, copies.numbers()[copies.of(clips)]])
    normaliser = None
    if config.get("speaker_normalisation"):
        from .speaker_norm import normalise_training

        Xn, normaliser = normalise_training(rows[0], rows[2], copy_index, config["speaker_normalisation"], seed,
                                            pipeline.frame_shape)
        rows = (Xn, *rows[1:])
    return fit_model(*rows, labels, config, registry, pipeline, seed=seed, progress=progress, normaliser=normaliser)


def fold_predictor(model, X, speakers, config, pipeline):
    """``(predict, scored)`` for one split's test rows ``X`` (their ``speakers``).

    Without ``speaker_normalisation`` every row is scored by the model alone.
    With it, each test speaker's enrolment clips (a seeded choice) form its
    profile, ``predict(Z)`` predicts every row with its speaker's profile and
    only the other rows count as scored: ``scored`` is their mask. The profiles are built from
    ``X`` (clean clips) whatever ``Z`` is, so a degraded condition is scored
    against a profile of clean enrolment clips.
    """
    sn = config.get("speaker_normalisation")
    if not sn:
        return model.predict_proba_features, np.ones(len(X), dtype=bool)
    from .profiles import feature_space_key
    from .speaker_norm import choose_enrolment, predict_by_speaker, profiles_by_speaker

    enrol = choose_enrolment(speakers, sn["enrol"], config["seed"])
    profiles = profiles_by_speaker(model.normaliser.profile_rows(X), speakers, enrol,
                                   feature_space_key(pipeline, X.shape[1]))
    return (lambda Z: predict_by_speaker(model.predict_proba_features, Z, speakers, profiles)), ~enrol


def evaluate_folds(X, y, speakers, labels, config, registry, pipeline, progress=True, copies=None, on_fold=None):
    """Out-of-fold probabilities for every row that some split scores, plus per-fold metrics.

    ``X``, ``y``, ``speakers`` are the original clips. ``copies`` (a
    :class:`~ser_framework.augmentation.TrainingCopies`) adds augmented rows to a
    fold's training part: only the copies of that fold's training clips, so no
    copy of a test clip is trained on; test rows are originals only.
    ``on_fold(k, predict, train_idx, test_idx)`` is called after each fold's
    model is fitted, with the fold's ``predict(X_test)`` (the conditions report
    scores the fold's test clips there). With ``speaker_normalisation`` the
    enrolment clips of test speakers are not scored: their ``fold_of`` is -2.
    """
    from tqdm.auto import tqdm

    seed = config["seed"]
    splits = make_splits(y, speakers, config["evaluation"], seed)
    proba = np.full((len(y), len(labels)), np.nan)
    fold_of = np.full(len(y), -1)
    folds, last_model = [], None
    for k, (tr, te) in enumerate(tqdm(splits, desc="folds", unit="fold", disable=not progress or len(splits) == 1)):
        if len(np.unique(y[tr])) < 2:
            raise DataError(f"fold {k}: the training part holds fewer than two classes")
        started = time.perf_counter()
        model = fit_rows(X, y, speakers, labels, config, registry, pipeline, seed + k, copies=copies, clips=tr,
                         progress=progress)
        fit_s = time.perf_counter() - started
        predict, scored = fold_predictor(model, X[te], speakers[te], config, pipeline)
        p = predict(X[te])[scored]
        if on_fold is not None:
            on_fold(k, predict, tr, te)
        fold_of[te] = -2
        proba[te[scored]], fold_of[te[scored]] = p, k
        m = compute_metrics(y[te[scored]], p.argmax(axis=1), labels)
        folds.append({"fold": k, "test_speakers": sorted(set(speakers[te].tolist())),
                      "accuracy": m["accuracy"], "uar": m["uar"], "macro_f1": m["macro_f1"], "n": m["n"], "fit_s": round(fit_s, 2)})
        last_model = model
    return proba, fold_of, folds, last_model


def _condition_scorer(config, registry, table, pipeline, n_labels: int, progress: bool):
    """A scorer for the configured ``evaluation.conditions`` (``None`` when there are none)."""
    names = resolve_conditions(config["evaluation"].get("conditions"))
    if not names:
        return None
    return ConditionScorer(names, table["path"], pipeline, registry, config["seed"], n_labels,
                           config["extraction"], progress=progress)


def _summary(folds):
    out = {}
    for key in ("accuracy", "uar", "macro_f1"):
        vals = np.array([f[key] for f in folds])
        out[key] = {"mean": float(vals.mean()), "std": float(vals.std())}
    return out


def default_run_dir(config: dict, config_path) -> Path:
    stem = config.get("name") or Path(config_path).stem
    return Path(config["output"]["dir"]) / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"


def run_training(config: dict, registry, run_dir, *, progress: bool = True, overwrite: bool = False,
                 table=None) -> RunResult:
    """Train and evaluate as configured; write the run directory atomically."""
    import pandas as pd
    import yaml

    from .bundle import save_bundle

    run_dir = Path(run_dir)
    if run_dir.exists() and not overwrite:
        raise SerError(f"run directory {run_dir} already exists (use --force to replace it)")
    t0 = time.perf_counter()
    if table is None:
        table, pipeline = build_table(config, registry, progress=progress)
    else:
        pipeline = FeaturePipeline.from_config(config["features"], config["audio"], registry)
    t_extract = time.perf_counter() - t0
    full_table = table  # with augmentation: originals (copy 0) and augmented copies, all saved
    table, copies = split_copies(full_table)  # originals are evaluated; copies are training rows only
    X = feature_matrix(table)
    labels = sorted(table["label"].unique().tolist())
    if len(labels) < 2:
        raise DataError("the dataset holds fewer than two labels")
    y = np.searchsorted(labels, table["label"].to_numpy())
    speakers = table["speaker"].astype(str).to_numpy()

    scorer = _condition_scorer(config, registry, table, pipeline, len(labels), progress)
    on_fold = None if scorer is None else (lambda k, predict, tr, te: scorer.score(predict, te))
    proba, fold_of, folds, fold_model = evaluate_folds(X, y, speakers, labels, config, registry, pipeline, progress,
                                                       copies=copies, on_fold=on_fold)
    fit_s = [f.pop("fit_s") for f in folds]  # timings go with timing_s (metrics stay reproducible)
    tested = fold_of >= 0
    metrics = compute_metrics(y[tested], proba[tested].argmax(axis=1), labels)
    protocol = config["evaluation"]["protocol"]
    metrics.update({
        "protocol": protocol,
        "protocol_description": describe_protocol(config["evaluation"], len(np.unique(speakers)),
                                                  table.attrs.get("speakers_known", True))
        + describe_normalisation(config.get("speaker_normalisation")),
        "folds": folds,
        "fold_summary": _summary(folds),
        "n_clips": int(len(y)),
        "n_speakers": int(len(np.unique(speakers))),
        "seed": config["seed"],
    })
    if copies is not None:
        metrics["augmentation"] = {"copies": config["augmentation"]["copies"], "training_rows_added": int(len(copies.y))}
    # --- calibration (issue 10, item 4): a temperature fitted on predictions for unseen rows ---
    # Kept apart from the fold loop: it only reads the pooled out-of-fold probabilities, and for
    # one-split protocols fits inner models on the training part (see calibrate_out_of_fold).
    calibration = None
    if config["evaluation"].get("calibrate", True):
        from .calibration import calibrate_out_of_fold

        def fit_predict(train_idx, test_idx, seed):  # trains and predicts as the fold loop does
            model = fit_rows(X, y, speakers, labels, config, registry, pipeline, seed, copies=copies,
                             clips=train_idx)
            predict, _ = fold_predictor(model, X[test_idx], speakers[test_idx], config, pipeline)
            return predict(X[test_idx])  # enrolment clips too: each speaker's profile fits its clips

        calibration = calibrate_out_of_fold(y, proba, fold_of, speakers, config["evaluation"], config["seed"],
                                            fit_predict)
        metrics["calibration"] = calibration.summary()
    # --- end of calibration ---

    conditions = None
    if scorer is not None:  # robustness: each fold's test clips degraded, scored by that fold's model
        scorer.proba["clean"] = proba
        rows = np.flatnonzero(tested)
        raw = {name: p[rows] for name, p in scorer.proba.items()}
        given = raw if calibration is None else {n: calibration.apply(p, fold_of[rows]) for n, p in raw.items()}
        conditions = condition_report(y[rows], given, labels)  # ECE of the calibrated probabilities
        if calibration is not None:
            from .calibration import expected_calibration_error

            for name, m in conditions["conditions"].items():
                m["ece_raw"] = expected_calibration_error(y[rows], raw[name])
        metrics.update(condition_summary(conditions))
    t_eval = time.perf_counter() - t0 - t_extract

    if config["evaluation"]["refit"]:
        final = fit_rows(X, y, speakers, labels, config, registry, pipeline, config["seed"], copies=copies,
                         progress=progress)
        trained_on = "all clips"
    else:
        final = fold_model
        trained_on = "the training part of the last split"
    metrics["timing_s"] = {"extract": round(t_extract, 1), "evaluate": round(t_eval, 1),
                           "total": round(time.perf_counter() - t0, 1), "fit_per_fold": fit_s}

    manifest_extra = {
        "training": {
            "dataset": config["dataset"],
            "n_clips": int(len(y)),
            "speakers": sorted(np.unique(speakers).tolist()),
            "label_counts": {lab: int((y == i).sum()) for i, lab in enumerate(labels)},
            "model_trained_on": trained_on,
            "augmented_rows": 0 if copies is None else int(len(copies.y)),
            "seed": config["seed"],
        },
        "evaluation": {k: metrics[k] for k in ("protocol", "protocol_description", "accuracy", "uar",
                                               "macro_f1", "n", "fold_summary")},
        "config": config,
        **({"calibration": calibration.summary()} if calibration is not None else {}),
    }
    with atomic_dir(run_dir, overwrite=overwrite) as tmp:
        (tmp / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2))
        (tmp / "classification_report.txt").write_text(
            f"protocol: {metrics['protocol_description']}\n\n" + classification_report_text(metrics))
        save_confusion_png(metrics, tmp / "confusion_matrix.png", metrics["protocol_description"])
        if conditions is not None:
            with open(tmp / "classification_report.txt", "a") as report:
                report.write("\nconditions (test clips degraded; same protocol):\n" + conditions_text(conditions))
            save_conditions_png(conditions, tmp / "conditions.png", metrics["protocol_description"])
        if calibration is not None:
            from .calibration import save_reliability_png

            with open(tmp / "classification_report.txt", "a") as report:
                report.write("\n" + calibration.report_text())
            save_reliability_png(calibration.y, calibration.calibrated, tmp / "reliability.png",
                                 raw_proba=calibration.raw, protocol=metrics["protocol_description"],
                                 temperature=calibration.temperature)
        preds = pd.DataFrame({
            "path": table["path"], "speaker": speakers, "label": table["label"],
            "predicted": [labels[i] if t else "" for i, t in zip(np.nan_to_num(proba).argmax(axis=1), tested)],
            "fold": fold_of,
        })
        for j, lab in enumerate(labels):
            preds[f"p_{lab}"] = proba[:, j]
        preds.to_csv(tmp / "predictions.csv", index=False)
        if scorer is not None and len(scorer.proba) > 1:  # each degraded condition's raw probabilities, same rows
            degraded = [preds[["path", "speaker", "label", "fold"]].assign(condition=name, **{
                f"p_{lab}": p[:, j] for j, lab in enumerate(labels)}) for name, p in scorer.proba.items()
                if name != "clean"]
            pd.concat(degraded, ignore_index=True).to_csv(tmp / "condition_predictions.csv", index=False)
        full_table.to_parquet(tmp / "features.parquet", index=False)
        save_bundle(final, tmp / "model", manifest_extra, registry=registry)
    return RunResult(run_dir, metrics, run_dir / "model")


def describe_protocol(evaluation: dict, n_speakers: int, speakers_known: bool = True) -> str:
    """One line naming the protocol; "NOT speaker-independent" whenever it is not."""
    p = evaluation["protocol"]
    if not speakers_known and p in ("group_kfold", "holdout_speakers"):
        return (f"{p} over files, NOT speaker-independent: the dataset names no speakers, so each file "
                f"counts as its own (give a speaker column or set speaker_from)")
    if p == "group_kfold":
        return (f"speaker-independent {evaluation['n_splits']}-fold cross-validation grouped by speaker "
                f"({n_speakers} speakers; no speaker in both training and test)")
    if p == "holdout_speakers":
        who = evaluation.get("test_speakers") or f"{evaluation['test_size']:.0%} of speakers"
        return f"held-out speakers ({who}); no speaker in both training and test"
    if p == "kfold":
        return f"stratified {evaluation['n_splits']}-fold cross-validation, NOT speaker-independent"
    return f"random stratified hold-out ({evaluation['test_size']:.0%}), NOT speaker-independent"


def describe_normalisation(settings) -> str:
    """The protocol's addition with ``speaker_normalisation`` ("" without it)."""
    if not settings:
        return ""
    return (f"; per-speaker normalisation: each test speaker's {settings['enrol']} enrolment clips (seeded) "
            f"form its profile and are not scored")


def evaluate_bundle(bundle, items, extraction: dict | None = None, progress: bool = True, *,
                    conditions=None, registry=None, seed: int = 0, enrol: int | None = None) -> dict:
    """Metrics of a trained bundle on a labelled dataset listing.

    With ``conditions`` (``"all"``, a list of names or ``"a,b"``) every clip is
    also scored under each condition (seeded by ``seed``; augmenters built
    through ``registry``): the result gains ``conditions`` (name -> the same
    metric keys plus ``uar_ratio``, led by ``clean``) and ``worst_condition``.

    With ``enrol`` = N, each speaker's N enrolment clips (chosen with ``seed``)
    form its :class:`~ser_framework.profiles.SpeakerProfile` and only the
    other clips are scored, with the profile; under a condition the degraded
    clips are scored against the profile of the clean enrolment clips. The
    result gains ``enrol`` (see :func:`~ser_framework.speaker_norm.enrolment_summary`), which also gives
    the same clips scored without profiles and, with conditions, the
    conditions when the enrolment clips are degraded the same way.
    """
    names = resolve_conditions(conditions)  # a bad name fails before any audio is read
    table = extract_table(items, bundle.pipeline, extraction or {}, progress=progress)
    X = feature_matrix(table)
    labels = bundle.labels
    unknown = sorted(set(table["label"]) - set(labels))
    if unknown:
        raise DataError(f"the data has labels the model does not know: {', '.join(unknown)} (model: {', '.join(labels)})")
    y = np.array([labels.index(lab) for lab in table["label"]])
    speakers = table["speaker"].astype(str).to_numpy()
    scored = np.ones(len(y), dtype=bool)
    predict = bundle.predict_features
    if enrol:
        from .speaker_norm import choose_enrolment, predict_by_speaker, profiles_by_speaker

        if not bundle.accepts_profiles:
            raise SerError("--enrol needs a model trained with speaker_normalisation (or a fused bundle with "
                           "such a profile member); this one is neither")
        enrolled = choose_enrolment(speakers, enrol, seed)
        scored = ~enrolled
        profiles = profiles_by_speaker(bundle.profile_rows(X), speakers, enrolled, bundle.feature_space)

        def predict(Z):  # noqa: F811 - each row with its speaker's profile of clean enrolment clips
            return predict_by_speaker(bundle.predict_features, Z, speakers, profiles)

    proba = predict(X)
    metrics = compute_metrics(y[scored], proba[scored].argmax(axis=1), labels)
    scorer = None
    if names:
        if registry is None:
            from .plugins import get_registry

            registry = get_registry()
        scorer = ConditionScorer(names, table["path"], bundle.pipeline, registry, seed, len(labels),
                                 extraction or {}, progress=progress)
        scorer.score(predict, np.arange(len(y)), clean=proba)
        metrics.update(scorer.report(y, labels, rows=np.flatnonzero(scored)))  # probabilities: scorer.proba
    if enrol:
        from .speaker_norm import enrolment_summary

        metrics["enrol"] = enrolment_summary(bundle, table, X, y, enrolled, enrol, seed, scorer, progress)
    return metrics
