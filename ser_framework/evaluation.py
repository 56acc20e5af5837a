"""Splits (by speaker unless asked otherwise) and metrics."""
from __future__ import annotations

import numpy as np

from .errors import DataError


def make_splits(labels, speakers, evaluation: dict, seed: int):
    """Yield ``(train_idx, test_idx)`` pairs for the configured protocol.

    ``group_kfold`` and ``holdout_speakers`` never put one speaker on both sides.
    """
    from sklearn.model_selection import GroupKFold, StratifiedKFold, train_test_split

    labels, speakers = np.asarray(labels), np.asarray(speakers)
    idx = np.arange(len(labels))
    protocol = evaluation["protocol"]
    unique_speakers = np.unique(speakers)
    if protocol == "group_kfold":
        n = evaluation["n_splits"]
        if len(unique_speakers) < n:
            raise DataError(f"group_kfold needs at least {n} speakers, the data has {len(unique_speakers)}")
        splitter = GroupKFold(n_splits=n, shuffle=True, random_state=seed)
        return list(splitter.split(idx, labels, speakers))
    if protocol == "holdout_speakers":
        test = evaluation.get("test_speakers")
        if test:
            test = [str(t) for t in test]
            unknown = sorted(set(test) - set(unique_speakers.tolist()))
            if unknown:
                raise DataError(f"test speakers not in the data: {', '.join(unknown)} "
                                f"(speakers: {', '.join(unique_speakers[:10])}...)")
        else:
            if len(unique_speakers) < 2:
                raise DataError("holdout_speakers needs at least two speakers")
            rng = np.random.default_rng(seed)
            n_test = max(1, int(round(evaluation["test_size"] * len(unique_speakers))))
            test = rng.choice(unique_speakers, size=min(n_test, len(unique_speakers) - 1), replace=False)
        mask = np.isin(speakers, np.asarray(test))
        return [(idx[~mask], idx[mask])]
    if protocol == "kfold":
        splitter = StratifiedKFold(n_splits=evaluation["n_splits"], shuffle=True, random_state=seed)
        return list(splitter.split(idx, labels))
    if protocol == "holdout":
        tr, te = train_test_split(idx, test_size=evaluation["test_size"], random_state=seed, stratify=labels)
        return [(np.sort(tr), np.sort(te))]
    raise DataError(f"unknown protocol {protocol}")


def validation_split(speakers, fraction: float, seed: int):
    """Split training rows into fit/validation parts by speaker (or None if impossible)."""
    speakers = np.asarray(speakers)
    unique = np.unique(speakers)
    n_val = int(round(fraction * len(unique)))
    if fraction <= 0 or n_val < 1 or len(unique) - n_val < 1:
        return None
    rng = np.random.default_rng(seed)
    val_speakers = rng.choice(unique, size=n_val, replace=False)
    mask = np.isin(speakers, val_speakers)
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def compute_metrics(y_true, y_pred, labels) -> dict:
    """Accuracy, UAR (balanced accuracy), macro-F1, per-class scores and the confusion matrix."""
    from sklearn.metrics import (
        accuracy_score,
        balanced_accuracy_score,
        confusion_matrix,
        f1_score,
        precision_recall_fscore_support,
    )

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    ids = list(range(len(labels)))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=ids, zero_division=0)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "uar": float(balanced_accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=ids, average="macro", zero_division=0)),
        "n": int(len(y_true)),
        "labels": list(labels),
        "per_class": {
            lab: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i, lab in enumerate(labels)
        },
        "confusion": confusion_matrix(y_true, y_pred, labels=ids).tolist(),
    }


def classification_report_text(metrics: dict) -> str:
    lines = [f"{'':>12} {'precision':>9} {'recall':>9} {'f1':>9} {'support':>8}"]
    for lab, m in metrics["per_class"].items():
        lines.append(f"{lab:>12} {m['precision']:9.3f} {m['recall']:9.3f} {m['f1']:9.3f} {m['support']:8d}")
    lines.append("")
    lines.append(f"{'accuracy':>12} {metrics['accuracy']:9.3f}   n={metrics['n']}")
    lines.append(f"{'UAR':>12} {metrics['uar']:9.3f}   (balanced accuracy)")
    lines.append(f"{'macro F1':>12} {metrics['macro_f1']:9.3f}")
    return "\n".join(lines) + "\n"


def save_confusion_png(metrics: dict, path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(metrics["confusion"])
    labels = metrics["labels"]
    fig, ax = plt.subplots(figsize=(7, 6), dpi=100)
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or f"accuracy {metrics['accuracy']:.3f} · UAR {metrics['uar']:.3f}")
    vmax = cm.max() if cm.size else 0
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center",
                    color="white" if cm[i, j] > vmax / 2 else "black", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
