"""Late fusion measured under a run's own protocol: fuse the out-of-fold predictions of finished runs.

Each run directory (``ser train`` or one combination of ``ser sweep``) holds
its out-of-fold probabilities (``predictions.csv``). They are calibrated the way
the run's report does it (cross-fitted: each fold's clips with a temperature
fitted on the other folds), then fused with the geometric and the arithmetic
mean, as a fused bundle (``ser fuse``) does with the members' calibrated
probabilities. The runs must share clips, labels and folds (the same config
apart from the model, e.g. two combinations of one sweep). Prints accuracy,
UAR, macro-F1 and ECE of each member and of each fusion, clean clips only.

    .venv/bin/python bench/fusion_cv.py runs/sweep-reduction/01-*/ runs/sweep-reduction/02-*/ [--weights 1,1]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import yaml

from ser_framework import expected_calibration_error, fuse_probabilities
from ser_framework.calibration import calibrate_out_of_fold
from ser_framework.evaluation import compute_metrics


def calibrated_oof(run_dir: Path):
    """``(predictions frame, labels, cross-fitted calibrated probabilities)`` of the tested clips."""
    preds = pd.read_csv(run_dir / "predictions.csv")
    preds = preds[preds["fold"] >= 0].sort_values("path").reset_index(drop=True)
    labels = [c[2:] for c in preds.columns if c.startswith("p_")]
    y = preds["label"].map(labels.index).to_numpy()
    proba = preds[[f"p_{lab}" for lab in labels]].to_numpy()
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    if len(preds["fold"].unique()) < 2:
        raise SystemExit(f"{run_dir}: one split only; fusion is measured here on cross-validated runs")
    cal = calibrate_out_of_fold(y, proba, preds["fold"].to_numpy(), preds["speaker"].astype(str).to_numpy(),
                                config["evaluation"], config["seed"], fit_predict=None)
    return preds, labels, y, cal.calibrated


def row(name: str, y, proba, labels) -> str:
    m = compute_metrics(y, proba.argmax(axis=1), labels)
    return (f"| {name} | {m['accuracy']:.3f} | {m['uar']:.3f} | {m['macro_f1']:.3f} | "
            f"{expected_calibration_error(y, proba):.3f} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run directories with predictions.csv")
    parser.add_argument("--weights", default=None, help="comma-separated weights (default: equal)")
    args = parser.parse_args(argv)
    members = [calibrated_oof(r) for r in args.runs]
    base, labels, y = members[0][0], members[0][1], members[0][2]
    for (preds, labs, _, _), run in zip(members[1:], args.runs[1:]):
        if labs != labels or not preds["path"].equals(base["path"]) or not preds["fold"].equals(base["fold"]):
            raise SystemExit(f"{run}: not the same clips, labels and folds as {args.runs[0]}")
    weights = [1.0] * len(members) if args.weights is None else [float(w) for w in args.weights.split(",")]
    print(f"protocol: the runs' out-of-fold predictions (folds as in {args.runs[0]}), n = {len(y)} clean clips; "
          f"each member calibrated cross-fitted; weights {weights}")
    print("| model | accuracy | UAR | macro-F1 | ECE |\n|---|---|---|---|---|")
    for (_, _, _, proba), run in zip(members, args.runs):
        print(row(run.name, y, proba, labels))
    for mean in ("geometric", "arithmetic"):
        print(row(f"fusion, {mean} mean", y, fuse_probabilities([m[3] for m in members], weights, mean), labels))


if __name__ == "__main__":
    main()
