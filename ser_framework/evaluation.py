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
    """Accuracy, UAR (balanced accuracy), macro-F1, per-class scores and the confusion matrix.

    Per-class rows, UAR and macro-F1 cover the labels present in ``y_true``;
    when that is a subset of ``labels`` (6-class data, 8-class model) the
    result says so in ``note``. The confusion matrix spans every label.
    """
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    present = [i for i in range(len(labels)) if np.any(y_true == i)]
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=present, zero_division=0)
    out = {
        "accuracy": float(np.mean(y_true == y_pred)) if len(y_true) else 0.0,
        "uar": float(np.mean(r)) if present else 0.0,
        "macro_f1": float(np.mean(f)) if present else 0.0,
        "n": int(len(y_true)),
        "labels": list(labels),
        "labels_scored": [labels[i] for i in present],
        "per_class": {
            labels[i]: {"precision": float(p[k]), "recall": float(r[k]), "f1": float(f[k]), "support": int(s[k])}
            for k, i in enumerate(present)
        },
        "confusion": confusion_matrix(y_true, y_pred, labels=list(range(len(labels)))).tolist(),
    }
    if len(present) < len(labels):
        absent = [lab for i, lab in enumerate(labels) if i not in present]
        out["note"] = (f"UAR, macro-F1 and per-class scores cover the {len(present)} labels present in the "
                       f"data; the model also knows {', '.join(absent)}")
    return out


def paired_uar_difference(y_true, pred_a, pred_b, groups, *, n_resamples: int = 2000, seed: int = 0) -> dict:
    """UAR of predictions ``a`` minus that of ``b`` on the same clips, with a 95 % interval by speaker.

    The interval comes from a paired bootstrap over ``groups`` (speakers): each
    resample draws whole speakers with replacement and scores both sets of
    predictions on the same draw, as the unit of a speaker-independent
    protocol is the speaker, not the clip. Returns ``uar_a``, ``uar_b``,
    ``difference``, ``low``, ``high`` (2.5th and 97.5th percentiles),
    ``share_above_zero`` (of the resamples), ``n``, ``n_groups`` and ``n_resamples``.
    """
    y, a, b, g = (np.asarray(v) for v in (y_true, pred_a, pred_b, groups))
    if not len(y) == len(a) == len(b) == len(g):
        raise ValueError(f"need one true label, two predictions and one speaker per clip; got {len(y)}, {len(a)}, "
                         f"{len(b)} and {len(g)}")
    if not len(y):
        raise ValueError("no clips to compare")
    speaker, cls = np.unique(g, return_inverse=True)[1], np.unique(y, return_inverse=True)[1]
    shape = (speaker.max() + 1, cls.max() + 1)
    counts, hits_a, hits_b = (np.zeros(shape) for _ in range(3))
    np.add.at(counts, (speaker, cls), 1.0)
    np.add.at(hits_a, (speaker, cls), (a == y).astype(float))
    np.add.at(hits_b, (speaker, cls), (b == y).astype(float))

    def uar(weights, hits):  # weights: resamples x speakers (how often each speaker is drawn)
        n = weights @ counts
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.nanmean(np.where(n > 0, (weights @ hits) / n, np.nan), axis=-1)

    rng = np.random.default_rng(seed)
    draws = rng.multinomial(shape[0], np.full(shape[0], 1.0 / shape[0]), size=n_resamples).astype(float)
    diffs = uar(draws, hits_a) - uar(draws, hits_b)
    once = np.ones((1, shape[0]))
    uar_a, uar_b = float(uar(once, hits_a)[0]), float(uar(once, hits_b)[0])
    low, high = np.percentile(diffs, [2.5, 97.5])
    return {"uar_a": uar_a, "uar_b": uar_b, "difference": uar_a - uar_b, "low": float(low), "high": float(high),
            "share_above_zero": float(np.mean(diffs > 0)), "n": int(len(y)), "n_groups": int(shape[0]),
            "n_resamples": int(n_resamples)}


def classification_report_text(metrics: dict) -> str:
    lines = [f"{'':>12} {'precision':>9} {'recall':>9} {'f1':>9} {'support':>8}"]
    for lab, m in metrics["per_class"].items():
        lines.append(f"{lab:>12} {m['precision']:9.3f} {m['recall']:9.3f} {m['f1']:9.3f} {m['support']:8d}")
    lines.append("")
    lines.append(f"{'accuracy':>12} {metrics['accuracy']:9.3f}   n={metrics['n']}")
    lines.append(f"{'UAR':>12} {metrics['uar']:9.3f}   (balanced accuracy)")
    lines.append(f"{'macro F1':>12} {metrics['macro_f1']:9.3f}")
    if metrics.get("note"):
        lines.append(f"note: {metrics['note']}")
    return "\n".join(lines) + "\n"


def confusion_title(metrics: dict, protocol: str = "") -> str:
    """The figure's title: the protocol, n and the scores."""
    import textwrap

    head = textwrap.fill(protocol, 80) + "\n" if protocol else ""
    return f"{head}n={metrics['n']} · accuracy {metrics['accuracy']:.3f} · UAR {metrics['uar']:.3f}"


def save_confusion_png(metrics: dict, path, protocol: str = "") -> None:
    """The confusion matrix as a PNG, titled by :func:`confusion_title`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(metrics["confusion"])
    labels = metrics["labels"]
    fig, ax = plt.subplots(figsize=(7.5, 6.6), dpi=100)
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(confusion_title(metrics, protocol), fontsize=9)
    vmax = cm.max() if cm.size else 0
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center",
                    color="white" if cm[i, j] > vmax / 2 else "black", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
