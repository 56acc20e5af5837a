"""Speed and scale benchmarks against the seed-style yardstick (bench/seed_style.py), same clips, same run.

    .venv/bin/python bench/run_all.py [--clips 48] [--corpus ../shared/data/ravdess]

Prints a table and writes bench/results/bench-<time>.json. Figures:
per-stage cost per clip; extraction files/s (cold cache with n_jobs 1 and 2,
cached); a re-run with only the classifier changed (decodes, extraction time);
cold ``ser predict`` of 24 clips end to end (subprocess); warm single-clip
latency through the Python API; peak memory (RSS) of the predict processes.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import seed_style  # noqa: E402

RSS_WRAPPER = (
    "import resource, subprocess, sys, time; t = time.perf_counter(); "
    "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True); "
    "el = time.perf_counter() - t; "
    "print(el, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode); "
    "sys.stderr.write(r.stderr[-2000:] if r.returncode else '')"
)


def timed_subprocess(cmd, env=None):
    """Wall time (s) and peak RSS (MB) of one command, measured from a tiny parent."""
    out = subprocess.run([sys.executable, "-c", RSS_WRAPPER, *cmd], capture_output=True, text=True, env=env)
    secs, rss_kb, rc = out.stdout.split()
    if rc != "0":
        raise RuntimeError(f"{cmd[:3]} failed: {out.stderr}")
    return float(secs), int(rss_kb) / 1024


def pick_clips(corpus: Path, n: int) -> list[str]:
    files = sorted(str(p) for p in corpus.rglob("*.flac")) or sorted(str(p) for p in corpus.rglob("*.wav"))
    if not files:
        sys.exit(f"no audio under {corpus}")
    step = max(1, len(files) // n)
    return files[::step][:n]


def per_clip(fn, items, warm=1):
    for x in items[:warm]:
        fn(x)
    t = time.perf_counter()
    for x in items:
        fn(x)
    return (time.perf_counter() - t) / len(items)


def stage_costs(pipeline, clips):
    """Median ms per clip of each stage: ours (shared AudioContext) and the seed's."""
    import librosa

    from ser_framework.spectral import AudioContext, single_threaded

    names = [e.name for e in pipeline.extractors]
    ours = {k: [] for k in ("decode+resample", "stft", *names, "total")}
    by_name = {e.name: e for e in pipeline.extractors}
    for path in clips:
        t0 = time.perf_counter()
        y = pipeline.load(path)
        t1 = time.perf_counter()
        ctx = AudioContext(y, pipeline.sample_rate)
        with single_threaded():
            ctx.power()
            t2 = time.perf_counter()
            marks = [t2]
            for name in names:
                by_name[name].extract(ctx)
                marks.append(time.perf_counter())
        ours["decode+resample"].append(t1 - t0)
        ours["stft"].append(t2 - t1)
        for name, a, b in zip(names, marks, marks[1:]):
            ours[name].append(b - a)
        ours["total"].append(marks[-1] - t0)
    load_key = f"librosa.load x{len(names)}"
    seed_names = [f"{n} (HPSS+CQT)" if n == "tonnetz" else n for n in names]
    seed = {k: [] for k in (load_key, *seed_names, "total")}
    for path in clips:
        t0 = time.perf_counter()
        y, sr = librosa.load(path, sr=22050)
        t_load = time.perf_counter() - t0
        row = {}
        for key, name in zip(seed_names, names):
            t = time.perf_counter()
            seed_style.feature(path, name)
            row[key] = time.perf_counter() - t - t_load
        seed[load_key].append(len(names) * t_load)
        for k, v in row.items():
            seed[k].append(v)
        seed["total"].append(len(names) * t_load + sum(row.values()))
    med = lambda d: {k: round(1e3 * statistics.median(v), 2) for k, v in d.items()}  # noqa: E731
    return {"ours_ms": med(ours), "seed_ms": med(seed)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=48)
    ap.add_argument("--predict-clips", type=int, default=24)
    ap.add_argument("--corpus", default=str(ROOT.parent / "shared" / "data" / "ravdess"))
    ap.add_argument("--stage-clips", type=int, default=8)
    args = ap.parse_args()

    import pandas as pd

    import ser_framework.extraction as extraction
    from ser_framework.bundle import DEFAULT_BUNDLE, load_bundle
    from ser_framework.config import load_config
    from ser_framework.experiment import build_table, run_training
    from ser_framework.extraction import FeaturePipeline, extract_table

    clips = pick_clips(Path(args.corpus), args.clips)
    n = len(clips)
    work = Path(tempfile.mkdtemp(prefix="ser-bench-"))
    print(f"{n} clips from {args.corpus}; scratch {work}", flush=True)
    config, registry = load_config(ROOT / "configs" / "default.yaml")
    config["dataset"]["params"]["root"] = args.corpus
    pipeline = FeaturePipeline.from_config(config["features"], config["audio"], registry)
    items = pd.DataFrame({"path": clips, "label": ["x"] * n, "speaker": ["s"] * n})
    results = {"clips": n, "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                                       "load_average_at_start": os.getloadavg()}}
    pipeline.from_source(clips[0])  # imports and JIT out of the way for in-process figures
    seed_style.extract(clips[0])

    # 1. per-stage costs
    print("stages ...", flush=True)
    results["stages"] = stage_costs(pipeline, clips[: args.stage_clips])

    # 2. extraction throughput
    print("extraction ...", flush=True)
    t = time.perf_counter()
    for c in clips:
        seed_style.extract(c)
    seed_fps = n / (time.perf_counter() - t)
    ext = {"seed_style_files_per_s": seed_fps}
    for jobs in (1, 2):
        cache_dir = work / f"cache{jobs}"
        cfg = {"n_jobs": jobs, "backend": "loky", "cache": True, "cache_dir": str(cache_dir)}
        t = time.perf_counter()
        extract_table(items, pipeline, cfg, progress=False)
        ext[f"cold_n_jobs_{jobs}_files_per_s"] = n / (time.perf_counter() - t)
        if jobs == 2:  # same again with worker processes already started (steady state)
            shutil.rmtree(cache_dir)
            t = time.perf_counter()
            extract_table(items, pipeline, cfg, progress=False)
            ext["cold_n_jobs_2_warm_workers_files_per_s"] = n / (time.perf_counter() - t)
        t = time.perf_counter()
        table = extract_table(items, pipeline, cfg, progress=False)
        ext[f"cached_n_jobs_{jobs}_files_per_s"] = n / (time.perf_counter() - t)
        assert table.attrs["extraction_counts"]["decoded"] == 0
    ext["n_jobs_2_over_1"] = ext["cold_n_jobs_2_files_per_s"] / ext["cold_n_jobs_1_files_per_s"]
    ext["n_jobs_2_over_1_warm_workers"] = ext["cold_n_jobs_2_warm_workers_files_per_s"] / ext["cold_n_jobs_1_files_per_s"]
    for k in list(ext):
        if k.endswith("files_per_s") and k != "seed_style_files_per_s":
            ext[k.replace("files_per_s", "x_seed")] = ext[k] / seed_fps
    results["extraction"] = ext

    # 3. re-run with only the classifier changed, through the experiment's build_table
    print("re-run ...", flush=True)
    decodes = []
    real_load = extraction.load_audio
    extraction.load_audio = lambda s, **kw: decodes.append(s) or real_load(s, **kw)
    try:
        rerun_cfg = json.loads(json.dumps(config))
        rerun_cfg["extraction"].update({"n_jobs": 1, "cache_dir": str(work / "cache_rerun")})
        orig_load_items = sys.modules["ser_framework.experiment"].load_items
        sys.modules["ser_framework.experiment"].load_items = lambda c, r: items
        t = time.perf_counter()
        table, _ = build_table(rerun_cfg, registry, progress=False)
        first_s, first_decodes = time.perf_counter() - t, len(decodes)
        rerun_cfg["classifier"] = {"name": "logistic_regression", "params": {"C": 0.5, "max_iter": 500,
                                                                              "class_weight": "balanced"}}
        t = time.perf_counter()
        build_table(rerun_cfg, registry, progress=False)
        second_s = time.perf_counter() - t
        sys.modules["ser_framework.experiment"].load_items = orig_load_items
    finally:
        extraction.load_audio = real_load
    results["rerun_classifier_changed"] = {
        "first_extraction_s": first_s, "first_decodes": first_decodes,
        "rerun_extraction_s": second_s, "rerun_decodes": len(decodes) - first_decodes,
        "speedup": first_s / second_s,
    }

    # 4. a keras_mlp bundle: the shipped one, else a quick one trained on these clips
    manifest = DEFAULT_BUNDLE / "manifest.json"
    if manifest.is_file() and json.loads(manifest.read_text())["classifier"]["name"] == "keras_mlp":
        bundle_dir = DEFAULT_BUNDLE
    else:
        print("training a quick keras_mlp bundle (no shipped default model yet) ...", flush=True)
        bundle_dir = _quick_bundle(config, registry, table, work, run_training)
    results["bundle"] = str(bundle_dir)

    # 5. cold `ser predict` of 24 clips, end to end (fresh processes)
    print("cold predict ...", flush=True)
    pclips = clips[: args.predict_clips]
    ser = str(Path(sys.executable).with_name("ser"))
    ours = [timed_subprocess([ser, "predict", "-m", str(bundle_dir), *pclips]) for _ in range(2)]
    seed = [timed_subprocess([sys.executable, str(HERE / "seed_style.py"), "predict", str(bundle_dir), *pclips])]
    o_s, s_s = min(t for t, _ in ours), min(t for t, _ in seed)
    results["cold_predict"] = {
        "clips": len(pclips), "ours_s": o_s, "seed_s": s_s, "ratio": o_s / s_s,
        "ours_peak_rss_mb": max(m for _, m in ours), "seed_peak_rss_mb": max(m for _, m in seed),
    }

    # 6. warm single-clip latency through the Python API
    print("warm latency ...", flush=True)
    bundle = load_bundle(bundle_dir)
    ours_lat = per_clip(bundle.predict, pclips[:10])
    keras_model = seed_style.load_keras(str(bundle_dir))
    fitted = bundle.model

    def seed_predict(path):
        return keras_model.predict(fitted.transform(seed_style.extract(path)[None, :].astype(np.float32)), verbose=0)

    seed_lat = per_clip(seed_predict, pclips[:5])
    results["warm_latency_ms"] = {"ours": 1e3 * ours_lat, "seed": 1e3 * seed_lat, "ratio": ours_lat / seed_lat}
    import resource

    results["bench_process_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    # targets
    results["targets"] = {
        "extraction >= 4x seed files/s": ext["cold_n_jobs_1_x_seed"] >= 4,
        "cold predict <= 1/3 seed time": results["cold_predict"]["ratio"] <= 1 / 3,
        "classifier-only re-run: no decode": results["rerun_classifier_changed"]["rerun_decodes"] == 0,
        "classifier-only re-run: extraction >= 50x faster": results["rerun_classifier_changed"]["speedup"] >= 50,
        "n_jobs=2 >= 1.7x n_jobs=1 (warm workers)": ext["n_jobs_2_over_1_warm_workers"] >= 1.7,
    }
    results["machine"]["load_average_at_end"] = os.getloadavg()
    report(results)
    out = HERE / "results" / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=float))
    print(f"\nwrote {out}")
    shutil.rmtree(work, ignore_errors=True)


def _quick_bundle(config, registry, table, work, run_training):
    """Train keras_mlp for a few epochs on the benchmark clips (labels from RAVDESS names)."""
    from ser_framework.config import validate

    emotions = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry", "06": "fearful",
                "07": "disgust", "08": "surprised"}
    t = table.copy()
    parts = [Path(p).stem.split("-") for p in t["path"]]
    t["label"] = [emotions.get(x[2], "neutral") if len(x) > 2 else "neutral" for x in parts]
    t["speaker"] = [x[-1] if len(x) > 6 else "0" for x in parts]
    raw = json.loads(json.dumps(config))
    raw["classifier"]["params"].update({"epochs": 5})
    raw["selectors"][1]["params"]["k"] = 200
    raw["evaluation"] = {"protocol": "holdout", "test_size": 0.25, "refit": True}
    raw["output"] = {"dir": str(work)}
    cfg = validate(raw, registry)
    return run_training(cfg, registry, work / "run", progress=False, table=t).bundle_dir


def report(r):
    s, e = r["stages"], r["extraction"]
    print("\nper-stage cost per clip (median ms, one core)")
    for k, v in s["ours_ms"].items():
        print(f"  ours  {k:<22}{v:8.1f}")
    for k, v in s["seed_ms"].items():
        print(f"  seed  {k:<22}{v:8.1f}")
    print(f"\nextraction, {r['clips']} clips                files/s   x seed")
    print(f"  seed-style (yardstick)                 {e['seed_style_files_per_s']:8.1f}     1.00")
    for key in ("cold_n_jobs_1", "cold_n_jobs_2", "cold_n_jobs_2_warm_workers", "cached_n_jobs_1", "cached_n_jobs_2"):
        print(f"  {key:<38} {e[key + '_files_per_s']:8.1f} {e[key + '_x_seed']:8.2f}")
    print(f"  n_jobs 2 / n_jobs 1: {e['n_jobs_2_over_1']:.2f} (incl. worker start), "
          f"{e['n_jobs_2_over_1_warm_workers']:.2f} (warm workers)")
    rr = r["rerun_classifier_changed"]
    print(f"\nre-run, classifier changed: {rr['rerun_decodes']} decodes; extraction {rr['first_extraction_s']:.2f} s -> "
          f"{rr['rerun_extraction_s']:.3f} s ({rr['speedup']:.0f}x)")
    cp = r["cold_predict"]
    print(f"cold predict of {cp['clips']} clips: ours {cp['ours_s']:.2f} s, seed {cp['seed_s']:.2f} s "
          f"(ratio {cp['ratio']:.2f}); peak RSS {cp['ours_peak_rss_mb']:.0f} MB vs {cp['seed_peak_rss_mb']:.0f} MB")
    wl = r["warm_latency_ms"]
    print(f"warm single-clip latency: ours {wl['ours']:.1f} ms, seed {wl['seed']:.1f} ms (ratio {wl['ratio']:.3f})")
    print(f"\nload average (other users of the 2 cores) start/end: "
          f"{r['machine']['load_average_at_start'][0]:.1f}/{r['machine']['load_average_at_end'][0]:.1f}")
    print("\ntargets:")
    for k, v in r["targets"].items():
        print(f"  [{'met' if v else 'NOT met'}] {k}")


if __name__ == "__main__":
    main()
