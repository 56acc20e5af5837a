"""Robustness of a config on unseen speakers: UAR, accuracy and ECE per condition, against the targets.

Trains CONFIG (default: configs/default.yaml — actors 1-16 train, the untouched actors 17-20
test, every standard condition applied to the test clips) and prints one table:

    .venv/bin/python bench/robustness.py                      # train, then print
    .venv/bin/python bench/robustness.py --run runs/default   # print an existing run's figures
    .venv/bin/python bench/robustness.py --evaluation E.json  # a bundle's `ser evaluate --json` output
                                                              # (a fused bundle has no training run)

Targets (issue 10): clean UAR >= 0.55; every condition >= 0.85 x clean; ECE <= 0.05 clean and
<= 0.08 under every condition. JSON goes to bench/results/robustness.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"clean_uar": 0.55, "ratio": 0.85, "ece_clean": 0.05, "ece_condition": 0.08}


def train(config: Path) -> dict:
    from ser_framework import load_config, run_training

    cfg, registry = load_config(config, overrides=["evaluation.refit=false"])
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = run_training(cfg, registry, Path(tmp) / "run", progress=True)
        result.metrics["bench_seconds"] = round(time.perf_counter() - t0, 1)
        return result.metrics


def table(metrics: dict) -> tuple[str, dict]:
    conditions = metrics.get("conditions")
    if not conditions:
        sys.exit("the run has no conditions report (set evaluation.conditions: all)")
    clean = conditions["clean"]
    lines = [f"protocol: {metrics.get('protocol_description', 'not recorded')}",
             f"calibration: {metrics.get('calibration', {}).get('fitted_on', 'none')}",
             "",
             "| condition | accuracy | UAR | UAR / clean | ECE (raw → calibrated) | ECE of a perfectly calibrated model (mean, 95th pct.) |",
             "|---|---|---|---|---|---|"]
    for name, m in conditions.items():
        ratio = "" if name == "clean" else f"{m['uar_ratio']:.2f}"
        ece_raw = m.get("ece_raw")
        ece = f"{ece_raw:.3f} → {m['ece']:.3f}" if ece_raw is not None else f"{m['ece']:.3f}"
        floor = f"{m['ece_floor']:.3f}, {m['ece_floor_p95']:.3f}" if m.get("ece_floor") is not None else "-"
        lines.append(f"| {name} | {m['accuracy']:.3f} | {m['uar']:.3f} | {ratio} | {ece} | {floor} |")
    degraded = {n: m for n, m in conditions.items() if n != "clean"}
    worst_ratio = min((m["uar_ratio"] for m in degraded.values()), default=None)
    worst_ece = max((m["ece"] for m in degraded.values()), default=None)
    checks = {
        "clean UAR >= 0.55": (clean["uar"], clean["uar"] >= TARGETS["clean_uar"]),
        "every condition >= 0.85 x clean": (worst_ratio, worst_ratio is not None and worst_ratio >= TARGETS["ratio"]),
        "ECE clean <= 0.05": (clean["ece"], clean["ece"] <= TARGETS["ece_clean"]),
        "ECE every condition <= 0.08": (worst_ece, worst_ece is not None and worst_ece <= TARGETS["ece_condition"]),
    }
    lines.append("")
    lines.append(f"ECE on n = {clean['n']} clips: a perfectly calibrated model would show the floor column; "
                 "a figure at or below its 95th percentile cannot be told apart from perfect calibration.")
    beyond = [n for n, m in conditions.items() if m.get("ece_floor_p95") is not None and m["ece"] > m["ece_floor_p95"]]
    lines.append("ECE beyond the 95th percentile of perfect calibration: " + (", ".join(beyond) or "none"))
    for name, (value, ok) in checks.items():
        lines.append(f"target {name}: {value:.3f} -> {'met' if ok else 'NOT met'}")
    return "\n".join(lines), {k: {"value": v, "met": ok} for k, (v, ok) in checks.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "default.yaml")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--run", type=Path, help="read RUN/metrics.json instead of training")
    source.add_argument("--evaluation", type=Path, metavar="JSON",
                        help="read the output of `ser evaluate DATA --conditions all --json` instead of training")
    parser.add_argument("--protocol", default=None,
                        help="with --evaluation: how the bundle was trained and scored (printed and saved)")
    args = parser.parse_args(argv)
    if args.evaluation:
        if not args.evaluation.is_file():
            sys.exit(f"--evaluation: file not found: {args.evaluation}")
        try:
            metrics = json.loads(args.evaluation.read_text())
        except json.JSONDecodeError as exc:
            sys.exit(f"--evaluation: {args.evaluation} is not the JSON of `ser evaluate --json` ({exc})")
        metrics["protocol_description"] = args.protocol or f"ser evaluate output {args.evaluation}"
    elif args.run:
        metrics = json.loads((args.run / "metrics.json").read_text())
    else:
        metrics = train(args.config)
    text, checks = table(metrics)
    print(text)
    out = ROOT / "bench" / "results" / "robustness.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"source": str(args.evaluation or args.run or args.config),
                               "protocol": metrics["protocol_description"],
                               "conditions": metrics["conditions"], "calibration": metrics.get("calibration"),
                               "targets": checks}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
