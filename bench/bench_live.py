"""Benchmark of the live path (issue 13): latency, CPU at real time, memory over a long session.

A recording is synthesised at run time from RAVDESS clips separated by pauses (WAV, 48 kHz, in a
temporary folder; never in the repository) and played through :class:`ser_framework.LiveAnalyser`,
the path ``ser listen`` and the app's Live page use, on ONE core (process pinned, BLAS threads 1):

* latency: played at real-time speed (as a microphone delivers it, 0.1-s blocks); for each
  window, the wall-clock time from the moment its last sample was fed to its answer (when
  ``ser listen`` prints it); median and 90th percentile;
* CPU: the process's CPU time over the wall time of that real-time session, in % of one core;
* memory: a long session in fast-forward (the same analyser, the next block fed as soon as the
  classifier has emptied its queue, so nothing is dropped and no time is spent waiting), RSS
  sampled every simulated minute; growth = last sample - the sample after minute 1.

    .venv/bin/python bench/bench_live.py                   # 3-min real-time run, 30-min session
    .venv/bin/python bench/bench_live.py --minutes 1 --session-minutes 5
The on-screen latency of the app is printed by tests/test_live_browser.py (test-artifacts/live-timing.json).
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_timeline import corpus_clips, pin_one_core, status_mb  # noqa: E402


def real_time(bundle, path) -> dict:
    from ser_framework import LiveAnalyser, audio_info, play_recording

    live = LiveAnalyser(bundle, audio_info(path).sample_rate)
    live.warm_up()
    wall, cpu = time.perf_counter(), time.process_time()
    results = list(play_recording(live, str(path), realtime=True))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    lat = np.array([r.latency for r in results if r.status != "dropped"])
    return {"audio_s": round(live.duration, 1), "windows": len(results), "dropped": live.dropped,
            "latency_median_s": round(float(np.median(lat)), 3), "latency_p90_s": round(float(np.percentile(lat, 90)), 3),
            "latency_max_s": round(float(lat.max()), 3), "cpu_percent_of_one_core": round(100 * cpu / wall, 1)}


def long_session(bundle, path, minutes: float) -> dict:
    import soundfile as sf

    from ser_framework import LiveAnalyser

    y, sr = sf.read(str(path), dtype="float32")
    live = LiveAnalyser(bundle, sr)
    live.warm_up()
    block, fed, rss, answers = int(0.1 * sr), 0, [], 0
    t = time.perf_counter()
    while fed < minutes * 60 * sr:
        for i in range(0, y.size, block):
            live.feed(y[i:i + block])
            fed += min(block, y.size - i)
            while live._queue or live._busy:  # fast-forward: wait for the classifier, never drop
                time.sleep(0.002)
            answers += len(live.results())
            if fed // (60 * sr) > len(rss) - 1:
                rss.append(status_mb("VmRSS"))
            if fed >= minutes * 60 * sr:
                break
    answers += len(live.finish())
    return {"session_min": round(fed / sr / 60, 1), "seconds": round(time.perf_counter() - t, 1), "windows": answers,
            "dropped": live.dropped, "segments": len(live.segments), "rss_mb_per_minute": [round(m, 1) for m in rss],
            "rss_growth_after_minute_1_mb": round(rss[-1] - rss[min(1, len(rss) - 1)], 1)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-m", "--model", default=None, help="bundle folder (default: the shipped model)")
    ap.add_argument("--minutes", type=float, default=3.0, help="length of the real-time run")
    ap.add_argument("--session-minutes", type=float, default=30.0, help="length of the fast-forward session")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    cpu = pin_one_core()
    from ser_framework import load_bundle
    from ser_framework.timeline.stitch import stitch_clips

    bundle = load_bundle(args.model)
    result: dict = {"model": str(bundle.path), "cpu": cpu, "one_core": True,
                    "load_average": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory(prefix="ser-bench-live-") as tmp:
        path = Path(tmp) / "live.wav"
        spans = stitch_clips(corpus_clips(args.seed), path, repeat_until=args.minutes * 60, seed=args.seed)
        print(f"recording: {len(spans)} clips, {spans[-1]['end'] / 60:.1f} min", file=sys.stderr)
        result["real_time"] = real_time(bundle, path)
        r = result["real_time"]
        print(f"real time, {r['audio_s'] / 60:.1f} min: latency median {r['latency_median_s']} s, p90 "
              f"{r['latency_p90_s']} s, max {r['latency_max_s']} s; CPU {r['cpu_percent_of_one_core']} % of one core; "
              f"{r['dropped']} of {r['windows']} windows dropped", file=sys.stderr)
        result["session"] = long_session(bundle, path, args.session_minutes)
        s = result["session"]
        print(f"session of {s['session_min']} min (fast-forward, {s['seconds']} s): RSS {s['rss_mb_per_minute'][0]} -> "
              f"{s['rss_mb_per_minute'][-1]} MB, growth after minute 1: {s['rss_growth_after_minute_1_mb']} MB; "
              f"{s['windows']} windows, {s['segments']} segments", file=sys.stderr)
    result["load_average_end"] = os.getloadavg()[0]
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
