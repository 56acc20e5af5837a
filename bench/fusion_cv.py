"""Late fusion measured under a run's own protocol: fuse the out-of-fold predictions of finished runs.

Each run directory (``ser train`` or one combination of ``ser sweep``) holds
its out-of-fold probabilities (``predictions.csv``). They are calibrated the way
the run's report does it (cross-fitted: each fold's clips with a temperature
fitted on the other folds), then fused with the geometric and the arithmetic
mean, as a fused bundle (``ser fuse``) does with the members' calibrated
probabilities, and once more with the fused model's own temperature (``ser fuse
--calibrate-on``; cross-fitted, so no clip is scored with a temperature fitted on
it). The runs must share clips, labels and folds (the same config apart from the
model, e.g. two combinations of one sweep). Prints accuracy,
UAR, macro-F1 and ECE of each member and of each fusion, clean clips only.

    .venv/bin/python bench/fusion_cv.py runs/sweep-reduction/01-*/ runs/sweep-reduction/02-*/ [--weights 1,1]

With ``--shared-clips`` only the clips every run tested are fused: a speaker-normalised run
scores only the clips that are not its test speakers' enrolment clips, e.g. a profile member and
the member it replaces, each fused with the same CRNN run, on the same clips.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ser_framework import calibrate_fusion, expected_calibration_error, fuse_probabilities, fused_out_of_fold
from ser_framework.evaluation import compute_metrics


def row(name: str, y, proba, labels) -> str:
    m = compute_metrics(y, proba.argmax(axis=1), labels)
    return (f"| {name} | {m['accuracy']:.3f} | {m['uar']:.3f} | {m['macro_f1']:.3f} | "
            f"{expected_calibration_error(y, proba):.3f} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run directories with predictions.csv")
    parser.add_argument("--weights", default=None, help="comma-separated weights (default: equal)")
    parser.add_argument("--shared-clips", action="store_true",
                        help="keep only the clips every run tested (a speaker-normalised run does not score "
                             "its enrolment clips)")
    args = parser.parse_args(argv)
    weights = [1.0] * len(args.runs) if args.weights is None else [float(w) for w in args.weights.split(",")]
    base, members, _ = fused_out_of_fold(args.runs, weights, shared_clips=args.shared_clips)
    y, labels = base["y"], base["labels"]
    shared = " tested by every run" if args.shared_clips else ""
    print(f"protocol: the runs' out-of-fold predictions (folds as in {args.runs[0]}), n = {len(y)} clean clips{shared}; "
          f"each member calibrated cross-fitted; weights {weights}")
    print("| model | accuracy | UAR | macro-F1 | ECE |\n|---|---|---|---|---|")
    for proba, run in zip(members, args.runs):
        print(row(run.name, y, proba, labels))
    for mean in ("geometric", "arithmetic"):
        fused = fuse_probabilities(members, weights, mean)
        print(row(f"fusion, {mean} mean", y, fused, labels))
        cal = calibrate_fusion(args.runs, weights, mean, args.shared_clips)  # the fused bundle's own temperature (ser fuse --calibrate-on)
        print(row(f"fusion, {mean} mean, own temperature {cal.temperature:.2f} (cross-fitted)", y,
                  cal.calibrated, labels))


if __name__ == "__main__":
    main()
