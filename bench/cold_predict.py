"""Cold ``ser predict`` of N clips, end to end, repeated: what a user waits for on the command line.

Runs ``.venv/bin/ser predict`` on the first N files of one actor (default: 24 of Actor_17) in a
fresh process each time and prints every run's wall time, the median and the range, against the
real-world-audio target (median <= 3 s for 24 clips). The machine's speed varies from minute to
minute: compare two setups by alternating them in one invocation (``--ref-python`` runs the
same command with another interpreter, e.g. another checkout's .venv/bin/python).

    .venv/bin/python bench/cold_predict.py [--clips 24] [--runs 7] [--model BUNDLE] [--ref-python PY]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 3.0


def run_once(python: str, files: list[str], model: str | None) -> float:
    cmd = [python, "-m", "ser_frontends.cli", "predict", *files]
    if model:
        cmd += ["--model", str(Path(model).resolve())]
    t = time.perf_counter()
    # an empty folder as the working directory: `-m` puts it first on sys.path, and a checkout's
    # folders there would shadow the interpreter's own install
    with tempfile.TemporaryDirectory() as cwd:
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if done.returncode != 0:
        sys.exit(f"error: {' '.join(cmd[:4])} ... exited {done.returncode}: {done.stderr.strip()[-300:]}")
    return wall


def summary(name: str, times: list[float]) -> str:
    return (f"{name}: median {statistics.median(times):.2f} s, range {min(times):.2f}-{max(times):.2f} s "
            f"({', '.join(f'{t:.2f}' for t in times)})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=24)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--actor", default="Actor_17")
    ap.add_argument("--corpus", default=str(ROOT.parent / "shared" / "data" / "ravdess"))
    ap.add_argument("--model", default=None, help="bundle folder (default: the shipped model)")
    ap.add_argument("--ref-python", default=None, help="also time this interpreter, alternating with ours")
    args = ap.parse_args()
    folder = Path(args.corpus) / args.actor
    files = sorted(str(p.resolve()) for p in folder.glob("*.flac"))[: args.clips]
    if len(files) < args.clips:
        sys.exit(f"error: {folder} holds {len(files)} FLAC files, fewer than --clips {args.clips}")
    ours = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv").is_dir() else sys.executable
    setups = {"this checkout": ours}
    if args.ref_python:
        setups["reference"] = args.ref_python
    for python in setups.values():  # warm the page cache and numba's on-disk cache once
        run_once(python, files, args.model)
    times: dict[str, list[float]] = {name: [] for name in setups}
    for _ in range(args.runs):
        for name, python in setups.items():
            times[name].append(run_once(python, files, args.model))
    print(f"cold `ser predict` of {len(files)} clips of {args.actor}, {args.runs} runs each"
          + (", alternated" if len(setups) > 1 else ""))
    for name, ts in times.items():
        print(summary(name, ts))
    median = statistics.median(times["this checkout"])
    if len(files) == 24:  # the target is stated for 24 clips only
        print(f"target: median <= {TARGET_S:.0f} s for 24 clips: {'met' if median <= TARGET_S else 'NOT met'} "
              f"({median:.2f} s)")


if __name__ == "__main__":
    main()
