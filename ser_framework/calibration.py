"""Honest confidence: temperature scaling, the expected calibration error and a reliability figure.

A classifier trained to fit its training rows is usually over-confident on new
speakers (shown at 95 % and wrong). Temperature scaling divides the
log-probabilities by one number ``T > 0`` and renormalises,
``softmax(log p / T)``: ``T > 1`` softens, ``T < 1`` sharpens, and the ranking
(so the predicted label) never changes. ``T`` is fitted by minimising the
negative log-likelihood of predictions on rows the model never trained on;
:func:`ser_framework.experiment.run_training` decides which rows those are for
each protocol and stores ``T`` in the bundle, where ``Bundle.predict*`` applies it.

The expected calibration error (ECE) is the mean gap between confidence and
accuracy: the top probability of every row is put into ``n_bins`` equal-width
bins, and ECE = Σ_b (n_b / N) · |accuracy_b − mean confidence_b|.
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

import numpy as np

#: temperatures searched (the fit is a bounded 1-D search over log T)
T_BOUNDS = (0.05, 20.0)
#: bins of the expected calibration error and the reliability figure
N_BINS = 10
_EPS = 1e-12


def apply_temperature(proba, temperature: float) -> np.ndarray:
    """``softmax(log p / T)`` row by row; ``T == 1`` returns the probabilities unchanged.

    Parameters
    ----------
    proba : array-like, shape (n, k) or (k,)
        Probabilities (rows sum to 1).
    temperature : float
        ``T > 0``.
    """
    proba = np.asarray(proba, dtype=np.float64)
    if temperature == 1.0:
        return proba
    if not (np.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a positive number, got {temperature!r}")
    z = np.log(np.clip(proba, _EPS, 1.0)) / temperature
    z -= z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _nll(log_p: np.ndarray, y: np.ndarray, temperature: float) -> float:
    z = log_p / temperature
    z = z - z.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(z).sum(axis=1))
    return float(np.mean(log_norm - z[np.arange(len(y)), y]))


def fit_temperature(y_true, proba, *, bounds: tuple[float, float] = T_BOUNDS) -> float:
    """The temperature that minimises the negative log-likelihood of ``proba`` for ``y_true``.

    Parameters
    ----------
    y_true : array-like of int, shape (n,)
        True class indices (columns of ``proba``).
    proba : array-like, shape (n, k)
        Probabilities predicted for rows the model did not train on.
    bounds : (float, float)
        Range of temperatures searched.

    Returns
    -------
    float
        ``T`` within ``bounds`` (1.0 when there are no rows).
    """
    from scipy.optimize import minimize_scalar

    y = np.asarray(y_true, dtype=np.int64)
    log_p = np.log(np.clip(np.asarray(proba, dtype=np.float64), _EPS, 1.0))
    if len(y) == 0:
        return 1.0
    lo, hi = np.log(bounds[0]), np.log(bounds[1])
    result = minimize_scalar(lambda s: _nll(log_p, y, float(np.exp(s))), bounds=(lo, hi), method="bounded",
                             options={"xatol": 1e-4})
    return float(np.exp(result.x))


def reliability_bins(y_true, proba, n_bins: int = N_BINS) -> dict:
    """Per equal-width bin of the top probability: row count, mean confidence and accuracy.

    Bin ``b`` holds confidences in ``(b / n_bins, (b + 1) / n_bins]`` (the first
    bin also holds 0). Empty bins have count 0 and NaN confidence/accuracy.
    """
    proba = np.asarray(proba, dtype=np.float64)
    y = np.asarray(y_true)
    conf = proba.max(axis=1) if len(proba) else np.zeros(0)
    correct = (proba.argmax(axis=1) == y) if len(proba) else np.zeros(0, bool)
    which = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)
    counts = np.bincount(which, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        confidence = np.bincount(which, weights=conf, minlength=n_bins) / counts
        accuracy = np.bincount(which, weights=correct.astype(float), minlength=n_bins) / counts
    return {"edges": np.linspace(0.0, 1.0, n_bins + 1), "count": counts,
            "confidence": confidence, "accuracy": accuracy}


def expected_calibration_error(y_true, proba, n_bins: int = N_BINS) -> float:
    """ECE: Σ_b (n_b / N) · |accuracy_b − confidence_b| over equal-width bins of the top probability.

    Parameters
    ----------
    y_true : array-like of int, shape (n,)
        True class indices (columns of ``proba``).
    proba : array-like, shape (n, k)
        Predicted probabilities.
    n_bins : int
        Number of equal-width bins on [0, 1].

    Returns
    -------
    float
        In [0, 1]; 0.0 when there are no rows.
    """
    bins = reliability_bins(y_true, proba, n_bins)
    n = bins["count"].sum()
    if n == 0:
        return 0.0
    used = bins["count"] > 0
    gaps = np.abs(bins["accuracy"][used] - bins["confidence"][used])
    return float(np.sum(bins["count"][used] * gaps) / n)


def ece_floor(proba, n_bins: int = N_BINS, *, reps: int = 1000, seed: int = 0) -> dict:
    """The ECE a perfectly calibrated model with these confidences would show on this many rows.

    ECE is biased upwards on small samples: each bin's accuracy is estimated
    from its own rows, so even a model whose confidence equals its accuracy
    exactly scores above zero (on 240 clips of an 8-class task about 0.06).
    This draws ``reps`` samples in which every row is correct with probability
    equal to its top probability (perfect calibration by construction), keeps
    the rows' confidences and bins, and returns the ECE those samples show:
    ``{"mean", "p5", "p95", "n", "reps"}``. An observed ECE inside
    ``[p5, p95]`` cannot be told apart from perfect calibration at this ``n``.
    """
    conf = np.asarray(proba, dtype=np.float64)
    conf = conf.max(axis=1) if conf.ndim == 2 else conf
    n = len(conf)
    if n == 0:
        return {"mean": 0.0, "p5": 0.0, "p95": 0.0, "n": 0, "reps": reps}
    which = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)
    onehot = np.zeros((n, n_bins))
    onehot[np.arange(n), which] = 1.0
    conf_sum = conf @ onehot
    correct = np.random.default_rng(seed).random((reps, n)) < conf  # perfectly calibrated draws
    gaps = np.abs(correct.astype(np.float64) @ onehot - conf_sum)  # per bin: n_b * |accuracy_b - confidence_b|
    eces = gaps.sum(axis=1) / n
    return {"mean": float(eces.mean()), "p5": float(np.percentile(eces, 5)),
            "p95": float(np.percentile(eces, 95)), "n": int(n), "reps": int(reps)}


def save_reliability_png(y_true, proba, path, *, raw_proba=None, protocol: str = "",
                         temperature: float | None = None, n_bins: int = N_BINS) -> None:
    """A reliability diagram: accuracy against confidence per bin, with the bin counts below.

    ``proba`` is drawn as the calibrated curve; ``raw_proba`` (optional) as the
    uncalibrated one. The title names the protocol, the ECE of each and ``T``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, axc) = plt.subplots(2, 1, figsize=(6.4, 6.8), dpi=100, sharex=True,
                                  gridspec_kw={"height_ratios": [3, 1]})
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfectly calibrated")
    width = 1.0 / n_bins
    parts = []
    series = [("uncalibrated", raw_proba, "tab:red")] if raw_proba is not None else []
    series.append(("calibrated" if raw_proba is not None else "model", proba, "tab:blue"))
    for i, (name, p, color) in enumerate(series):
        bins = reliability_bins(y_true, p, n_bins)
        used = bins["count"] > 0
        ece = expected_calibration_error(y_true, p, n_bins)
        parts.append(f"ECE {name} {ece:.3f}")
        ax.plot(bins["confidence"][used], bins["accuracy"][used], marker="o", color=color,
                label=f"{name} (ECE {ece:.3f})")
        offset = (i - (len(series) - 1) / 2) * width / max(len(series), 1)
        axc.bar(bins["edges"][:-1] + width / 2 + offset, bins["count"], width=width / max(len(series), 1),
                color=color, alpha=0.7)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.legend(loc="upper left", fontsize=8)
    axc.set_xlabel(f"confidence (top probability, {n_bins} bins)")
    axc.set_ylabel("clips")
    head = textwrap.fill(protocol, 80) + "\n" if protocol else ""
    t = f" · T = {temperature:.2f}" if temperature is not None else ""
    ax.set_title(f"{head}n={len(np.asarray(y_true))} · " + " · ".join(parts) + t, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


@dataclass
class Calibration:
    """A fitted temperature, what it was fitted on, and the ECE before and after on held-out rows."""

    temperature: float
    fitted_on: str
    ece_raw: float
    ece: float
    n: int
    y: np.ndarray = field(repr=False)  #: the rows the ECE is measured on: true labels,
    raw: np.ndarray = field(repr=False)  #: their uncalibrated probabilities,
    calibrated: np.ndarray = field(repr=False)  #: and their calibrated ones
    note: str | None = None
    #: the temperature each fold's rows are calibrated with (never fitted on that fold's rows)
    fold_temperatures: dict = field(default_factory=dict, repr=False)

    def apply(self, proba, folds) -> np.ndarray:
        """Calibrate rows tested in ``folds`` the way the ECE "after" is measured (cross-fitted)."""
        proba, folds = np.asarray(proba, dtype=np.float64), np.asarray(folds)
        out = np.empty_like(proba)
        for k in np.unique(folds):
            own = folds == k
            out[own] = apply_temperature(proba[own], self.fold_temperatures.get(int(k), self.temperature))
        return out

    def summary(self) -> dict:
        """For ``metrics.json`` and the manifest."""
        floor = ece_floor(self.calibrated)
        out = {"temperature": round(self.temperature, 4), "ece_raw": self.ece_raw, "ece": self.ece,
               "ece_floor": floor["mean"], "ece_floor_p95": floor["p95"],
               "n": self.n, "n_bins": N_BINS, "fitted_on": self.fitted_on}
        return {**out, "note": self.note} if self.note else out

    def report_text(self) -> str:
        """A few lines for ``classification_report.txt``."""
        lines = [f"calibration: temperature {self.temperature:.3f}, fitted on {self.fitted_on}",
                 f"{'ECE':>12} {self.ece_raw:9.3f}   before calibration ({N_BINS} bins, n={self.n})",
                 f"{'ECE':>12} {self.ece:9.3f}   after calibration",
                 f"{'ECE floor':>12} {ece_floor(self.calibrated)['mean']:9.3f}   what a perfectly calibrated model "
                 f"with these confidences would show on {self.n} clips"]
        if self.note:
            lines.append(f"note: {self.note}")
        return "\n".join(lines) + "\n"


def calibrate_out_of_fold(y, proba, fold_of, speakers, evaluation: dict, seed: int, fit_predict) -> Calibration:
    """Fit the temperature on predictions for rows the model did not train on; never judge it on its own rows.

    * Several folds (``group_kfold``, ``kfold``): ``T`` is fitted on the pooled
      out-of-fold probabilities of every tested row; the ECE "after" is
      cross-fitted: each fold's rows are calibrated with a ``T`` fitted on the
      other folds' out-of-fold probabilities.
    * One split (``holdout_speakers``, ``holdout``): the out-of-fold rows are
      the test rows, so ``T`` is fitted on an inner k-fold over the training part
      only (grouped by speaker for ``holdout_speakers``, ``k = n_splits``, at
      most the number of training speakers), with models fitted by
      ``fit_predict``; the test rows are then calibrated with it. With fewer than
      two training speakers (or classes too small to split) ``T`` stays 1 and
      ``note`` says why.

    Parameters
    ----------
    y : np.ndarray of int
        True class of every row.
    proba : np.ndarray, shape (n, k)
        Out-of-fold probabilities (NaN for rows no split tested).
    fold_of : np.ndarray of int
        The fold that tested each row, -1 for none (training rows), -2 for
        enrolment clips of test speakers (neither scored nor trained on).
    speakers : np.ndarray of str
    evaluation : dict
        The config's ``evaluation`` section.
    seed : int
    fit_predict : callable
        ``fit_predict(train_idx, test_idx, seed)`` fits a model on rows
        ``train_idx`` exactly as the evaluation does and returns its
        probabilities for rows ``test_idx``.
    """
    from .evaluation import make_splits

    y, fold_of, speakers = np.asarray(y), np.asarray(fold_of), np.asarray(speakers)
    tested = fold_of >= 0
    yt, pt, ft = y[tested], np.asarray(proba, dtype=np.float64)[tested], fold_of[tested]
    ece_raw = expected_calibration_error(yt, pt)
    folds = np.unique(ft)
    note = None
    if len(folds) > 1:
        temperature = fit_temperature(yt, pt)
        calibrated = np.empty_like(pt)
        fold_temperatures = {}
        for k in folds:
            own = ft == k
            fold_temperatures[int(k)] = fit_temperature(yt[~own], pt[~own])
            calibrated[own] = apply_temperature(pt[own], fold_temperatures[int(k)])
        fitted_on = (f"the pooled out-of-fold predictions of all {len(yt)} tested clips (each predicted by a "
                     f"model that never trained on it); ECE after calibration is cross-fitted: each fold's "
                     f"clips calibrated with a temperature fitted on the other folds")
    else:
        train = np.flatnonzero(fold_of == -1)  # -2: enrolment clips of test speakers, never trained on
        by_speaker = evaluation["protocol"] in ("group_kfold", "holdout_speakers")
        if by_speaker:
            n = min(evaluation["n_splits"], len(np.unique(speakers[train])))
            inner = {"protocol": "group_kfold", "n_splits": n}
        else:
            counts = np.bincount(y[train]) if len(train) else np.zeros(1, int)
            n = int(min(evaluation["n_splits"], counts[counts > 0].min() if counts.any() else 0))
            inner = {"protocol": "kfold", "n_splits": n}
        temperature = 1.0
        fitted_on = "nothing (temperature 1: uncalibrated)"
        if n < 2:
            note = ("not calibrated: the training part has fewer than two speakers to split"
                    if by_speaker else "not calibrated: the training part is too small to split")
        else:
            inner_proba = np.full((len(train), pt.shape[1]), np.nan)
            for k, (a, b) in enumerate(make_splits(y[train], speakers[train], inner, seed)):
                if len(np.unique(y[train][a])) >= 2:
                    inner_proba[b] = fit_predict(train[a], train[b], seed + 7919 + k)
            done = ~np.isnan(inner_proba).any(axis=1)
            if done.any():
                temperature = fit_temperature(y[train][done], inner_proba[done])
                grouped = "speaker-grouped " if by_speaker else ""
                fitted_on = (f"the out-of-fold predictions of an inner {grouped}{n}-fold split of the "
                             f"{len(train)} training clips; the {len(yt)} test clips never take part in it")
            else:
                note = "not calibrated: no inner split had two classes to train on"
        calibrated = apply_temperature(pt, temperature)
        fold_temperatures = {int(k): temperature for k in folds}
    return Calibration(temperature, fitted_on, ece_raw, expected_calibration_error(yt, calibrated), int(len(yt)),
                       yt, pt, calibrated, note, fold_temperatures)


__all__ = ["Calibration", "calibrate_out_of_fold", "apply_temperature", "fit_temperature", "expected_calibration_error",
           "ece_floor", "reliability_bins",
           "save_reliability_png", "T_BOUNDS", "N_BINS"]
