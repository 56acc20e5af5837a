"""``ser predict`` and ``ser evaluate``."""
from __future__ import annotations

import json

import click

from .main import handle_errors, plugins_dir_option, quiet_option

model_option = click.option(
    "-m", "--model", type=click.Path(), default=None,
    help="Model bundle folder (default: the model shipped with ser-framework).",
)


def _bundle(model):
    from ser_framework.bundle import load_bundle

    return load_bundle(model)


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path())
@model_option
@click.option("--top", default=3, show_default=True, type=click.IntRange(min=1), help="Probabilities shown per file.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON list, an object per file.")
@click.option("--segments", is_flag=True,
              help="Emotion timeline of recordings of any length: speech segments with start, end and emotion.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), default=None,
              help="Write the timeline as CSV to this file (implies --segments).")
@quiet_option
@handle_errors
def predict(files, model, top, as_json, segments, csv_path, quiet):
    """Predict the dominant emotion of each audio FILE.

    With --segments, a FILE may be of any length (minutes to hours): speech is
    found, cut into segments and each segment gets its emotion.
    """
    bundle = _bundle(model)
    if segments or csv_path:
        from .timeline_out import predict_segments

        predict_segments(bundle, files, top=top, as_json=as_json, csv_path=csv_path, quiet=quiet)
        return
    results = [_predict_clip(bundle, f) for f in files]
    if as_json:
        click.echo(json.dumps([r.as_dict(top=top) for r in results], indent=1))
        return
    for r in results:
        probs = ", ".join(f"{lab} {p:.1%}" for lab, p in r.top(top))
        click.echo(f"{r.path}: {r.label}  ({probs})")


def _predict_clip(bundle, path):
    from ser_framework.errors import AudioTooLongError

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
    from ser_framework.bundle import load_bundle
    from ser_framework.evaluation import classification_report_text
    from ser_framework.experiment import evaluate_bundle
    from ser_framework.plugins import get_registry
    from ser_framework.schema import Problems, validate_params
    from ser_framework.errors import ConfigError

    registry = get_registry(plugins_dirs)
    spec = registry.get("dataset", dataset)
    problems = Problems()
    params = validate_params({"root": data_dir}, spec.params, "dataset.params", problems)
    if problems:
        raise ConfigError(problems.items)
    items = spec.cls(**params).load()
    bundle = load_bundle(model, registry=registry)
    metrics = evaluate_bundle(bundle, items, {"n_jobs": jobs}, progress=not quiet and not as_json)
    if as_json:
        keys = ("accuracy", "uar", "macro_f1", "n", "labels", "confusion", "per_class")
        click.echo(json.dumps({k: metrics[k] for k in keys}, indent=1))
    else:
        click.echo(classification_report_text(metrics), nl=False)


COMMANDS = [predict, evaluate]
