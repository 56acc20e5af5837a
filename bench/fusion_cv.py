"""Late fusion measured under a run's own protocol: fuse the out-of-fold predictions of finished runs.

Each run directory (``ser train`` or one combination of ``ser sweep``) holds
its out-of-fold probabilities (``predictions.csv``). They are calibrated the way
the run's report does it (cross-fitted: each fold's clips with a temperature
fitted on the other folds), then fused with the geometric and the arithmetic
mean, as a fused bundle (``ser fuse``) does with the members' calibrated
probabilities, and once more with the fused model's own temperature (``ser fuse
--calibrate-on``; nested cross-fitted: each fold's clips fused and calibrated with member and
fused temperatures fitted on the other folds, so no clip is scored with a temperature fitted on it). The runs must share clips, labels and folds (the same config apart from the
model, e.g. two combinations of one sweep). Prints accuracy,
UAR, macro-F1 and ECE of each member and of each fusion, clean clips only.

    .venv/bin/python bench/fusion_cv.py runs/sweep-reduction/01-*/ runs/sweep-reduction/02-*/ [--weights 1,1]

With ``--shared-clips`` only the clips every run tested are fused: a speaker-normalised run
scores only the clips that are not its test speakers' enrolment clips, e.g. a profile member and
the member it replaces, each fused with the same CRNN run, on the same clips.

With ``--against RUN...`` (and ``--against-weights``) a second fusion is built the same way on the
same clips, and the geometric-mean fusions are compared: the UAR difference with a 95 % interval
from a paired bootstrap over the test speakers (whole speakers drawn with replacement, 2000 draws):

    .venv/bin/python bench/fusion_cv.py runs/sn-vq-cv runs/sn-crnn-cv --shared-clips --weights 2,1 \
        --against runs/sn-vq-cv runs/crnn-aug-cv --against-weights 2,1

With ``--conditions`` the geometric-mean fusion is scored under every robustness condition the
runs scored (runs trained with ``evaluation.conditions``, which keep ``condition_predictions.csv``):
each member's degraded clips calibrated with its clean cross-fitted temperatures, then fused; per
condition accuracy, UAR, its share of the clean UAR, ECE and the ECE a perfectly calibrated model
would show on as many clips:

    .venv/bin/python bench/fusion_cv.py runs/mod-cond-cv runs/crnn-aug-cond-cv --weights 2,1 --conditions
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ser_framework import (
    calibrate_fusion,
    compute_metrics,
    condition_report,
    expected_calibration_error,
    fuse_probabilities,
    fused_conditions,
    fused_out_of_fold,
    paired_uar_difference,
)


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
    parser.add_argument("--against", nargs="+", type=Path, default=[],
                        help="run directories of a second fusion to compare with (same clips, labels and folds)")
    parser.add_argument("--against-weights", default=None, help="comma-separated weights of --against")
    parser.add_argument("--conditions", action="store_true",
                        help="score the geometric-mean fusion under every robustness condition the runs scored")
    parser.add_argument("--own-temperature", action="store_true",
                        help="with --conditions: the fusion with its own temperature (ser fuse --calibrate-on), "
                             "nested cross-fitted")
    args = parser.parse_args(argv)
    weights = _weights(args.weights, args.runs)
    if args.conditions:
        return conditions(args.runs, weights, args.shared_clips, args.own_temperature)
    if args.against:
        return compare(args.runs, weights, args.against, _weights(args.against_weights, args.against),
                       args.shared_clips)
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
        print(row(f"fusion, {mean} mean, own temperature {cal.temperature:.2f} (nested cross-fitted)", y,
                  cal.calibrated, labels))


def _weights(text, runs) -> list[float]:
    weights = [1.0] * len(runs) if text is None else [float(w) for w in text.split(",")]
    if len(weights) != len(runs):
        raise SystemExit(f"{len(weights)} weights for {len(runs)} runs")
    return weights


def conditions(runs, weights, shared_clips: bool, own_temperature: bool = False) -> None:
    """The geometric-mean fusion under each condition: accuracy, UAR, share of clean, ECE and its floor."""
    base, fused = fused_conditions(runs, weights, shared_clips=shared_clips, own_temperature=own_temperature)
    report = condition_report(base["y"], fused, base["labels"])
    print(f"protocol: the runs' out-of-fold predictions (folds as in {runs[0]}), n = {len(base['y'])} clips per "
          f"condition{' tested by every run' if shared_clips else ''}; each member calibrated cross-fitted on its "
          f"clean clips; geometric mean, weights {weights}"
          + ("; the fused temperature of each fold fitted on the other folds" if own_temperature else ""))
    print("| condition | accuracy | UAR | × clean | ECE | ECE floor (mean / 95th pct.) |\n|---|---|---|---|---|---|")
    for name, m in report["conditions"].items():
        ratio = "" if name == "clean" else f"{m['uar_ratio']:.2f}"
        print(f"| {name} | {m['accuracy']:.3f} | {m['uar']:.3f} | {ratio} | {m['ece']:.3f} | "
              f"{m['ece_floor']:.3f} / {m['ece_floor_p95']:.3f} |")
    if own_temperature:
        cal = calibrate_fusion(runs, weights, shared_clips=shared_clips)
        print(f"fused temperature (fitted on all {cal.n} clean clips; for ser fuse --temperature): "
              f"{cal.temperature:.3f}; per fold, fitted without it: "
              + ", ".join(f"{t:.3f}" for t in cal.fold_temperatures.values()))
    worst = report["worst_condition"]
    if worst:
        print(f"worst condition: {worst['name']} (UAR {worst['uar']:.3f}, {worst['uar_ratio']:.2f} × clean)")


def compare(runs, weights, against, against_weights, shared_clips: bool) -> None:
    """Both geometric-mean fusions on the clips every run of either tested, and their paired UAR difference."""
    both = [*runs, *against]
    base, members, _ = fused_out_of_fold(both, shared_clips=shared_clips)  # each member calibrated on those clips
    y, labels = base["y"], base["labels"]
    zeros_a, zeros_b = [0.0] * len(against), [0.0] * len(runs)
    fused_a = fuse_probabilities(members, [*weights, *zeros_a])
    fused_b = fuse_probabilities(members, [*zeros_b, *against_weights])
    print(f"protocol: the runs' out-of-fold predictions (folds as in {runs[0]}), n = {len(y)} clean clips"
          f"{' tested by every run' if shared_clips else ''}; each member calibrated cross-fitted; geometric mean")
    print("| model | accuracy | UAR | macro-F1 | ECE |\n|---|---|---|---|---|")
    name_a = " + ".join(f"{r.name} ({w:g})" for r, w in zip(runs, weights))
    name_b = " + ".join(f"{r.name} ({w:g})" for r, w in zip(against, against_weights))
    print(row(f"A: {name_a}", y, fused_a, labels))
    print(row(f"B: {name_b}", y, fused_b, labels))
    d = paired_uar_difference(y, fused_a.argmax(axis=1), fused_b.argmax(axis=1), base["speaker"])
    print(f"UAR A - B: {d['difference']:+.3f}, 95 % interval [{d['low']:+.3f}, {d['high']:+.3f}] "
          f"(paired bootstrap over {d['n_groups']} speakers, {d['n_resamples']} draws; "
          f"A ahead in {100 * d['share_above_zero']:.0f} % of them)")


if __name__ == "__main__":
    main()
