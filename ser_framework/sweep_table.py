"""The comparison table of a sweep: scores from each run, plus its bundle's size and prediction cost.

Per combination: UAR, accuracy and macro-F1 (pooled out-of-fold), the worst
robustness condition's UAR (with ``evaluation.conditions``), the ECE before and
after calibration, the mean time to fit one fold's model, the whole run's wall
time, the bundle's size on disk and the measured cost of predicting one clip
(decoding + features, then selectors + classifier), written as ``sweep.md`` and
``sweep.csv``.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from .atomic import atomic_write_bytes

COST_FILE = "prediction_cost.json"
#: CSV columns, in order (the markdown table shows them formatted)
COLUMNS = ("combination", "settings", "uar", "accuracy", "macro_f1", "worst_condition", "worst_condition_uar",
           "ece_raw", "ece", "fit_s_per_fold", "run_s", "model_mb", "features_ms_per_clip", "model_ms_per_clip",
           "n", "protocol", "run_dir")


def measure_prediction_cost(bundle_dir, paths, registry=None) -> dict:
    """Median milliseconds per clip, one thread: decode + features, and selectors + classifier.

    The first clip warms up (JIT compilation, first-call allocation) and is not counted.
    """
    from .bundle import load_bundle
    from .spectral import single_threaded

    bundle = load_bundle(bundle_dir, registry=registry)
    features, model = [], []
    with single_threaded():
        for i, path in enumerate(paths):
            t0 = time.perf_counter()
            x = bundle.pipeline.from_waveform(bundle.pipeline.load(path))
            t1 = time.perf_counter()
            bundle.predict_features(x[None, :])
            t2 = time.perf_counter()
            if i or len(paths) == 1:
                features.append(t1 - t0)
                model.append(t2 - t1)
    return {"features_ms": round(1000 * float(np.median(features)), 2),
            "model_ms": round(1000 * float(np.median(model)), 3), "n_clips": len(features)}


def _raw_ece(run_dir: Path) -> float:
    """ECE of the out-of-fold probabilities in ``predictions.csv`` (for runs without calibration)."""
    import pandas as pd

    from .calibration import expected_calibration_error

    preds = pd.read_csv(run_dir / "predictions.csv")
    preds = preds[preds["fold"] >= 0]
    cols = [c for c in preds.columns if c.startswith("p_")]
    labels = [c[2:] for c in cols]
    return expected_calibration_error(preds["label"].map(labels.index).to_numpy(), preds[cols].to_numpy())


def measure_row(combo, registry, cost_clips: int = 12) -> dict:
    """The table row of a finished combination (its prediction cost measured once, then kept)."""
    import pandas as pd

    run_dir = combo.run_dir
    metrics = json.loads((run_dir / "metrics.json").read_text())
    cost_file = run_dir / COST_FILE
    if cost_file.is_file():
        cost = json.loads(cost_file.read_text())
    else:
        paths = pd.read_csv(run_dir / "predictions.csv")["path"].tolist()
        pick = np.linspace(0, len(paths) - 1, min(cost_clips, len(paths)) + 1).round().astype(int)
        cost = measure_prediction_cost(run_dir / "model", [paths[i] for i in pick], registry)
        atomic_write_bytes(cost_file, json.dumps(cost, indent=1).encode())
    worst = metrics.get("worst_condition") or {}
    calibration = metrics.get("calibration")
    ece_raw = calibration["ece_raw"] if calibration else _raw_ece(run_dir)
    fits = metrics.get("timing_s", {}).get("fit_per_fold")
    size = sum(p.stat().st_size for p in (run_dir / "model").rglob("*") if p.is_file())
    return {
        "combination": combo.index + 1, "settings": combo.label,
        "uar": metrics["uar"], "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"],
        "worst_condition": worst.get("name"), "worst_condition_uar": worst.get("uar"),
        "ece_raw": ece_raw, "ece": calibration["ece"] if calibration else None,
        "fit_s_per_fold": round(float(np.mean(fits)), 1) if fits else None,
        "run_s": metrics.get("timing_s", {}).get("total"),
        "model_mb": round(size / 1e6, 3),
        "features_ms_per_clip": cost["features_ms"], "model_ms_per_clip": cost["model_ms"],
        "n": metrics["n"], "protocol": metrics["protocol_description"], "run_dir": str(run_dir),
    }


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def markdown_table(rows: list[dict]) -> str:
    """The rows as a markdown table, led by the protocol they share."""
    protocols = sorted({r["protocol"] for r in rows})
    lines = [f"Protocol: {'; '.join(protocols)}; n = {', '.join(sorted({str(r['n']) for r in rows}))} clips "
             "(out-of-fold predictions pooled).", "",
             "| # | settings | UAR | accuracy | macro-F1 | worst condition (UAR) | ECE raw → calibrated "
             "| fit s / fold | run s | model MB | predict ms / clip (features + model) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        worst = "–" if r["worst_condition"] is None else f"{r['worst_condition']} ({r['worst_condition_uar']:.3f})"
        ece = _fmt(r["ece_raw"]) + ("" if r["ece"] is None else f" → {r['ece']:.3f}")
        lines.append(
            f"| {r['combination']} | `{r['settings']}` | {_fmt(r['uar'])} | {_fmt(r['accuracy'])} | "
            f"{_fmt(r['macro_f1'])} | {worst} | {ece} | {_fmt(r['fit_s_per_fold'], 1)} | {_fmt(r['run_s'], 0)} | "
            f"{_fmt(r['model_mb'], 2)} | {_fmt(r['features_ms_per_clip'], 1)} + {_fmt(r['model_ms_per_clip'], 2)} |")
    return "\n".join(lines) + "\n"


def write_tables(rows: list[dict], out_dir) -> tuple[Path, Path]:
    """``sweep.md`` and ``sweep.csv`` in ``out_dir`` (written atomically)."""
    import io

    import pandas as pd

    out_dir = Path(out_dir)
    buf = io.StringIO()
    pd.DataFrame(rows, columns=list(COLUMNS)).to_csv(buf, index=False)
    atomic_write_bytes(out_dir / "sweep.csv", buf.getvalue().encode())
    atomic_write_bytes(out_dir / "sweep.md", markdown_table(rows).encode())
    return out_dir / "sweep.md", out_dir / "sweep.csv"


__all__ = ["measure_row", "measure_prediction_cost", "markdown_table", "write_tables", "COLUMNS"]
