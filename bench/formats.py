"""The same answer whatever the file: shared-corpus clips as a phone, a browser or a call would save them.

Each clip (default: every clip of actors 17-20) is encoded from its FLAC, at the
FLAC's own 48 kHz, as
  m4a   AAC 64 kbit/s in M4A (a phone's voice memo)
  webm  Opus 32 kbit/s in WebM (the browser's MediaRecorder, messenger voice notes)
  amr   AMR-NB 12.2 kbit/s, 8 kHz (a phone call)
  mp3   MP3 through libsndfile (for comparison)
and every version is decoded from the file by ``load_audio`` and answered by the
bundle. Printed per format: how often the top label is the FLAC's, accuracy and
UAR, and the median decode time. With a bundle trained without these speakers
(``--model runs/fused-holdout``, README "Default model") accuracy and UAR are an
untouched test; with the shipped model (trained on all 20 actors) only the
agreement means anything.

    .venv/bin/python bench/formats.py [--model BUNDLE] [--speakers actor_17,...] [--limit N]
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


CORPUS = ROOT.parent / "shared" / "data" / "ravdess"
FORMATS = {"m4a": "aac", "webm": "opus", "amr": "amr", "mp3": None}


def _mp3(y, sr) -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, y, sr, format="MP3", subtype="MPEG_LAYER_III")
    return buf.getvalue()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="bundle (default: the shipped model)")
    ap.add_argument("--speakers", default="actor_17,actor_18,actor_19,actor_20")
    ap.add_argument("--limit", type=int, default=None, help="at most this many clips (in name order)")
    ap.add_argument("--json", dest="json_out", default=None, help="also write the figures here")
    args = ap.parse_args(argv)

    import soundfile as sf
    from tqdm.auto import tqdm

    from ser_framework import SerError, compute_metrics, encode_audio, load_audio, load_bundle

    bundle = load_bundle(args.model) if args.model else load_bundle()
    folders = [CORPUS / f"Actor_{s.split('_')[-1]}" for s in args.speakers.split(",")]
    clips = sorted(p for folder in folders for p in folder.glob("*.flac"))[: args.limit]
    if not clips:
        print(f"no clips found in {', '.join(map(str, folders))}", file=sys.stderr)
        return 1
    emotions = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry", "06": "fearful",
                "07": "disgust", "08": "surprised"}
    truth = [emotions[p.name.split("-")[2]] for p in clips]
    labels = sorted(bundle.labels)
    answers = {name: [] for name in ["flac", *FORMATS]}
    decode_ms = {name: [] for name in answers}
    with tempfile.TemporaryDirectory() as tmp:
        for clip in tqdm(clips, desc="clips", unit="clip"):
            y, sr = sf.read(clip, dtype="float32")
            files = {"flac": clip}
            for name, codec in FORMATS.items():
                data = _mp3(y, sr) if codec is None else encode_audio(y, sr, codec)[0]
                files[name] = Path(tmp) / f"{clip.stem}.{name}"
                files[name].write_bytes(data)
            for name, path in files.items():
                started = time.perf_counter()
                try:
                    z = load_audio(path, sample_rate=bundle.pipeline.sample_rate)
                    decode_ms[name].append(1000 * (time.perf_counter() - started))
                    answers[name].append(bundle.predict_waveform(z).label)
                except SerError as exc:  # refused (e.g. no speech found): counted as a wrong answer
                    print(f"\n{path.name}: {exc}", file=sys.stderr)
                    answers[name].append(None)
    y_true = np.searchsorted(labels, truth)
    rows = {}
    for name, got in answers.items():
        predicted = np.array([labels.index(a) if a is not None else -1 for a in got])
        m = compute_metrics(y_true, predicted, labels)
        rows[name] = {"same_as_flac": int(sum(a == b for a, b in zip(got, answers["flac"]))), "n": len(got),
                      "accuracy": round(m["accuracy"], 3), "uar": round(m["uar"], 3),
                      "decode_ms_median": round(float(np.median(decode_ms[name])), 1)}
    print(f"model: {args.model or 'the shipped default'}; {len(clips)} clips of {args.speakers}")
    print("| file | same answer as the FLAC | accuracy | UAR | decode ms (median) |")
    print("|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['same_as_flac']} of {r['n']} | {r['accuracy']:.3f} | {r['uar']:.3f} | "
              f"{r['decode_ms_median']:.1f} |")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"model": args.model, "clips": len(clips), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
