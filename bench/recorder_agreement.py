"""Does a model give the same answer for a clip recorded through the app's browser recorder as for the file?

The dev set is ``bench/recorder_capture.py``'s folder: clips of actors 1-16 recorded through the app in
Chromium (48 kHz, the browser's automatic gain and noise suppression), beside the original FLACs. Each row
is a setup trained under the choosing protocol of ``configs/choose-actors-1-16.yaml`` (actors 1-16 only;
17-20 never read) with one feature list and augmentation chain:

- agreement: 4 speaker-grouped folds (actors 1-4, 5-8, 9-12, 13-16); the model of fold k is trained on the
  other 12 actors (holdout protocol, no refit) and answers the dev clips of its 4 unseen actors, once from
  the original file (the upload) and once from the recording; "same" counts equal top labels;
- the shipped default model (trained on all 20 actors, so it has heard these speakers) is scored too,
  and so is any bundle given with ``--bundle NAME=PATH`` (e.g. a config trained on all 20 the same way);
- ``--cv``: the row's speaker-grouped 4-fold CV figures with every robustness condition and the
  named ``browser`` condition (bench/voice_quality.py's protocol: UAR, browser, worst condition, ECE);
- the feature shift: per extractor, mean |recording - upload| in the fold model's scaler units
  (standard deviations of the training rows), over the dev clips.

    .venv/bin/python bench/recorder_agreement.py                  # rows (a) (b) (c), agreement + shift
    .venv/bin/python bench/recorder_agreement.py --cv             # + the CV figures of every row
    .venv/bin/python bench/recorder_agreement.py --webrtc-p 0.3 --webrtc-p 0.8 --cv   # + (c) with other p
    .venv/bin/python bench/recorder_agreement.py --rows ab        # only the shipped model, (a) and (b)
    .venv/bin/python bench/recorder_agreement.py --rows '' --webrtc-last --cv   # the webrtc step after the noise
    .venv/bin/python bench/recorder_agreement.py --rows '' --bundle vq=runs/voice-quality/model   # bundles only

Features are cached, so a second run only trains. JSON goes to bench/results/recorder_agreement.json.
"""
from __future__ import annotations

import argparse
import copy
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from recorder_capture import DEFAULT_OUT, MANIFEST  # noqa: E402
from voice_quality import CHOOSE, score  # noqa: E402

from ser_framework.conditions import IN_ALL  # noqa: E402

CORPUS = ROOT.parent / "shared/data/ravdess"
FOLDS = [list(range(k, k + 4)) for k in (1, 5, 9, 13)]
#: row name -> the config whose features and augmentation chain the row trains with
ROWS = {"(a) default features (shipped setup)": CHOOSE,
        "(b) voice-quality": ROOT / "configs/default.yaml",
        "(c) voice-quality + webrtc": ROOT / "configs/voice-quality-browser.yaml"}


def setup_of(config_path: Path) -> dict:
    """The features and augmentation of a config."""
    cfg = yaml.safe_load(config_path.read_text())
    return {"features": cfg["features"], "augmentation": cfg["augmentation"]}


def with_webrtc(setup: dict, p: float | None = None, last: bool = False) -> dict:
    """``setup`` with its chain's ``webrtc`` step given probability ``p`` and/or moved to the chain's end."""
    out = copy.deepcopy(setup)
    chain = out["augmentation"]["chain"]
    steps = [s for s in chain if s["name"] == "webrtc"]
    if not steps:
        raise SystemExit("the (c) config's chain has no webrtc step")
    if p is not None:
        steps[0]["params"]["p"] = p
    if last:
        chain.remove(steps[0])
        chain.append(steps[0])
    return out


def fold_bundle(setup: dict, test_actors: list[int], run_dir: Path):
    """The model of one fold: trained on actors 1-16 except ``test_actors`` (no refit, no calibration)."""
    from ser_framework import load_bundle, load_config, run_training

    evaluation = {"protocol": "holdout_speakers", "test_speakers": [f"actor_{a:02d}" for a in test_actors],
                  "refit": False, "calibrate": False, "conditions": None}
    cfg, registry = load_config(CHOOSE, overrides=[f"{k}={json.dumps(v)}" for k, v in
                                                   {**setup, "evaluation": evaluation}.items()])
    run_training(cfg, registry, run_dir, progress=False)
    return load_bundle(run_dir / "model")


def dev_set(folder: Path) -> list[dict]:
    """The captured clips: recording path, original path, actor, true emotion label."""
    from ser_plugins.datasets import RAVDESS_EMOTIONS as EMOTIONS

    rows = list(csv.DictReader((folder / MANIFEST).open()))
    if not rows:
        raise SystemExit(f"no recordings in {folder}: run bench/recorder_capture.py first")
    return [{"recording": folder / r["recording"], "original": CORPUS / r["source"],
             "actor": int(Path(r["source"]).stem.split("-")[-1]),
             "label": EMOTIONS[Path(r["source"]).stem.split("-")[2]], "app_answer": r["app_answer"]} for r in rows]


def answer(bundle, path: Path) -> str:
    from ser_framework import SerError

    try:
        return bundle.predict(path).label
    except SerError:  # e.g. no speech found
        return "(refused)"


def feature_shift(bundle, clip: dict) -> dict[str, float]:
    """Per extractor: mean |recording - upload| of its values in the bundle's scaler units.

    Empty for a bundle without a scaler first (a fused bundle, a sequence model)."""
    pipeline, selectors = bundle.pipeline, bundle.model.selectors
    if not selectors or not hasattr(selectors[0], "scale_"):
        return {}
    scaler = selectors[0]
    parts = [pipeline.parts(pipeline.load(clip[k])) for k in ("original", "recording")]
    out, start = {}, 0
    for extractor, upload, recorded in zip(pipeline.extractors, *parts):
        stop = start + len(upload)
        out[extractor.name] = float(np.mean(np.abs(recorded - upload) / scaler.scale_[start:stop]))
        start = stop
    return out


def agreement(name: str, bundles_by_actor, clips: list[dict]) -> dict:
    same = up_ok = rec_ok = 0
    shifts, details = [], []
    for clip in clips:
        bundle = bundles_by_actor(clip["actor"])
        up, rec = answer(bundle, clip["original"]), answer(bundle, clip["recording"])
        same += up == rec
        up_ok += up == clip["label"]
        rec_ok += rec == clip["label"]
        shifts.append(feature_shift(bundle, clip))
        details.append({"clip": clip["recording"].name, "label": clip["label"], "upload": up, "recording": rec})
    shift = {k: float(np.mean([s[k] for s in shifts])) for k in shifts[0] if all(k in s for s in shifts)}
    print(f"  {name}: same answer for {same} of {len(clips)}", flush=True)
    return {"same": same, "n": len(clips), "upload_correct": up_ok, "recording_correct": rec_ok,
            "shift": shift, "clips": details}


def row_agreement(name: str, setup: dict, clips: list[dict]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        bundles = {}
        for k, actors in enumerate(FOLDS):
            t0 = time.perf_counter()
            bundle = fold_bundle(setup, actors, Path(tmp) / f"fold{k}")
            bundles.update({a: bundle for a in actors})
            print(f"  {name}: fold {k + 1} (actors {actors[0]}-{actors[-1]} unseen) trained in "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
        return agreement(name, bundles.__getitem__, clips)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dev", type=Path, default=DEFAULT_OUT, help=f"bench/recorder_capture.py's folder ({DEFAULT_OUT})")
    parser.add_argument("--cv", action="store_true", help="also the CV figures of every row (slow when not cached)")
    parser.add_argument("--webrtc-p", type=float, action="append", default=[],
                        help="add a row (c) with this probability of the webrtc step (repeatable)")
    parser.add_argument("--webrtc-last", action="store_true",
                        help="add a row (c) with the webrtc step moved to the end of the chain (after noise, codecs)")
    parser.add_argument("--rows", default="abc", help="which of the rows (a) (b) (c) to train (default abc)")
    parser.add_argument("--bundle", action="append", default=[], metavar="NAME=PATH",
                        help="also score a trained bundle as it is (e.g. a run's model/ trained on all 20 actors)")
    args = parser.parse_args()
    from ser_framework import load_bundle

    clips = dev_set(args.dev)
    setups = {name: setup_of(path) for name, path in ROWS.items() if name[1] in args.rows}
    base = setup_of(ROWS["(c) voice-quality + webrtc"])
    setups.update({f"(c) voice-quality + webrtc p {p}": with_webrtc(base, p=p) for p in args.webrtc_p})
    if args.webrtc_last:
        setups["(c) voice-quality + webrtc last in the chain"] = with_webrtc(base, last=True)

    shipped = load_bundle()
    results = {"shipped default model (all 20 actors)": agreement("shipped", lambda _: shipped, clips)}
    app_same = sum(d["recording"] == c["app_answer"] for d, c in zip(results["shipped default model (all 20 actors)"]["clips"], clips))
    for spec in args.bundle:
        name, _, path = spec.partition("=")
        bundle = load_bundle(path)
        results[name] = agreement(name, lambda _, b=bundle: b, clips)
    for name, setup in setups.items():
        results[name] = row_agreement(name, setup, clips)
        if args.cv:  # every standard condition and the browser's channel (the webrtc augmenter)
            results[name]["cv"] = score(setup["features"], setup["augmentation"], [*IN_ALL, "browser"])

    actors = sorted({c["actor"] for c in clips})
    print(f"\ndev set: {len(clips)} clips of actors {actors[0]}-{actors[-1]} ({len(actors)} actors) recorded through "
          f"the app's recorder in Chromium ({args.dev}); the shipped model's answer to the recording equals "
          f"the app's for {app_same} of {len(clips)} (same decoding path)")
    print("fold models: holdout protocol on actors 1-16, 4 folds of 4 actors, each clip answered by the model "
          "that never heard its actor\n")
    print("| model | same top label (recording vs upload) | upload correct | recording correct |")
    print("|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['same']}/{r['n']} | {r['upload_correct']}/{r['n']} | {r['recording_correct']}/{r['n']} |")
    cv_rows = {name: r["cv"] for name, r in results.items() if "cv" in r}
    if cv_rows:
        print(f"\nCV on actors 1-16 ({next(iter(cv_rows.values()))['protocol']}, n = "
              f"{next(iter(cv_rows.values()))['n']}, every robustness condition)\n")
        print("| setup | clean UAR (fold sd) | browser condition UAR (× clean) | worst condition: UAR (× clean) | ECE raw → calibrated |")
        print("|---|---|---|---|---|")
        for name, r in cv_rows.items():
            browser = r["conditions"]["browser"]
            print(f"| {name} | {r['uar']:.3f} (± {r['uar_fold_std']:.3f}) | {browser:.3f} ({browser / r['uar']:.2f} ×) | "
                  f"{r['worst']}: {r['worst_uar']:.3f} ({r['worst_ratio']:.2f} ×) | {r['ece_raw']:.3f} → {r['ece']:.3f} |")
    print("\nfeature shift, recording vs upload: mean |Δ| per value in scaler units (training-row sd)\n")
    print("| extractor | " + " | ".join(results) + " |")
    print("|---|" + "---|" * len(results))
    for ex in sorted({e for r in results.values() for e in r["shift"]}):
        print(f"| {ex} | " + " | ".join(f"{results[n]['shift'][ex]:.2f}" if ex in results[n]["shift"] else "—"
                                      for n in results) + " |")
    out = ROOT / "bench" / "results" / "recorder_agreement.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
