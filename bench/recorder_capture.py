"""A dev set of real browser-recorder audio: corpus clips played through the app's recorder in Chromium.

Each clip (actors 1-16 only; never actors 17-20 nor the browser test's RECORDER_CLIPS) is converted to
WAV, played by Chromium's fake microphone into the app's ``st.audio_input`` (the machinery of
``tests/test_app_browser.py``), and the WAV file the browser uploaded to the app is saved — a 48 kHz
recording with the browser's automatic gain and noise suppression. The app serves the shipped default
model (or ``--model``); its answer to each recording is kept in ``clips.csv`` beside the WAV files.

    .venv/bin/python bench/recorder_capture.py                   # 32 clips -> /work/recorder-dev/
    .venv/bin/python bench/recorder_capture.py --out DIR --per-actor 1

The folder must lie outside the repository (corpus-derived audio is never committed). Clips already
captured are skipped, so an interrupted run resumes. bench/recorder_agreement.py reads the folder.
"""
from __future__ import annotations

import argparse
import csv
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from app_support import CORPUS, wav_bytes  # noqa: E402
from test_app_browser import RECORDER_CLIPS, record_through_the_microphone, serving  # noqa: E402

DEFAULT_OUT = Path("/work/recorder-dev")
MANIFEST = "clips.csv"
DEV_ACTORS = range(1, 17)


def dev_clips(per_actor: int, seed: int = 0) -> list[str]:
    """``per_actor`` clips of each of actors 1-16, emotions spread evenly (actor i starts at emotion i),
    intensity, statement and repetition drawn from ``seed``; none of RECORDER_CLIPS."""
    rng = np.random.default_rng(seed)
    clips = []
    for actor in DEV_ACTORS:
        for k in range(per_actor):
            emotion = (actor - 1 + k * 8 // per_actor) % 8 + 1
            while True:
                intensity = 1 if emotion == 1 else int(rng.integers(1, 3))  # neutral has no strong intensity
                name = (f"Actor_{actor:02d}/03-01-{emotion:02d}-{intensity:02d}-{int(rng.integers(1, 3)):02d}-"
                        f"{int(rng.integers(1, 3)):02d}-{actor:02d}.flac")
                if name not in RECORDER_CLIPS:
                    break
            clips.append(name)
    return clips


def capture(clips: list[str], out: Path, model: str | None) -> list[dict]:
    """Records every clip not yet in ``out`` through the app; the manifest rows."""
    import soundfile as sf
    from playwright.sync_api import sync_playwright

    manifest = out / MANIFEST
    rows = {r["recording"]: r for r in csv.DictReader(manifest.open())} if manifest.is_file() else {}
    with tempfile.TemporaryDirectory() as tmp, serving(model, tmp) as url, sync_playwright() as playwright:
        for i, name in enumerate(clips, 1):
            target = out / Path(name).with_suffix(".wav").name
            if target.name in rows and target.is_file():
                continue
            played = Path(tmp).resolve() / target.name  # absolute, no '..' (NOTES.md)
            played.write_bytes(wav_bytes(CORPUS / name))
            uploads: list[bytes] = []
            answer = record_through_the_microphone(playwright, url, played, sf.info(str(played)).duration,
                                                   uploads=uploads)
            if len(uploads) != 1:
                raise SystemExit(f"{name}: expected one upload from the recorder, saw {len(uploads)}")
            target.write_bytes(uploads[0])
            info = sf.info(str(target))
            rows[target.name] = {"recording": target.name, "source": name, "sample_rate": info.samplerate,
                                 "seconds": round(info.duration, 3), "app_answer": answer[2][0][0].lower()}
            print(f"[{i}/{len(clips)}] {name} -> {target.name} ({info.samplerate} Hz, {info.duration:.2f} s): "
                  f"app says {answer[0]}", flush=True)
            with manifest.open("w", newline="") as f:  # after every clip, so a stopped run resumes
                writer = csv.DictWriter(f, fieldnames=list(next(iter(rows.values()))))
                writer.writeheader()
                writer.writerows(rows.values())
    return list(rows.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"folder for the WAV files (default {DEFAULT_OUT})")
    parser.add_argument("--per-actor", type=int, default=2, help="clips per actor of actors 1-16 (default 2: 32 clips)")
    parser.add_argument("--model", help="bundle the app serves (default: the shipped default model)")
    args = parser.parse_args()
    out = args.out.resolve()
    if out.is_relative_to(ROOT):
        parser.error(f"--out must lie outside the repository ({ROOT}): corpus audio is never committed")
    out.mkdir(parents=True, exist_ok=True)
    rows = capture(dev_clips(args.per_actor), out, args.model)
    actors = sorted({r["source"].split("/")[0] for r in rows})
    print(f"{len(rows)} recordings of {len(actors)} actors in {out} (manifest {MANIFEST})")


if __name__ == "__main__":
    main()
