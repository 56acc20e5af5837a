"""``ser predict`` and ``ser evaluate``."""
from __future__ import annotations

import json

import click

from .common import handle_errors, model_option, one_line, plugins_dir_option, quiet_option


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path())
@model_option
@click.option("--top", default=3, show_default=True, type=click.IntRange(min=1), help="Probabilities shown per file.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON list, an object per file.")
@click.option("--segments", is_flag=True,
              help="Emotion timeline of recordings of any length: speech segments with start, end and emotion.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), default=None,
              help="Write the timeline as CSV to this file (implies --segments).")
@plugins_dir_option
@quiet_option
@handle_errors
def predict(files, model, top, as_json, segments, csv_path, plugins_dirs, quiet):
    """Predict the dominant emotion of each audio FILE.

    Every good file is answered; each file that cannot be used gets its own
    error line (with --json, an entry with an "error" field) and the exit code
    is 1. With --segments, a FILE may be of any length (minutes to hours):
    speech is found, cut into segments and each segment gets its emotion.
    """
    from ser_framework import load_bundle

    bundle = load_bundle(model, plugins_dirs=plugins_dirs)
    if segments or csv_path:
        from .timeline_out import predict_segments

        predict_segments(bundle, files, top=top, as_json=as_json, csv_path=csv_path, quiet=quiet)
        return
    entries, failed = [], 0
    for path in files:
        try:
            entries.append(_predict_clip(bundle, path).as_dict(top=top))
        except Exception as exc:  # noqa: BLE001 - reported per file below
            from ser_framework import SerError

            if not isinstance(exc, SerError):
                raise
            failed += 1
            entries.append({"path": path, "error": one_line(exc)})
            if not as_json:
                click.echo(f"Error: {one_line(exc)}", err=True)
                continue
        if not as_json:
            entry = entries[-1]
            probs = ", ".join(f"{lab} {p:.1%}" for lab, p in entry["probabilities"].items())
            click.echo(f"{path}: {entry['label']}  ({probs})")
    if as_json:
        click.echo(json.dumps(entries, indent=1))
    if failed:
        raise SystemExit(1)


def _predict_clip(bundle, path):
    from ser_framework import AudioTooLongError

    try:
        return bundle.predict(path, name=path)
    except AudioTooLongError as exc:
        raise AudioTooLongError(f"{exc}; for long recordings use: ser predict --segments {path}") from None


@click.command()
@click.argument("data_dir", type=click.Path())
@model_option
@click.option("--dataset", default="ravdess", show_default=True,
              help="Dataset plugin that lists DATA_DIR (e.g. ravdess, folder).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the metrics.")
@click.option("-j", "--jobs", default=1, show_default=True, type=int, help="Parallel extraction workers.")
@plugins_dir_option
@quiet_option
@handle_errors
def evaluate(data_dir, model, dataset, as_json, jobs, plugins_dirs, quiet):
    """Evaluate a model bundle on the labelled recordings in DATA_DIR."""
    from ser_framework import classification_report_text, evaluate_bundle, get_registry, load_bundle

    registry = get_registry(plugins_dirs)
    items = registry.build("dataset", {"name": dataset, "params": {"root": data_dir}}, "dataset").load()
    bundle = load_bundle(model, registry=registry)
    metrics = evaluate_bundle(bundle, items, {"n_jobs": jobs}, progress=not quiet and not as_json)
    if as_json:
        keys = ("accuracy", "uar", "macro_f1", "n", "labels", "confusion", "per_class", "labels_scored", "note")
        click.echo(json.dumps({k: metrics[k] for k in keys if k in metrics}, indent=1))
    else:
        click.echo(classification_report_text(metrics), nl=False)


COMMANDS = [predict, evaluate]
