"""Temporal models against the default's classifier: figures of finished runs, and prediction cost per clip.

For each run directory given (made by ``ser train configs/crnn.yaml -o runs/crnn-cv`` and the like:
speaker-grouped 4-fold CV on actors 1-16, the conditions report on), prints clean accuracy and
UAR (out-of-fold, pooled), the UAR per fold, the worst condition, the ECE, the run's training
time, and the cost of predicting one clip with the run's bundle: decoding, features and the
model, medians over ``--clips`` RAVDESS clips of actors 1-16 on one thread (the bundle of a
``refit: false`` run is the last fold's model; only its speed is measured here).

    .venv/bin/python bench/sequence_models.py runs/crnn-cv runs/transformer-cv [--clips 48]

Never reads actors 17-20. JSON goes to bench/results/sequence_models.json.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "data" / "ravdess"


def clips(n: int) -> list[Path]:
    """``n`` speech clips spread over actors 1-16 (every actor in turn)."""
    per_actor = [sorted((CORPUS / f"Actor_{a:02d}").glob("03-01-*")) for a in range(1, 17)]
    out, i = [], 0
    while len(out) < n:
        out.extend(files[i] for files in per_actor if i < len(files))
        i += 1
    return out[:n]


def prediction_cost(bundle_dir: Path, n: int) -> dict:
    """Median milliseconds per clip: decode, features, model (one thread), after one warm-up clip."""
    import numpy as np

    from ser_framework import load_bundle

    bundle = load_bundle(bundle_dir)
    pipeline, model = bundle.pipeline, bundle.model
    times = {"decode": [], "features": [], "model": []}
    files = clips(n + 1)
    for k, path in enumerate(files):
        t0 = time.perf_counter()
        y = pipeline.load(path)
        t1 = time.perf_counter()
        row = pipeline.from_waveform(y)
        t2 = time.perf_counter()
        model.predict_proba_features(row[None, :])
        t3 = time.perf_counter()
        if k:  # the first clip warms caches up
            for key, dt in zip(times, (t1 - t0, t2 - t1, t3 - t2)):
                times[key].append(1000 * dt)
    out = {k: round(float(np.median(v)), 1) for k, v in times.items()}
    out["total"] = round(sum(out.values()), 1)
    out["n"] = n
    return out


def summary(run: Path, n: int) -> dict:
    metrics = json.loads((run / "metrics.json").read_text())
    worst = metrics.get("worst_condition") or {}
    return {
        "run": str(run),
        "classifier": json.loads((run / "model" / "manifest.json").read_text())["classifier"],
        "protocol": metrics["protocol_description"],
        "n": metrics["n"],
        "accuracy": metrics["accuracy"],
        "uar": metrics["uar"],
        "uar_folds": [round(f["uar"], 3) for f in metrics["folds"]],
        "worst_condition": worst,
        "ece": metrics.get("calibration", {}).get("ece"),
        "ece_raw": metrics.get("calibration", {}).get("ece_raw"),
        "run_seconds": metrics["timing_s"],
        "predict_ms_per_clip": prediction_cost(run / "model", n),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run directories (ser train -o ...)")
    parser.add_argument("--clips", type=int, default=48, help="clips timed per bundle")
    args = parser.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    rows = [summary(run, args.clips) for run in args.runs]
    print("| run | classifier | clean accuracy | clean UAR (per fold) | worst condition (UAR, × clean) "
          "| ECE raw → calibrated | run time (s) | predict ms/clip: decode + features + model |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        w, c = r["worst_condition"], r["predict_ms_per_clip"]
        worst = f"{w['name']}: {w['uar']:.3f}, {w['uar_ratio']:.2f} ×" if w else "n/a"
        ece = f"{r['ece_raw']:.3f} → {r['ece']:.3f}" if r["ece"] is not None else "n/a"
        print(f"| {r['run']} | {r['classifier']['name']} | {r['accuracy']:.3f} | {r['uar']:.3f} "
              f"({', '.join(map(str, r['uar_folds']))}) | {worst} | {ece} | {r['run_seconds']['total']} "
              f"| {c['decode']} + {c['features']} + {c['model']} = {c['total']} |")
    print(f"\nprotocol: {rows[0]['protocol']}; n = {rows[0]['n']} clips out of fold; "
          f"prediction cost: medians over {args.clips} clips of actors 1-16, one thread")
    out = ROOT / "bench" / "results" / "sequence_models.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
