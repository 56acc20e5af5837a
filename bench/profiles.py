"""Speaker profiles on unseen speakers: UAR with and without a profile, per condition.

Protocol: a model trained with per-speaker normalisation on actors 1-16 only
(configs/speaker-normalised.yaml, which also prints the speaker-grouped CV on 1-16 it was chosen
by); on each of actors 17-20, ENROL clips (seeded choice) form the speaker's profile and only
the other clips are scored. Each condition degrades the scored clips; the profile is made from
the clean enrolment clips ("clean enrol") or from the enrolment clips degraded the same way
("degraded enrol"); "no profile" scores the same clips with the population statistics.

    .venv/bin/python bench/profiles.py                                  # train (~5 min), then print
    .venv/bin/python bench/profiles.py --model runs/speaker-normalised/model
    .venv/bin/python bench/profiles.py --config configs/speaker-normalised-vq.yaml   # + voice_quality

Target (issue 12): UAR >= 0.70 clean with --enrol 10, and >= 0.85 x that under every condition.
JSON goes to bench/results/profiles.json.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "data" / "ravdess"
TEST_SPEAKERS = ["actor_17", "actor_18", "actor_19", "actor_20"]


def train(out: Path, config: Path) -> Path:
    from ser_framework import load_config, run_training

    cfg, registry = load_config(config)
    result = run_training(cfg, registry, out, progress=True)
    m = result.metrics
    print(f"choosing ({m['protocol_description']}; each test speaker's {cfg['speaker_normalisation']['enrol']} "
          f"enrolment clips not scored): UAR {m['uar']:.3f}, n={m['n']}, worst condition "
          f"{m['worst_condition']['name']} {m['worst_condition']['uar']:.3f} ({m['worst_condition']['uar_ratio']:.2f} x)")
    return result.bundle_dir


def measure(model: Path, enrol: int, seed: int) -> dict:
    from ser_framework import evaluate_bundle, get_registry, load_bundle
    from ser_framework.conditions import ConditionScorer
    from ser_framework.evaluation import compute_metrics

    registry = get_registry()
    items = registry.build("dataset", {"name": "ravdess", "params": {"root": str(CORPUS), "actors": [17, 18, 19, 20]}},
                           "dataset").load()
    bundle = load_bundle(model, registry=registry)
    metrics = evaluate_bundle(bundle, items, {"n_jobs": 2}, progress=False, conditions="all", registry=registry,
                              seed=seed, enrol=enrol)
    # the same scored clips without a profile, per condition
    paths = items["path"].astype(str).tolist()
    scored = np.array([p not in {q for v in metrics["enrol"]["enrolment_paths"].values() for q in v} for p in paths])
    y = np.array([bundle.labels.index(lab) for lab in items["label"]])
    plain = ConditionScorer(list(metrics["conditions"]), paths, bundle.pipeline, registry, seed, len(bundle.labels),
                            {"n_jobs": 2}, progress=False)
    from ser_framework.extraction import extract_table, feature_matrix

    X = feature_matrix(extract_table(items, bundle.pipeline, {"n_jobs": 2}, progress=False))
    plain.score(bundle.predict_features, np.arange(len(y)), clean=bundle.predict_features(X))
    without = {name: compute_metrics(y[scored], p[scored].argmax(axis=1), bundle.labels)["uar"]
               for name, p in plain.proba.items()}
    return {"model": str(model), "enrol": enrol, "seed": seed, "n_scored": int(scored.sum()),
            "with_profile": {n: m["uar"] for n, m in metrics["conditions"].items()},
            "with_profile_degraded_enrolment": {n: m["uar"] for n, m in
                                                metrics["enrol"]["conditions_degraded_enrolment"]["conditions"].items()},
            "without_profile": without}


def print_table(r: dict) -> None:
    clean_p, clean_d = r["with_profile"]["clean"], r["with_profile_degraded_enrolment"]["clean"]
    print(f"actors 17-20 (never seen), {r['enrol']} enrolment clips per speaker (seed {r['seed']}), "
          f"n = {r['n_scored']} scored clips per condition; UAR (share of clean)")
    print("| condition | profile, clean enrol | profile, degraded enrol | no profile |")
    print("|---|---|---|---|")
    for name, u in r["with_profile"].items():
        d, w = r["with_profile_degraded_enrolment"][name], r["without_profile"][name]
        print(f"| {name} | {u:.3f} ({u / clean_p:.2f}) | {d:.3f} ({d / clean_d:.2f}) | {w:.3f} |")
    worst = min(v for n, v in r["with_profile"].items() if n != "clean")
    print(f"target: clean >= 0.70: {'met' if clean_p >= 0.70 else 'MISSED'} ({clean_p:.3f}); every condition "
          f">= 0.85 x clean: {'met' if worst >= 0.85 * clean_p else 'MISSED'} (worst {worst / clean_p:.2f} x)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, help="a bundle trained with speaker_normalisation on actors 1-16")
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "speaker-normalised.yaml",
                    help="the speaker-normalised config to train on actors 1-16 when no --model is given")
    ap.add_argument("--enrol", type=int, default=10)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or train(Path(tmp) / "run", args.config)
        result = measure(model, args.enrol, args.seed)
    print_table(result)
    out = ROOT / "bench" / "results" / "profiles.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
