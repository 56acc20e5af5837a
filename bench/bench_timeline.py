"""Benchmark of ``ser predict --segments`` (issue 6): speed, memory and faithfulness.

Synthesises long recordings at run time from RAVDESS clips separated by pauses
of low noise (FLAC, 48 kHz, in a temporary folder; never in the repository),
then reports on ONE core (the process is pinned, BLAS/OpenMP threads set to 1):

* real-time factor: seconds of audio per second of processing, 10-min recording
  (the model is loaded beforehand; load time reported separately), by the wall
  clock and by the process's CPU time (the same on an idle machine); then the
  same recording again on every core, as ``ser predict --segments`` runs it
  (worker processes forked after the model is loaded, one per core, at most 4);
* peak memory (max RSS) of a fresh process running the timeline of a 1-hour and
  of a 10-min recording: equal figures show memory does not grow with length;
* agreement: on the stitched recording, the share of clips whose span is mostly
  labelled with the clip's own prediction (``bundle.predict(clip)``).

    .venv/bin/python bench/bench_timeline.py                 # shipped model, 10 min + 1 h
    .venv/bin/python bench/bench_timeline.py -m /tmp/run_quick/model --hours 0
Results go to bench/results/timeline.json (gitignored).
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
             "TF_NUM_INTEROP_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RAVDESS = ROOT.parent / "shared/data/ravdess"


ALL_CORES = os.sched_getaffinity(0)


def pin_one_core() -> int:
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) so the next reading covers only what follows."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def status_mb(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def corpus_clips(seed: int) -> list[str]:
    clips = sorted(str(p) for p in RAVDESS.glob("Actor_*/*.flac"))
    if not clips:
        sys.exit(f"RAVDESS corpus not found at {RAVDESS}")
    random.Random(seed).shuffle(clips)
    return clips


def memory_child(model: str | None, path: str) -> None:
    """Run in a fresh process: load, warm up, then one timeline; print RSS figures as JSON."""
    pin_one_core()
    from ser_framework.bundle import load_bundle
    from ser_framework.timeline import timeline

    bundle = load_bundle(model)
    bundle.predict(corpus_clips(0)[0])  # warm up (lazy imports, model graph)
    before = max_rss_mb()
    rss_start = status_mb("VmRSS")
    reset = reset_peak_rss()
    t = time.perf_counter()
    tl = timeline(bundle, path, workers=1)  # this process's memory is the figure
    elapsed = time.perf_counter() - t
    print(json.dumps({"duration_s": tl.duration, "seconds": elapsed, "rtf": tl.duration / elapsed,
                      "segments": len(tl.segments), "max_rss_before_mb": before, "max_rss_after_mb": max_rss_mb(),
                      "rss_at_start_mb": rss_start,
                      "peak_rss_during_timeline_mb": status_mb("VmHWM") if reset else None}))


def measure_memory(model, path) -> dict:
    cmd = [sys.executable, __file__, "--memory-child", str(path)] + (["-m", model] if model else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-m", "--model", default=None, help="bundle folder (default: the shipped model)")
    ap.add_argument("--minutes", type=float, default=10.0, help="length of the speed/agreement recording")
    ap.add_argument("--hours", type=float, default=1.0, help="length of the memory recording (0: skip)")
    ap.add_argument("--clips", type=int, default=100, help="clips checked for agreement")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--output", default=str(ROOT / "bench/results/timeline.json"))
    ap.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.memory_child:
        return memory_child(args.model, args.memory_child)

    cpu = pin_one_core()
    from ser_framework.bundle import load_bundle
    from ser_framework.timeline import timeline
    from ser_framework.timeline.stitch import agreement, stitch_clips

    clips = corpus_clips(args.seed)
    t = time.perf_counter()
    bundle = load_bundle(args.model)
    load_s = time.perf_counter() - t
    bundle.predict(clips[0])
    result: dict = {"model": str(bundle.path), "classifier": bundle.manifest["classifier"]["name"],
                    "cpu": cpu, "one_core": True, "python": platform.python_version(), "load_s": round(load_s, 2)}
    with tempfile.TemporaryDirectory(prefix="ser-bench-timeline-") as tmp:
        short = Path(tmp) / "stitched.flac"
        t = time.perf_counter()
        spans = stitch_clips(clips, short, repeat_until=args.minutes * 60, seed=args.seed)
        print(f"wrote {short.name}: {len(spans)} clips, {spans[-1]['end'] / 60:.1f} min "
              f"in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        t, cpu_t = time.perf_counter(), time.process_time()
        tl = timeline(bundle, short, workers=1)
        elapsed, cpu_s = time.perf_counter() - t, time.process_time() - cpu_t
        result["speed"] = {"duration_s": round(tl.duration, 1), "seconds": round(elapsed, 2),
                           "rtf": round(tl.duration / elapsed, 1), "cpu_seconds": round(cpu_s, 2),
                           "rtf_cpu": round(tl.duration / cpu_s, 1), "segments": len(tl.segments),
                           "speech_s": round(tl.speech_duration, 1), "clips": len(spans)}
        print(f"timeline of {tl.duration / 60:.1f} min: {elapsed:.1f} s, {tl.duration / elapsed:.1f}x real time "
              f"(one core), {len(tl.segments)} segments; CPU time {cpu_s:.1f} s = {tl.duration / cpu_s:.1f}x real "
              f"time (the wall-clock figure drops when other processes share the core)", file=sys.stderr)
        os.sched_setaffinity(0, ALL_CORES)
        t = time.perf_counter()
        tl_all = timeline(bundle, short)  # workers: one per core (at most 4)
        elapsed_all = time.perf_counter() - t
        os.sched_setaffinity(0, {cpu})
        same = [(s.start, s.end, s.label) for s in tl_all.segments] == [(s.start, s.end, s.label) for s in tl.segments]
        result["speed_all_cores"] = {"cores": len(ALL_CORES), "seconds": round(elapsed_all, 2),
                                     "rtf": round(tl.duration / elapsed_all, 1), "same_segments": same}
        print(f"on {len(ALL_CORES)} cores (forked workers): {elapsed_all:.1f} s, {tl.duration / elapsed_all:.1f}x real "
              f"time; segments {'identical' if same else 'DIFFERENT'} to the one-core run", file=sys.stderr)
        n = min(args.clips, len(spans))
        own = [bundle.predict(s["path"]).label for s in spans[:n]]
        score = agreement(tl.segments, spans[:n], own)
        result["agreement"] = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in score.items()}
        print(f"agreement with clip predictions: {score['agree']}/{score['n']} = {score['agreement']:.1%} "
              f"({score['no_speech_found']} clips with no speech found)", file=sys.stderr)
        result["memory"] = {"short": measure_memory(args.model, short)}
        short.unlink()
        if args.hours > 0:
            long = Path(tmp) / "stitched_long.flac"
            spans = stitch_clips(clips, long, repeat_until=args.hours * 3600, seed=args.seed + 1)
            result["memory"]["long"] = measure_memory(args.model, long)
        for m in result["memory"].values():
            print(f"memory, {m['duration_s'] / 60:.0f}-min recording: RSS {m['rss_at_start_mb']:.0f} MB with the model "
                  f"loaded, peak {m['peak_rss_during_timeline_mb']} MB during the timeline, process max "
                  f"{m['max_rss_after_mb']:.0f} MB ({m['rtf']:.1f}x real time)", file=sys.stderr)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
