"""Dataset plugins: ``ravdess`` and ``folder`` (a user's own labelled recordings)."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Literal

from pydantic import field_validator

from ser_framework import AUDIO_SUFFIXES, DataError, Dataset, Field, Params, PathField, hookimpl

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


def _audio_files(folder: Path):
    return (p for p in sorted(folder.rglob("*")) if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())


class Ravdess(Dataset):
    """RAVDESS speech: 7-part names, channel 01 (speech), eight emotions, actor as speaker."""

    name = "ravdess"

    class Params(Params):
        root: str = PathField("../shared/data/ravdess", description="folder holding Actor_NN/ subfolders")
        actors: list[int] | None = Field(None, description="actor numbers to keep (null: all)")
        emotions: list[Literal[tuple(sorted(RAVDESS_EMOTIONS.values()))]] | None = Field(
            None, description="labels to keep (null: all eight)")

        @field_validator("actors")
        @classmethod
        def _actor_numbers(cls, actors):
            bad = [a for a in actors or () if not 1 <= a <= 24]
            if bad:
                raise ValueError(f"RAVDESS actors are numbered 1-24, got {bad}")
            return actors

    def check(self):
        if not Path(self.params.root).expanduser().is_dir():
            return [("root", f"folder not found: {self.params.root}")]
        return []

    def load(self):
        import pandas as pd

        root = Path(self.params.root).expanduser()
        if not root.is_dir():
            raise DataError(f"dataset folder not found: {root}")
        actors = set(self.params.actors) if self.params.actors else None
        emotions = set(self.params.emotions) if self.params.emotions else None
        rows = []
        for path in _audio_files(root):
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
    """Your own recordings: a CSV of path,label[,speaker] (or a folder holding one) or one sub-folder per label."""

    name = "folder"

    class Params(Params):
        root: str = PathField(description="a CSV file (path,label[,speaker]), a folder holding one such CSV, "
                                          "or a folder with one sub-folder per label")
        speaker_from: Literal["column", "file", "prefix"] = Field(
            "column", description="where speakers come from: the CSV's 'speaker' column; 'file' (each file "
                                  "its own speaker, NOT speaker-independent); 'prefix' (file name up to the "
                                  "first '_' or '-')")

    def check(self):
        if not Path(self.params.root).expanduser().exists():
            return [("root", f"not found: {self.params.root}")]
        return []

    def load(self):
        import pandas as pd

        root = Path(self.params.root).expanduser()
        if not root.exists():
            raise DataError(f"dataset not found: {root}")
        csv_file = root if root.is_file() else self._csv_in(root)
        rows = self._from_csv(csv_file) if csv_file else self._from_folders(root)
        if not rows:
            raise DataError(f"no labelled audio found in {root}")
        items = pd.DataFrame(rows)
        items.attrs["speakers_known"] = self.speakers_known
        return items

    @staticmethod
    def _csv_in(folder: Path) -> Path | None:
        found = sorted(folder.glob("*.csv"))
        if len(found) > 1:
            names = ", ".join(p.name for p in found)
            raise DataError(f"{folder} holds several CSV files ({names}); name the one to use")
        return found[0] if found else None

    def _speaker(self, audio: Path, given: str | None) -> str:
        mode = self.params.speaker_from
        if mode == "column" and given:
            return given
        if mode == "prefix":
            return audio.stem.replace("-", "_").split("_", 1)[0]
        self.speakers_known = False  # each file its own speaker
        return str(audio.with_suffix(""))

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
                speaker = self._speaker(audio, (rec.get("speaker") or "").strip() or None)
                rows.append({"path": str(audio), "label": rec["label"].strip(), "speaker": speaker})
        return rows

    def _from_folders(self, root: Path) -> list[dict]:
        rows = []
        for label_dir in sorted(p for p in root.iterdir() if p.is_dir()):
            for audio in _audio_files(label_dir):
                rows.append({"path": str(audio), "label": label_dir.name, "speaker": self._speaker(audio, None)})
        return rows


@hookimpl
def register_datasets(register):
    register(Ravdess)
    register(Folder)
