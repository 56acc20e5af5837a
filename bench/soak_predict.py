"""Soak test: many predictions in one process must not grow memory.

Usage::

    python bench/soak_predict.py [--model BUNDLE] [--n 500] [--threads 1]

Loads a bundle (default: the shipped model; or any folder from ``ser train``),
synthesises a few clips (seeded; nothing read from a corpus), predicts ``--n``
times (from paths, bytes and bad inputs that are refused) and prints the
resident set size after warm-up and at the end. Not a timed test: read the
numbers. Growth of a few MB (allocator noise) is normal; growth proportional to
``--n`` is a leak.
"""
from __future__ import annotations

import argparse
import gc
import io
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def rss_mb() -> float:
    """Current resident set size in MB (Linux /proc; ru_maxrss elsewhere, which is a peak)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_clips(folder: Path) -> list:
    import numpy as np
    import soundfile as sf

    rng = np.random.default_rng(0)
    sources = []
    for i, (sr, seconds, channels) in enumerate([(16000, 1.0, 1), (48000, 2.5, 2), (22050, 3.0, 1), (8000, 1.5, 6)]):
        t = np.arange(int(sr * seconds)) / sr
        y = 0.3 * np.sin(2 * np.pi * (150 + 80 * i) * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
        y = y + 0.01 * rng.standard_normal(t.size)
        y = np.repeat(y[:, None], channels, axis=1) if channels > 1 else y
        path = folder / f"clip{i}.wav"
        sf.write(path, y.astype(np.float32), sr, subtype="PCM_16")
        sources.append(str(path))
    sources.append(Path(sources[0]).read_bytes())  # an upload given as bytes
    bad = folder / "bad.wav"
    bad.write_bytes(rng.bytes(4096))
    sources.append(str(bad))  # refused every time: error paths must not leak either
    return sources


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="bundle folder (default: the shipped model)")
    parser.add_argument("--n", type=int, default=500, help="predictions after warm-up")
    parser.add_argument("--threads", type=int, default=1, help="predict from this many threads")
    args = parser.parse_args(argv)

    from ser_framework.bundle import load_bundle
    from ser_framework.errors import AudioError, SerError

    try:
        bundle = load_bundle(args.model)
    except SerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    refused = 0

    def one(source):
        nonlocal refused
        try:
            bundle.predict(io.BytesIO(source) if isinstance(source, bytes) else source)
        except AudioError:
            refused += 1

    with tempfile.TemporaryDirectory() as tmp:
        sources = make_clips(Path(tmp))
        for s in sources * 5:  # warm-up: librosa filter caches, allocator pools
            one(s)
        gc.collect()
        start = rss_mb()
        t0 = time.perf_counter()
        plan = [sources[i % len(sources)] for i in range(args.n)]
        checkpoints = {args.n // 4, args.n // 2, 3 * args.n // 4}
        if args.threads > 1:
            with ThreadPoolExecutor(args.threads) as pool:
                list(pool.map(one, plan))
        else:
            for i, s in enumerate(plan, 1):
                one(s)
                if i in checkpoints:
                    print(f"  after {i:4d}: RSS {rss_mb():7.1f} MB")
        elapsed = time.perf_counter() - t0
        gc.collect()
        end = rss_mb()
    print(f"bundle: {bundle.path}")
    print(f"predictions: {args.n} ({refused} refused inputs) in {elapsed:.1f} s, {args.threads} thread(s)")
    print(f"RSS after warm-up: {start:.1f} MB; at the end: {end:.1f} MB; growth: {end - start:+.1f} MB "
          f"({(end - start) * 1024 / max(args.n, 1):+.1f} kB per prediction)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
