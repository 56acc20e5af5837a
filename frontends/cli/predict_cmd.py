"""``ser predict`` and ``ser evaluate``."""
from __future__ import annotations

import json

import click

from .common import (
    empty_folder_error,
    expand_folders,
    handle_errors,
    load_model,
    model_option,
    one_line,
    plugins_dir_option,
    quiet_option,
)


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path())
@model_option
@click.option("--top", default=3, show_default=True, type=click.IntRange(min=1), help="Probabilities shown per file.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON list, an object per file.")
@click.option("--segments", is_flag=True,
              help="Emotion timeline of recordings of any length: speech segments with start, end and emotion.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), default=None,
              help="Write the timeline as CSV to this file (implies --segments).")
@click.option("--min-confidence", default=None, type=click.FloatRange(0.0, 1.0),
              help="Call an answer uncertain when its top probability is below this [default: 0.5].")
@click.option("--profile", "profile_name", default=None, metavar="NAME|FILE.json",
              help="Judge the clips against this speaker's profile: a stored profile (ser profile create) "
                   "or a profile JSON file.")
@plugins_dir_option
@quiet_option
@handle_errors
def predict(files, model, top, as_json, segments, csv_path, min_confidence, profile_name, plugins_dirs, quiet):
    """Predict the dominant emotion of each audio FILE (a folder: every audio file under it).

    Every good file is answered; each file that cannot be used gets its own
    error line (with --json, an entry with an "error" field) and the exit code
    is 1. Input without voiced speech (noise, a tone, hum) is refused: "no
    speech found". An answer whose top probability is below --min-confidence is
    printed as uncertain, with the close alternatives. With --segments, a FILE
    may be of any length (minutes to hours): speech is found, cut into segments
    and each segment gets its emotion.
    """
    import dataclasses

    files = expand_folders(files)
    bundle = load_model(model, plugins_dirs=plugins_dirs)
    profile = None
    if profile_name is not None:
        if segments or csv_path:
            raise click.UsageError("--profile works on single clips, not with --segments/--csv")
        profile = _profile(profile_name)
        profile.check(bundle)
    if segments or csv_path:
        from .timeline_out import predict_segments

        predict_segments(bundle, files, top=top, as_json=as_json, csv_path=csv_path, quiet=quiet)
        return
    entries, failed = [], 0
    for path, outcome in _predict_all(bundle, files, profile):
        if isinstance(outcome, Exception):
            failed += 1
            entries.append({"path": path, "error": one_line(outcome)})
            if not as_json:
                click.echo(f"Error: {one_line(outcome)}", err=True)
            continue
        prediction = outcome
        if min_confidence is not None:
            prediction = dataclasses.replace(prediction, min_confidence=min_confidence)
        entries.append(prediction.as_dict(top=top))
        if not as_json:
            click.echo(answer_line(prediction, top))
    if as_json:
        click.echo(json.dumps(entries, indent=1))
    if failed:
        raise SystemExit(1)


def _profile(name: str):
    """A profile JSON file (a name ending in .json, or an existing file), else the stored profile ``name``."""
    from pathlib import Path

    from ser_framework import SpeakerProfile

    if name.endswith(".json") or Path(name).is_file():
        return SpeakerProfile.load(name)
    from .profile_cmd import stored_profile

    return stored_profile(name)


def _predict_all(bundle, files, profile=None):
    """``(path, Prediction or SerError)`` for every file, in order, the work shared by up to 4 workers.

    Analysing a clip is many small numpy steps that hold the GIL most of the
    time, so threads barely overlap. Where it is safe (Linux, and this process
    runs no other thread and has not loaded TensorFlow) the workers are
    processes forked after the model is loaded: they start in milliseconds and
    share the loaded libraries and model, and the clips run truly in parallel.
    Elsewhere threads do it, and the calling thread for a single worker.
    """
    import os
    from concurrent import futures

    from ser_framework import fork_pool

    workers = min(len(files), os.cpu_count() or 1, 4)
    if workers <= 1:
        yield from (_one(bundle, profile, path) for path in files)
        return
    # the children inherit (bundle, profile): nothing is pickled but paths and answers
    pool = fork_pool((bundle, profile), workers)
    if pool is not None:
        one = _forked_one
    else:
        pool, one = futures.ThreadPoolExecutor(workers), lambda path: _one(bundle, profile, path)
    with pool:
        yield from pool.map(one, files)


def _one(bundle, profile, path):
    from ser_framework import SerError

    empty = empty_folder_error(path)
    if empty is not None:
        return path, empty
    try:
        return path, _predict_clip(bundle, path, profile)
    except SerError as exc:
        return path, exc


def _forked_one(path):
    from ser_framework import fork_state

    return _one(*fork_state(), path)


def answer_line(prediction, top: int) -> str:
    """``clip.wav: angry  (angry 71.0%, ...)``, or ``clip.wav: uncertain — angry 41.0% or fearful 33.5%  (...)``."""
    probs = ", ".join(f"{lab} {p:.1%}" for lab, p in prediction.top(top))
    if prediction.uncertain:
        close = " or ".join(f"{lab} {p:.1%}" for lab, p in prediction.alternatives())
        return f"{prediction.path}: uncertain — {close}  ({probs})"
    return f"{prediction.path}: {prediction.label}  ({probs})"


def _predict_clip(bundle, path, profile=None):
    from ser_framework import AudioTooLongError

    try:
        return bundle.predict(path, name=path, profile=profile)
    except AudioTooLongError as exc:
        raise AudioTooLongError(f"{exc}; for long recordings use: ser predict --segments {path}") from None


@click.command()
@click.argument("data_dir", type=click.Path())
@model_option
@click.option("--dataset", default="ravdess", show_default=True,
              help="Dataset plugin that lists DATA_DIR (e.g. ravdess, folder).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the metrics.")
@click.option("-j", "--jobs", default=1, show_default=True, type=int, help="Parallel extraction workers.")
@click.option("--conditions", default=None, metavar="all|NAME,...",
              help="Also score every clip degraded under these conditions (robustness report).")
@click.option("--seed", default=0, show_default=True, type=int,
              help="Seed of the degraded conditions and of the choice of enrolment clips.")
@click.option("--enrol", default=None, type=click.IntRange(min=3), metavar="N",
              help="Speaker profiles: N clips of each speaker (seeded choice) form its profile; only the "
                   "other clips are scored (a model trained with speaker_normalisation).")
@click.option("--speakers", default=None, metavar="NAME,...",
              help="Evaluate only these speakers (e.g. actor_17,actor_18).")
@plugins_dir_option
@quiet_option
@handle_errors
def evaluate(data_dir, model, dataset, as_json, jobs, conditions, seed, enrol, speakers, plugins_dirs, quiet):
    """Evaluate a model bundle on the labelled recordings in DATA_DIR.

    With --conditions, each clip is also degraded (resampled, noisy, quieter,
    reverberant, codec round trips, trimmed, padded; see the README) and scored
    again: UAR per condition and the worst condition's share of the clean UAR.
    "all" is the standard suite; aac, opus, amr (phone and browser codecs) and
    browser are scored only when named.
    With --enrol N, each speaker's N enrolment clips form its profile and the
    rest are scored with it (degraded clips against the clean enrolment
    profile; the JSON's "enrol" also gives the conditions with degraded
    enrolment and the same clips without profiles).
    """
    from ser_framework import (
        classification_report_text,
        conditions_report_text,
        evaluate_bundle,
        get_registry,
    )

    registry = get_registry(plugins_dirs)
    items = registry.build("dataset", {"name": dataset, "params": {"root": data_dir}}, "dataset").load()
    if speakers:
        items = _only_speakers(items, speakers)
    bundle = load_model(model, registry=registry)
    metrics = evaluate_bundle(bundle, items, {"n_jobs": jobs}, progress=not quiet and not as_json,
                              conditions=conditions, registry=registry, seed=seed, enrol=enrol)
    keys = ("accuracy", "uar", "macro_f1", "n", "labels", "confusion", "per_class", "labels_scored", "note")
    if as_json:
        out = {k: metrics[k] for k in keys if k in metrics}
        if "conditions" in metrics:
            per_condition = (*keys, "uar_ratio", "ece", "ece_floor", "ece_floor_p95")
            out["conditions"] = {name: {k: m[k] for k in per_condition if k in m}
                                 for name, m in metrics["conditions"].items()}
            out["worst_condition"] = metrics["worst_condition"]
        if "enrol" in metrics:
            out["enrol"] = metrics["enrol"]
        click.echo(json.dumps(out, indent=1))
    else:
        if "enrol" in metrics:
            e = metrics["enrol"]
            w = e["without_profile"]
            click.echo(f"speaker profiles: {e['clips']} enrolment clips per speaker (seed {e['seed']}), "
                       f"{e['n_scored']} other clips scored; without profiles UAR {w['uar']:.3f}")
        click.echo(classification_report_text(metrics), nl=False)
        if "conditions" in metrics:
            click.echo("\nconditions (degraded clips, profiles of clean enrolment clips):" if "enrol" in metrics
                       else "\nconditions:")
            click.echo(conditions_report_text(metrics), nl=False)
        if "conditions_degraded_enrolment" in metrics.get("enrol", {}):
            click.echo("\nconditions (enrolment clips degraded the same way):")
            click.echo(conditions_report_text(metrics["enrol"]["conditions_degraded_enrolment"]), nl=False)


def _only_speakers(items, speakers: str):
    from ser_framework import DataError

    wanted = [s.strip() for s in speakers.split(",") if s.strip()]
    unknown = sorted(set(wanted) - set(items["speaker"].astype(str)))
    if unknown:
        raise DataError(f"speakers not in the data: {', '.join(unknown)}")
    return items[items["speaker"].astype(str).isin(wanted)].reset_index(drop=True)


COMMANDS = [predict, evaluate]
