"""Dataset plugins: ``ravdess`` and ``folder`` (a user's own labelled recordings)."""
from __future__ import annotations

import csv
from pathlib import Path

from ser_framework import Param, hookimpl
from ser_framework.components import Dataset
from ser_framework.errors import DataError

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")

RAVDESS_EMOTIONS = {
    "01": "neutral", "02": "calm", "03": "happy", "04": "sad",
    "05": "angry", "06": "fearful", "07": "disgust", "08": "surprised",
}


def parse_ravdess_name(name: str) -> dict | None:
    """Parse ``MM-CC-EE-II-SS-RR-AA.ext``; ``None`` if the name does not follow it."""
    parts = Path(name).stem.split("-")
    if len(parts) != 7 or not all(p.isdigit() and len(p) == 2 for p in parts):
        return None
    modality, channel, emotion, intensity, statement, repetition, actor = parts
    if emotion not in RAVDESS_EMOTIONS:
        return None
    return {
        "modality": modality, "channel": channel, "emotion_code": emotion,
        "label": RAVDESS_EMOTIONS[emotion], "intensity": "normal" if intensity == "01" else "strong",
        "statement": statement, "repetition": repetition, "actor": int(actor),
        "speaker": f"actor_{actor}",
    }


def _check_root(root) -> Path:
    path = Path(root).expanduser()
    if not path.is_dir():
        raise DataError(f"dataset folder not found: {path} (relative paths start at the current directory)")
    return path


class Ravdess(Dataset):
    """RAVDESS speech: 7-part names, channel 01 (speech), eight emotions, actor as speaker."""

    name = "ravdess"
    params = {
        "root": Param(str, "../shared/data/ravdess", "folder holding Actor_NN/ subfolders"),
        "actors": Param(list, None, "actor numbers to keep (null: all)", nullable=True, item=int, min=1, max=24),
        "emotions": Param(list, None, "labels to keep (null: all eight)", nullable=True, item=str,
                          choices=tuple(sorted(RAVDESS_EMOTIONS.values()))),
    }

    def load(self):
        import pandas as pd

        root = _check_root(self.config["root"])
        actors = set(self.config["actors"]) if self.config["actors"] else None
        emotions = set(self.config["emotions"]) if self.config["emotions"] else None
        rows = []
        for path in sorted(root.rglob("*")):
            if path.suffix.lower() not in (".wav", ".flac"):
                continue
            meta = parse_ravdess_name(path.name)
            if meta is None or meta["channel"] != "01":
                continue
            if actors is not None and meta["actor"] not in actors:
                continue
            if emotions is not None and meta["label"] not in emotions:
                continue
            rows.append({"path": str(path), **meta})
        if not rows:
            raise DataError(f"no RAVDESS speech clips found under {root} for the selected actors/emotions")
        return pd.DataFrame(rows)


class Folder(Dataset):
    """Your own recordings: a CSV of path,label[,speaker] or one sub-folder per label."""

    name = "folder"
    params = {
        "root": Param(str, help="a CSV file (path,label[,speaker]) or a folder with one sub-folder per label"),
        "speaker_from": Param(str, "column", "where speakers come from in folder mode: 'file' "
                              "(each file its own speaker) or 'prefix' (file name up to the first '_' or '-')",
                              choices=("column", "file", "prefix")),
    }

    def load(self):
        import pandas as pd

        root = Path(self.config["root"]).expanduser()
        if root.is_file():
            rows = self._from_csv(root)
        else:
            rows = self._from_folders(_check_root(root))
        if not rows:
            raise DataError(f"no labelled audio found in {root}")
        return pd.DataFrame(rows)

    def _from_csv(self, path: Path) -> list[dict]:
        rows = []
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or not {"path", "label"} <= set(reader.fieldnames):
                raise DataError(f"{path}: the CSV needs a header with at least 'path' and 'label'")
            for i, rec in enumerate(reader, start=2):
                if not rec.get("path") or not rec.get("label"):
                    raise DataError(f"{path}, line {i}: empty path or label")
                audio = Path(rec["path"])
                if not audio.is_absolute():
                    audio = path.parent / audio
                speaker = rec.get("speaker") or audio.stem
                rows.append({"path": str(audio), "label": rec["label"].strip(), "speaker": str(speaker)})
        return rows

    def _from_folders(self, root: Path) -> list[dict]:
        rows = []
        for label_dir in sorted(p for p in root.iterdir() if p.is_dir()):
            for audio in sorted(label_dir.rglob("*")):
                if audio.suffix.lower() not in AUDIO_SUFFIXES:
                    continue
                if self.config["speaker_from"] == "prefix":
                    stem = audio.stem.replace("-", "_")
                    speaker = stem.split("_", 1)[0]
                else:
                    speaker = audio.stem
                rows.append({"path": str(audio), "label": label_dir.name, "speaker": speaker})
        return rows


@hookimpl
def register_datasets(register):
    register(Ravdess)
    register(Folder)
