"""The robustness report: test clips degraded under standard conditions, scored like clean ones.

Each condition is data: a chain of built-in augmenter entries with fixed params
(``p`` = 1), built through the registry like every component. Applied to a clip
it is seeded by (seed, the clip's audio, the condition's name), so a condition
gives the same samples every time. Parameters follow the measured exp10
reference (issue 10). Degradations run on the clip as decoded at the pipeline's
sample rate.
"""
from __future__ import annotations

import numpy as np

from .augmentation import Chain, Variant, extract_variants
from .evaluation import compute_metrics

_QUANTIZE = {"name": "quantize"}  # what saving the degraded clip as 16-bit PCM does


def _fixed(name: str, **params) -> dict:
    return {"name": name, "params": {**params, "p": 1.0}}


#: condition name -> augmenter entries, applied in order
CONDITIONS: dict[str, list[dict]] = {
    "clean": [],
    "resample_16k": [_fixed("resample", rates=[16000], quantize=True)],
    "resample_8k": [_fixed("resample", rates=[8000], quantize=True)],
    "pink_20db": [_fixed("noise", min_snr_db=20.0, max_snr_db=20.0, min_slope_db=-3.01, max_slope_db=-3.01),
                  _QUANTIZE],
    "pink_10db": [_fixed("noise", min_snr_db=10.0, max_snr_db=10.0, min_slope_db=-3.01, max_slope_db=-3.01),
                  _QUANTIZE],
    "gain_-20db": [_fixed("gain", min_gain_db=-20.0, max_gain_db=-20.0), _QUANTIZE],
    "reverb": [_fixed("reverb", min_rt60=0.4, max_rt60=0.4, min_drr_db=3.0, max_drr_db=3.0), _QUANTIZE],
    "ogg": [_fixed("codec", formats=["ogg"])],
    "mp3": [_fixed("codec", formats=["mp3"])],
    # a phone's voice memo (AAC, 64 kbit/s, in M4A), a browser's or messenger's voice note (Opus,
    # 32 kbit/s, in WebM) and a phone call (AMR-NB, 8 kHz): named only, so `all` stays the standard
    # suite the reports were made with
    "aac": [_fixed("codec", formats=["aac"])],
    "opus": [_fixed("codec", formats=["opus"])],
    "amr": [_fixed("codec", formats=["amr"])],
    "trimmed": [_fixed("trim", min_top_db=35.0, max_top_db=35.0)],
    "padded_room_noise": [_fixed("pad", min_seconds=1.0, max_seconds=1.0, min_level_dbfs=-60.0,
                                 max_level_dbfs=-60.0), _QUANTIZE],
    # the browser recorder's channel (Chromium's WebRTC gain and noise suppression): named only, never in
    # `all`, because it needs the optional webrtc-noise-gain package
    "browser": [_fixed("webrtc", min_gain_db=10.0, max_gain_db=10.0, min_target_dbfs=3, max_target_dbfs=3,
                       noise_suppression=[3])],
}
#: conditions scored only when named: `browser` needs an optional package; `aac`, `opus` and `amr` came
#: after the reports made with `all`
NAMED_ONLY = ("aac", "opus", "amr", "browser")
#: the conditions `all` names: the standard suite
IN_ALL = tuple(name for name in CONDITIONS if name not in NAMED_ONLY)
#: metric keys of each condition kept in reports
SUMMARY_KEYS = ("accuracy", "uar", "macro_f1", "n", "uar_ratio", "ece", "ece_raw", "ece_floor", "ece_floor_p95")


def name_problems(spec) -> list[str]:
    """What is wrong with a ``conditions`` value (``None``, ``"all"`` or a list of names)."""
    if spec is None or spec == "all":
        return []
    if isinstance(spec, str) or not isinstance(spec, list):
        return [f"expected null, 'all' or a list of condition names, got {spec!r}"]
    if not spec:
        return ["must name at least one condition, or be null"]
    unknown = [n for n in spec if n not in CONDITIONS]
    if unknown:
        return [f"unknown condition {', '.join(map(repr, unknown))} (available: all, {', '.join(CONDITIONS)})"]
    return []


def resolve_names(spec) -> list[str]:
    """Condition names from ``None`` / ``"all"`` / a list / ``"a,b"`` (command line); always led by ``clean``.

    Raises :class:`~ser_framework.errors.ConfigError` for unknown names.
    """
    from .errors import ConfigError

    if spec is None:
        return []
    if isinstance(spec, str) and spec != "all":
        spec = [s.strip() for s in spec.split(",") if s.strip()]
    problems = name_problems(spec)
    if problems:
        raise ConfigError([("conditions", p) for p in problems])
    names = list(IN_ALL) if spec == "all" else list(dict.fromkeys(spec))
    return ["clean", *[n for n in names if n != "clean"]]


def condition_variants(names, registry, seed: int) -> dict[str, Variant]:
    """A :class:`Variant` per degrading condition in ``names`` (``clean`` needs none)."""
    return {name: Variant(Chain.from_entries(CONDITIONS[name], registry, f"conditions.{name}"), seed,
                          f"condition:{name}")
            for name in names if CONDITIONS[name]}


class ConditionScorer:
    """Scores clips under every condition with a model and keeps the probabilities.

    ``proba[name]`` is an ``n_clips × n_labels`` array (NaN for clips not scored
    yet); :meth:`score` fills the rows of one fold's test clips.
    """

    def __init__(self, names, paths, pipeline, registry, seed: int, n_labels: int, extraction=None,
                 progress: bool = True):
        self.names = list(names)
        self.paths = [str(p) for p in paths]
        self.pipeline, self.extraction, self.progress = pipeline, extraction, progress
        self.registry = registry
        self.variants = condition_variants(self.names, registry, seed)
        self.proba = {name: np.full((len(self.paths), n_labels), np.nan) for name in self.names}
        self.counts = {"decoded": 0, "hits": 0, "misses": 0, "corrupt": 0}

    def score(self, predict, rows, clean=None) -> None:
        """Probabilities of ``rows`` under each condition from ``predict(X)``; ``clean`` if already known."""
        rows = np.asarray(rows)
        if "clean" in self.proba and clean is not None:
            self.proba["clean"][rows] = clean
        if not self.variants or not len(rows):
            return
        matrices, counts = extract_variants([self.paths[i] for i in rows], self.pipeline,
                                            list(self.variants.values()), self.extraction,
                                            progress=self.progress, desc="conditions")
        for k in self.counts:
            self.counts[k] += counts[k]
        for name, X in zip(self.variants, matrices):
            self.proba[name][rows] = predict(X)

    def report(self, y_true, labels, rows=None) -> dict:
        rows = np.arange(len(self.paths)) if rows is None else np.asarray(rows)
        return condition_report(np.asarray(y_true)[rows], {n: p[rows] for n, p in self.proba.items()}, labels)


def condition_report(y_true, probabilities: dict, labels) -> dict:
    """``{"conditions": {name: metrics}, "worst_condition": {...}}`` from each condition's probabilities.

    ``probabilities[name]`` is the (clips × labels) array of that condition,
    rows aligned with ``y_true``. Each condition's metrics are those of
    :func:`~ser_framework.evaluation.compute_metrics` plus ``uar_ratio`` (its
    UAR over the clean UAR), ``ece``, the expected calibration error of the
    probabilities as given (10 bins), and ``ece_floor``/``ece_floor_p95``: the
    mean and 95th percentile of the ECE a perfectly calibrated model with the
    same confidences would show on this many clips (:func:`~ser_framework.calibration.ece_floor`).
    """
    from .calibration import ece_floor, expected_calibration_error

    out = {}
    for name, proba in probabilities.items():
        metrics = compute_metrics(y_true, np.asarray(proba).argmax(axis=1), labels)
        metrics["ece"] = expected_calibration_error(y_true, proba)
        floor = ece_floor(proba)
        metrics["ece_floor"], metrics["ece_floor_p95"] = floor["mean"], floor["p95"]
        out[name] = metrics
    clean = out.get("clean", {}).get("uar")
    for metrics in out.values():
        metrics["uar_ratio"] = float(metrics["uar"] / clean) if clean else None
    degraded = {n: m for n, m in out.items() if n != "clean"}
    worst = None
    if degraded:
        name = min(degraded, key=lambda n: degraded[n]["uar"])
        worst = {"name": name, "uar": degraded[name]["uar"], "uar_ratio": degraded[name]["uar_ratio"]}
    return {"conditions": out, "worst_condition": worst}


def summary(report: dict) -> dict:
    """The report with each condition cut to :data:`SUMMARY_KEYS` (for metrics.json)."""
    return {"conditions": {n: {k: m.get(k) for k in SUMMARY_KEYS} for n, m in report["conditions"].items()},
            "worst_condition": report["worst_condition"]}


def report_text(report: dict) -> str:
    """A table: one line per condition with accuracy, UAR, macro-F1, n, the ratio to clean, ECE and its floor.

    "ECE floor" is the ECE a perfectly calibrated model with the same
    confidences would show on this many clips (mean over simulated samples).
    """
    lines = [f"{'condition':>18} {'accuracy':>9} {'UAR':>9} {'macro F1':>9} {'n':>6} {'UAR/clean':>10} {'ECE':>7}"
             f" {'ECE floor':>10}"]
    for name, m in report["conditions"].items():
        ratio = "" if m.get("uar_ratio") is None else f"{m['uar_ratio']:.3f}"
        ece = "" if m.get("ece") is None else f"{m['ece']:.3f}"
        floor = "" if m.get("ece_floor") is None else f"{m['ece_floor']:.3f}"
        lines.append(f"{name:>18} {m['accuracy']:9.3f} {m['uar']:9.3f} {m['macro_f1']:9.3f} {m['n']:6d} "
                     f"{ratio:>10} {ece:>7} {floor:>10}")
    worst = report.get("worst_condition")
    if worst:
        ratio = "n/a" if worst["uar_ratio"] is None else f"{worst['uar_ratio']:.3f}"
        lines.append(f"worst condition: {worst['name']} (UAR {worst['uar']:.3f}, {ratio} of clean)")
    return "\n".join(lines) + "\n"


def save_conditions_png(report: dict, path, protocol: str = "") -> None:
    """A bar chart of UAR per condition, the clean UAR and 0.85 × clean marked; the protocol in the title."""
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(report["conditions"])
    uars = [report["conditions"][n]["uar"] for n in names]
    width = max(5.5, 0.7 * len(names) + 2)
    fig, ax = plt.subplots(figsize=(width, 4.8), dpi=100)
    colors = ["#4c72b0" if n == "clean" else "#dd8452" for n in names]
    ax.bar(range(len(names)), uars, color=colors)
    for i, u in enumerate(uars):
        ax.text(i, u + 0.01, f"{u:.2f}", ha="center", va="bottom", fontsize=8)
    clean = report["conditions"].get("clean", {}).get("uar")
    if clean:
        ax.axhline(clean, color="#4c72b0", lw=0.8, ls="--", label=f"clean {clean:.3f}")
        ax.axhline(0.85 * clean, color="grey", lw=0.8, ls=":", label="0.85 × clean")
        ax.legend(fontsize=8, loc="lower left")
    ax.set_xticks(range(len(names)), names, rotation=35, ha="right")
    ax.set_ylim(0, 1.12)
    ax.set_ylabel("UAR (balanced accuracy)")
    worst = report.get("worst_condition")
    tail = f"worst: {worst['name']} ({worst['uar_ratio']:.2f} × clean)" if worst and worst["uar_ratio"] else ""
    head = textwrap.fill(protocol, int(width * 11)) + "\n" if protocol else ""
    ax.set_title(f"{head}UAR per condition · {tail}".rstrip(" ·"), fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
