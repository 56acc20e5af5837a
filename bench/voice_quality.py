"""Do the voice-quality features help on unseen speakers? One table, the choosing protocol only.

Every row is ``configs/choose-actors-1-16.yaml`` (speaker-grouped 4-fold CV on actors 1-16, three
augmented copies per training clip, standard scaler, the default's logistic regression, the
temperature, every robustness condition) with another feature list; actors 17-20 are not read.

    .venv/bin/python bench/voice_quality.py               # (a) default, (b) voice_quality, (c) both
    .venv/bin/python bench/voice_quality.py --opensmile   # + eGeMAPSv02 alone and default + eGeMAPS
                                                          #   (needs pip install '.[opensmile]')

Features are cached, so a second run only trains. JSON goes to bench/results/voice_quality.json.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CHOOSE = ROOT / "configs" / "choose-actors-1-16.yaml"


def feature_sets(opensmile: bool) -> dict[str, list]:
    default = yaml.safe_load(CHOOSE.read_text())["features"]
    sets = {"(a) default features": default,
            "(b) voice_quality alone": ["voice_quality"],
            "(c) default + voice_quality": [*default, "voice_quality"]}
    if opensmile:
        sets["eGeMAPSv02 alone (opensmile)"] = ["opensmile"]
        sets["default + eGeMAPSv02 (opensmile)"] = [*default, "opensmile"]
    return sets


def score(features: list, augmentation: dict | None = None, conditions: list | None = None) -> dict:
    """The choosing protocol's figures with ``features`` (and ``augmentation`` instead of the chain,
    ``conditions`` instead of all, if given)."""
    from ser_framework import load_config, run_training

    overrides = [f"features={json.dumps(features)}"]
    if augmentation is not None:
        overrides.append(f"augmentation={json.dumps(augmentation)}")
    if conditions is not None:
        overrides.append(f"evaluation.conditions={json.dumps(conditions)}")
    cfg, registry = load_config(CHOOSE, overrides=overrides)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        metrics = run_training(cfg, registry, Path(tmp) / "run", progress=False).metrics
    worst = metrics["worst_condition"]
    return {"uar": metrics["uar"], "accuracy": metrics["accuracy"], "uar_fold_std": metrics["fold_summary"]["uar"]["std"],
            "worst": worst["name"], "worst_uar": worst["uar"], "worst_ratio": worst["uar_ratio"],
            "conditions": {name: m["uar"] for name, m in metrics["conditions"].items()},
            "ece_raw": metrics["calibration"]["ece_raw"], "ece": metrics["calibration"]["ece"], "seconds": round(time.perf_counter() - t0, 1),
            "n": metrics["n"], "protocol": metrics["protocol_description"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opensmile", action="store_true", help="add the eGeMAPSv02 rows (needs the opensmile extra)")
    args = parser.parse_args()
    rows = {name: score(features) for name, features in feature_sets(args.opensmile).items()}
    first = next(iter(rows.values()))
    print(f"protocol: {first['protocol']}, actors 1-16, n = {first['n']} clips per condition; "
          "logistic regression (C 0.003, balanced), 3 augmented copies per training clip")
    print("\n| features | clean UAR (fold sd) | clean accuracy | worst condition: UAR (× clean) | ECE raw → calibrated | seconds |")
    print("|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['uar']:.3f} (± {r['uar_fold_std']:.3f}) | {r['accuracy']:.3f} | "
              f"{r['worst']}: {r['worst_uar']:.3f} ({r['worst_ratio']:.2f} ×) | {r['ece_raw']:.3f} → {r['ece']:.3f} | {r['seconds']} |")
    out = ROOT / "bench" / "results" / "voice_quality.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
