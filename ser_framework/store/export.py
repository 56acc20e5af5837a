"""History exports: CSV (one column per emotion's probability) and JSON."""
from __future__ import annotations

import csv
import io
import json


def history_json(entries) -> str:
    """A JSON list of :meth:`~.userdata.HistoryEntry.as_dict` objects, newest first."""
    return json.dumps([e.as_dict() for e in entries], indent=1, ensure_ascii=False)


def history_csv(entries) -> str:
    """``id,time,emotion,note,model,p_<label>...`` (labels in sorted order), newest first."""
    entries = list(entries)
    labels = sorted({label for e in entries for label in e.probabilities})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["id", "time", "emotion", "note", "model", *(f"p_{lab}" for lab in labels)])
    for e in entries:
        d = e.as_dict()
        writer.writerow([e.id, d["time"], e.emotion, _safe_cell(e.note), e.model,
                         *(f"{e.probabilities[lab]:.4f}" if lab in e.probabilities else "" for lab in labels)])
    return out.getvalue()


def _safe_cell(text: str) -> str:
    """A note that a spreadsheet would run as a formula (=, +, -, @) is prefixed with a quote."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
