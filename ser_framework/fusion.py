"""Late fusion: one bundle that averages the calibrated probabilities of several trained bundles.

:func:`fuse_bundles` copies the member bundles into ``members/NN/`` of a new
bundle folder and writes a manifest with ``"kind": "fusion"``, the weights, the
mean (``geometric``: a weighted mean of log-probabilities, renormalised;
``arithmetic``: a weighted mean of probabilities) and each member's provenance
(where it came from, the SHA-256 of its manifest, its training data, evaluation
and calibration). :func:`ser_framework.bundle.load_bundle` loads such a folder
like any bundle: its feature pipeline is the union of the members' extractors
(each computed once per clip), and each member's columns go to that member,
whose own temperature calibrates its probabilities before they are averaged.

A fused bundle may also hold a **profile member** (``profile_member``): a
bundle trained with ``speaker_normalisation`` that takes the place of one
member (``replaces``) whenever a clip comes with its speaker's profile. Without
a profile the fusion is exactly the one of the other members; with one, the
profile member (given the profile) is fused with the remaining members, at the
replaced member's weight or at a weight of its own (``profile_weight``). The
fused bundle's profiles are made in the profile member's feature space. Each
member entry of the manifest says when it is used (``use``: ``always``,
``without_profile`` or ``with_profile``).

Averaging calibrated members does not give a calibrated average. Given the members'
cross-validated runs (``calibrate_on``), :func:`fuse_bundles` fits the fused
bundle's own temperature on the fused out-of-fold predictions
(:func:`calibrate_fusion`) and stores it like any bundle's calibration. A
bundle with a profile member may also get a temperature for its answers with
a profile (``profile_temperature``, stored as ``profile_calibration``): the
fusion with a profile is another model, and its temperature is measured on
the members' cross-validated runs (``bench/fusion_cv.py --shared-clips``),
whose models are not the shipped members, so it is given as a number.
"""
from __future__ import annotations

import datetime as _dt
import json
import shutil
from pathlib import Path

import numpy as np

from .errors import BundleError

MEANS = ("geometric", "arithmetic")
MEMBERS_DIR = "members"
#: when a member is used: on every clip, only without a speaker profile, only with one
USES = ("always", "without_profile", "with_profile")


def fuse_probabilities(probas, weights, mean: str = "geometric") -> np.ndarray:
    """Weighted mean of several (rows × labels) probability arrays, rows summing to 1.

    ``geometric`` multiplies the members' probabilities (a product of experts:
    a label any member rules out stays unlikely); ``arithmetic`` averages them.
    """
    if mean not in MEANS:
        raise ValueError(f"mean must be one of {', '.join(MEANS)}, got {mean!r}")
    w = np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    stack = np.stack([np.asarray(p, dtype=np.float64) for p in probas])
    if mean == "arithmetic":
        out = np.tensordot(w, stack, axes=1)
    else:
        logs = np.tensordot(w, np.log(np.clip(stack, 1e-12, 1.0)), axes=1)
        out = np.exp(logs - logs.max(axis=-1, keepdims=True))
    return out / out.sum(axis=-1, keepdims=True)


def _feature_key(entry: dict) -> str:
    return json.dumps({"name": entry["name"], "params": entry.get("params")}, sort_keys=True)


def _union_features(manifests: list[dict]) -> list[dict]:
    """Every member's extractors once, in order of first appearance."""
    seen, union = set(), []
    for manifest in manifests:
        for entry in manifest["features"]:
            if _feature_key(entry) not in seen:
                seen.add(_feature_key(entry))
                union.append({"name": entry["name"], "params": entry.get("params")})
    return union


def _run_out_of_fold(run_dir: Path) -> dict:
    """A cross-validated run's tested clips (sorted by path), raw out-of-fold probabilities and protocol."""
    import pandas as pd
    import yaml

    files = [run_dir / "predictions.csv", run_dir / "config.yaml"]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise BundleError(f"{run_dir}: not a run directory of ser train or ser sweep (no {', '.join(missing)})")
    preds = pd.read_csv(files[0])
    preds = preds[preds["fold"] >= 0].sort_values("path").reset_index(drop=True)
    if preds["fold"].nunique() < 2:
        raise BundleError(f"{run_dir}: one split only; a fused temperature is fitted on the out-of-fold "
                          f"predictions of a cross-validated run (evaluation.protocol group_kfold or kfold)")
    labels = [c[2:] for c in preds.columns if c.startswith("p_")]
    config = yaml.safe_load(files[1].read_text())
    return {"path": preds["path"], "fold": preds["fold"].to_numpy(), "speaker": preds["speaker"].astype(str).to_numpy(),
            "labels": labels, "y": preds["label"].map(labels.index).to_numpy(),
            "proba": preds[[f"p_{lab}" for lab in labels]].to_numpy(dtype=np.float64),
            "evaluation": config["evaluation"], "seed": config["seed"]}


def _only_clips(member: dict, paths: set) -> dict:
    """``member`` (from :func:`_run_out_of_fold`) restricted to the clips in ``paths``, still sorted by path."""
    keep = member["path"].isin(paths).to_numpy()
    out = {k: (v[keep] if isinstance(v, np.ndarray) else v) for k, v in member.items()}
    out["path"] = member["path"][keep].reset_index(drop=True)
    return out


def _aligned_members(runs, shared_clips: bool) -> list[dict]:
    """Each run's out-of-fold dict (:func:`_run_out_of_fold`), checked to share clips, labels and folds."""
    members = [_run_out_of_fold(r) for r in runs]
    if shared_clips:
        shared = set.intersection(*(set(m["path"]) for m in members))
        if not shared:
            raise BundleError(f"{', '.join(map(str, runs))}: no clip tested by every run")
        members = [_only_clips(m, shared) for m in members]
    base = members[0]
    for run, m in zip(runs[1:], members[1:]):
        if m["labels"] != base["labels"] or not m["path"].equals(base["path"]) or \
                not np.array_equal(m["fold"], base["fold"]):
            raise BundleError(f"{run}: not the same clips, labels and folds as {runs[0]}")
    return members


def _calibrations(members: list[dict]) -> list:
    """Each member's cross-fitted :class:`~ser_framework.calibration.Calibration`, as its run's report has it."""
    from .calibration import calibrate_out_of_fold

    return [calibrate_out_of_fold(m["y"], m["proba"], m["fold"], m["speaker"], m["evaluation"], m["seed"],
                                  fit_predict=None) for m in members]


def fused_out_of_fold(runs, weights=None, mean: str = "geometric", shared_clips: bool = False):
    """The runs' out-of-fold predictions fused as a fused bundle fuses its members.

    Each run's probabilities are calibrated cross-fitted (each fold's clips with
    a temperature fitted on the other folds, as the run's report does), then
    fused with ``weights`` and ``mean``. The runs must share clips, labels and
    folds (one config apart from the model, e.g. combinations of one sweep).
    With ``shared_clips`` only the clips every run tested are kept (each member
    calibrated on those): a run with ``speaker_normalisation`` does not score its
    test speakers' enrolment clips, so it tests fewer clips than a run without.

    Returns ``(first run's out-of-fold dict, [each member's calibrated probabilities], fused probabilities)``.
    """
    runs = [Path(r) for r in runs]
    members = _aligned_members(runs, shared_clips)
    calibrated = [cal.calibrated for cal in _calibrations(members)]
    weights = [1.0] * len(runs) if weights is None else weights
    return members[0], calibrated, fuse_probabilities(calibrated, weights, mean)


CONDITION_PREDICTIONS = "condition_predictions.csv"


def fused_conditions(runs, weights=None, mean: str = "geometric", shared_clips: bool = False,
                     own_temperature: bool = False) -> dict:
    """The runs' out-of-fold predictions under each robustness condition, fused as :func:`fused_out_of_fold` does.

    A run trained with ``evaluation.conditions`` keeps each condition's
    probabilities in ``condition_predictions.csv``. Each member's rows are
    calibrated with the temperatures its clean out-of-fold predictions gave
    (cross-fitted: each fold's clips with the temperature of the other folds,
    as the run's conditions report does), then fused. Only the conditions every
    run scored are returned, ``clean`` first. With ``own_temperature`` the fused
    probabilities of each fold then get the fused temperature
    :func:`calibrate_fusion` fitted without that fold (``ser fuse --calibrate-on``).

    Returns ``(first run's out-of-fold dict, {condition: fused probabilities})``.
    """
    import pandas as pd

    runs = [Path(r) for r in runs]
    members = _aligned_members(runs, shared_clips)
    calibrations = _calibrations(members)
    per_run = []
    for run, m in zip(runs, members):
        file = run / CONDITION_PREDICTIONS
        if not file.is_file():
            raise BundleError(f"{run}: no {CONDITION_PREDICTIONS} (train it with evaluation.conditions to score "
                              f"the robustness conditions)")
        table = pd.read_csv(file)
        table = table[table["fold"] >= 0]
        columns = [f"p_{lab}" for lab in m["labels"]]
        per_run.append({name: part.set_index("path").loc[m["path"], columns].to_numpy(dtype=np.float64)
                        for name, part in table.groupby("condition", sort=False)})
    names = [n for n in per_run[0] if all(n in p for p in per_run[1:])]
    weights = [1.0] * len(runs) if weights is None else weights
    fused = {"clean": fuse_probabilities([c.calibrated for c in calibrations], weights, mean)}
    for name in names:
        fused[name] = fuse_probabilities([cal.apply(p[name], m["fold"]) for cal, p, m in
                                          zip(calibrations, per_run, members)], weights, mean)
    if own_temperature:
        own = _fused_calibration(members, calibrations, weights, mean)
        fused = {name: own.apply(p, members[0]["fold"]) for name, p in fused.items()}
    return members[0], fused


def calibrate_fusion(runs, weights=None, mean: str = "geometric", shared_clips: bool = False):
    """The fused model's own :class:`~ser_framework.calibration.Calibration`, fitted on the runs' out-of-fold predictions.

    The temperature is fitted on the fusion of every tested clip's raw
    out-of-fold probabilities, each member calibrated with its own temperature
    (the one its bundle applies). The ECE "after" is nested cross-fitted, as a
    new speaker would meet the fused bundle: for each fold, every member's
    temperature and then the fused temperature are fitted on the other folds
    only, and the fold's clips are fused and calibrated with them. (Fitting the
    fused temperature on members that were each calibrated cross-fitted would
    let every fold's clips into the members' temperatures of the folds the fused
    one is fitted on; a second temperature fitted that way made even a member
    fused with itself, whose right fused temperature is 1, worse.)
    """
    members = _aligned_members([Path(r) for r in runs], shared_clips)
    weights = [1.0] * len(members) if weights is None else weights
    return _fused_calibration(members, _calibrations(members), weights, mean)


def _fused_calibration(members: list[dict], calibrations: list, weights, mean: str):
    """:func:`calibrate_fusion` on members already read (:func:`_aligned_members`) and calibrated (:func:`_calibrations`)."""
    from .calibration import Calibration, apply_temperature, expected_calibration_error, fit_temperature

    y, fold = members[0]["y"], members[0]["fold"]

    def fused(temperatures, rows):
        return fuse_probabilities([apply_temperature(m["proba"][rows], t) for m, t in zip(members, temperatures)],
                                  weights, mean)

    everything = np.ones(len(y), dtype=bool)
    temperature = fit_temperature(y, fused([c.temperature for c in calibrations], everything))
    plain, calibrated = np.empty_like(members[0]["proba"]), np.empty_like(members[0]["proba"])
    fold_temperatures = {}
    for k in np.unique(fold):
        own = fold == k
        members_t = [c.fold_temperatures[int(k)] for c in calibrations]  # each fitted without fold k
        fold_temperatures[int(k)] = fit_temperature(y[~own], fused(members_t, ~own))
        plain[own] = fused(members_t, own)
        calibrated[own] = apply_temperature(plain[own], fold_temperatures[int(k)])
    fitted_on = (f"the fused out-of-fold predictions of all {len(y)} clips the members' runs tested (each member "
                 f"calibrated with its own temperature); ECE after calibration is nested cross-fitted: each fold's "
                 f"clips fused and calibrated with member and fused temperatures fitted on the other folds")
    return Calibration(temperature, fitted_on, expected_calibration_error(y, plain),
                       expected_calibration_error(y, calibrated), int(len(y)), y, plain, calibrated, None,
                       fold_temperatures)


def _check_runs(members: list[Path], runs: list[Path]) -> None:
    """Each run in ``runs`` must be the cross-validated run whose model is the member at the same place."""
    from .bundle import MANIFEST
    from .provenance import sha256_file

    if len(runs) != len(members):
        raise BundleError(f"{len(runs)} runs to calibrate on for {len(members)} member bundles; "
                          f"give each member's run, in the same order")
    for member, run in zip(members, runs):
        model = Path(run) / "model" / MANIFEST
        if not model.is_file() or sha256_file(model) != sha256_file(member / MANIFEST):
            raise BundleError(f"{run}: its model is not the member bundle {member} (the run's out-of-fold "
                              f"predictions must come from that member's training run)")


def fuse_bundles(members, out, *, weights=None, mean: str = "geometric", overwrite: bool = False,
                 calibrate_on=None, profile_member=None, replaces: int = 0, profile_weight=None,
                 profile_temperature=None, temperature=None) -> Path:
    """Write a fused bundle at ``out`` from the bundle folders ``members`` (checked: loadable, same labels
    and audio settings). ``weights`` default to equal; they are normalised to sum 1.

    ``calibrate_on``: each member's cross-validated run directory (``ser train``
    or ``ser sweep``; the run whose ``model`` is that member), in the members'
    order. The fused bundle then gets a temperature of its own, fitted on the
    fused out-of-fold predictions (:func:`calibrate_fusion`); without it the
    members' calibrated probabilities are fused as they are. ``temperature``:
    the fused bundle's temperature given as a number instead (chosen on the
    members' cross-validated runs, e.g. ``bench/fusion_cv.py --conditions
    --own-temperature``, when the members are refits whose runs hold no
    out-of-fold predictions); with a profile member it applies to the answers
    without a profile only, unless ``profile_temperature`` is given.

    ``profile_member``: a bundle folder trained with ``speaker_normalisation``
    that takes the place of ``members[replaces]`` when a speaker profile is
    given (see the module's docstring), at ``profile_weight`` (on the scale of
    ``weights``; default: the replaced member's weight). ``profile_temperature``:
    the temperature applied to the fused probabilities when a profile is given
    (default: none, 1.0); without a profile nothing changes.
    """
    from .atomic import atomic_dir
    from .bundle import FORMAT_VERSION, MANIFEST, load_bundle
    from .provenance import library_versions, sha256_file

    members = [Path(m) for m in members]
    if len(members) < 2:
        raise BundleError("fusion needs at least two member bundles")
    weights = [1.0] * len(members) if weights is None else [float(w) for w in weights]
    if len(weights) != len(members):
        raise BundleError(f"{len(weights)} weights for {len(members)} member bundles; give one weight per member")
    if any(not np.isfinite(w) or w <= 0 for w in weights):
        raise BundleError("every fusion weight must be a positive number")
    if mean not in MEANS:
        raise BundleError(f"unknown mean '{mean}' (available: {', '.join(MEANS)})")
    uses = ["always"] * len(members)
    if temperature is not None:
        if calibrate_on:
            raise BundleError("give the fused temperature either as a number or as the runs to fit it on, not both")
        temperature = float(temperature)
        if not np.isfinite(temperature) or temperature <= 0:
            raise BundleError("the fused temperature must be a positive number")
    if profile_temperature is not None:
        if profile_member is None:
            raise BundleError("a profile temperature needs a profile member (--profile-member)")
        profile_temperature = float(profile_temperature)
        if not np.isfinite(profile_temperature) or profile_temperature <= 0:
            raise BundleError("the profile temperature must be a positive number")
    if profile_member is not None:
        if not 0 <= replaces < len(members):
            raise BundleError(f"the profile member replaces member {replaces + 1}, but there are {len(members)}")
        if calibrate_on:
            raise BundleError("a fused temperature (calibrate_on) would be fitted without profiles; it cannot be "
                              "combined with a profile member")
        profile_weight = weights[replaces] if profile_weight is None else float(profile_weight)
        if not np.isfinite(profile_weight) or profile_weight <= 0:
            raise BundleError("the profile member's weight must be a positive number")
        uses[replaces] = "without_profile"
        members = [*members, Path(profile_member)]
        weights = [*weights, profile_weight]
        uses.append("with_profile")
    bundles = [load_bundle(m) for m in members]  # verifies every member's files
    if profile_member is not None and bundles[-1].model.normaliser is None:
        raise BundleError(f"{profile_member}: a profile member must be trained with speaker_normalisation")
    first = bundles[0]
    for member, bundle in zip(members[1:], bundles[1:]):
        if bundle.labels != first.labels:
            raise BundleError(f"the members' labels differ: {members[0]} has {', '.join(first.labels)}; "
                              f"{member} has {', '.join(bundle.labels)}")
        if bundle.manifest["audio"] != first.manifest["audio"]:
            raise BundleError(f"the members' audio settings differ: {members[0]} {first.manifest['audio']}, "
                              f"{member} {bundle.manifest['audio']}")
    calibration = None
    if calibrate_on:
        runs = [Path(r) for r in calibrate_on]
        _check_runs(members, runs)
        cal = calibrate_fusion(runs, weights, mean)
        calibration = {**cal.summary(), "runs": [str(r.resolve()) for r in runs]}
    elif temperature is not None:
        calibration = {"temperature": temperature, "fitted_on": "given to ser fuse --temperature; applied to the "
                       "fused probabilities" + (" when no speaker profile is given" if profile_member else "")}
        if profile_member is not None and profile_temperature is None:
            profile_temperature = 1.0  # the answers with a profile stay as they were
    total = sum(w for w, use in zip(weights, uses) if use != "with_profile")
    with atomic_dir(Path(out), overwrite=overwrite) as tmp:
        entries, files = [], {}
        for i, (member, bundle) in enumerate(zip(members, bundles)):
            rel = f"{MEMBERS_DIR}/{i:02d}"
            shutil.copytree(member, tmp / rel)
            files[f"{rel}/{MANIFEST}"] = sha256_file(tmp / rel / MANIFEST)
            m = bundle.manifest
            entries.append({
                "dir": rel, "source": str(member.resolve()), "weight": weights[i] / total, "use": uses[i],
                "manifest_sha256": files[f"{rel}/{MANIFEST}"], "created": m.get("created"),
                "features": [f["name"] for f in m["features"]], "selectors": [s["name"] for s in m["selectors"]],
                "classifier": m["classifier"],
                **{k: m[k] for k in ("training", "evaluation", "calibration") if k in m},
            })
        manifest = {
            "format_version": FORMAT_VERSION,
            "kind": "fusion",
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "labels": first.labels,
            "audio": first.manifest["audio"],
            "features": _union_features([b.manifest for b in bundles]),
            "selectors": [],
            "classifier": {"name": "fusion", "params": {"mean": mean, "weights": [e["weight"] for e in entries]}},
            "members": entries,
            **({"calibration": calibration} if calibration else {}),
            **({"profile_calibration": {
                "temperature": profile_temperature,
                "fitted_on": "given to ser fuse --profile-temperature; applied to the fused probabilities when a "
                             "speaker profile is given" if profile_temperature != 1.0 or temperature is None else
                             "none (1.0): the fused temperature (ser fuse --temperature) applies without a profile "
                             "only"}} if profile_temperature is not None else {}),
            "versions": library_versions(("ser-framework", "numpy"), python=True),
            "files": files,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return Path(out)


class FusedModel:
    """The members' models behind one union feature pipeline (what :class:`~ser_framework.bundle.Bundle` calls).

    ``uses``: per member, when it is used (:data:`USES`); at most one member is
    used ``with_profile``, and it is the one a speaker profile adapts.
    """

    def __init__(self, labels, pipeline, members, columns, weights, mean, uses=None):
        self.labels = list(labels)
        self.pipeline = pipeline
        self.selectors: list = []
        self.members, self.columns, self.weights, self.mean = members, columns, weights, mean
        self.uses = list(uses) if uses is not None else ["always"] * len(members)
        with_profile = [i for i, use in enumerate(self.uses) if use == "with_profile"]
        self._profile = with_profile[0] if with_profile else None

    @property
    def profile_member(self):
        """The member bundle a speaker profile adapts, or None."""
        return None if self._profile is None else self.members[self._profile]

    @property
    def profile_columns(self):
        """The union feature columns of the profile member (None without one)."""
        return None if self._profile is None else self.columns[self._profile]

    @property
    def normaliser(self):
        return None if self._profile is None else self.members[self._profile].model.normaliser

    def predict_proba_features(self, X, profile=None) -> np.ndarray:
        if profile is not None and self._profile is None:
            from .errors import ProfileError

            raise ProfileError("this fused bundle has no member trained with speaker normalisation, so a profile "
                               "cannot adapt it (ser fuse --profile-member adds one)")
        X = np.atleast_2d(np.asarray(X, dtype=np.float32))
        wanted = ("always", "with_profile" if profile is not None else "without_profile")
        active = [i for i, use in enumerate(self.uses) if use in wanted]
        probas = [self.members[i].predict_features(X[:, self.columns[i]],
                                                   profile=profile if i == self._profile else None)
                  for i in active]
        return fuse_probabilities(probas, [self.weights[i] for i in active], self.mean)


def load_fused(path: Path, manifest: dict, registry):
    """A fused bundle folder as a :class:`~ser_framework.bundle.Bundle` (called by ``load_bundle``)."""
    from .bundle import Bundle, load_bundle
    from .extraction import FeaturePipeline

    params = manifest["classifier"].get("params") or {}
    entries = manifest.get("members")
    if not isinstance(entries, list) or len(entries) < 2 or params.get("mean") not in MEANS:
        raise BundleError(f"{path}: a fusion manifest needs 'members' (two or more) and a mean "
                          f"({', '.join(MEANS)})")
    uses = [entry.get("use", "always") for entry in entries]
    if any(use not in USES for use in uses) or uses.count("with_profile") > 1 or \
            ("with_profile" in uses) != ("without_profile" in uses):
        raise BundleError(f"{path}: each member's 'use' must be one of {', '.join(USES)}, with one member "
                          f"used with a profile in place of those used without")
    members = []
    for entry in entries:
        rel = f"{entry.get('dir')}/manifest.json"
        if rel not in manifest["files"]:
            raise BundleError(f"{path}: member {entry.get('dir')} is not covered by the manifest's checksums")
        members.append(load_bundle(path / entry["dir"], registry=registry))
    if any(m.labels != manifest["labels"] for m in members):
        raise BundleError(f"{path}: a member's labels differ from the fused bundle's")
    extractors = [registry.build("feature", {"name": f["name"], "params": f.get("params")}, f"features.{i}")
                  for i, f in enumerate(manifest["features"])]
    pipeline = FeaturePipeline(extractors, manifest["audio"])
    rng = np.random.default_rng(0)
    widths = [len(p) for p in pipeline.parts((0.1 * rng.standard_normal(pipeline.sample_rate // 2)).astype(np.float32))]
    starts = np.concatenate([[0], np.cumsum(widths)])
    where = {_feature_key(f): i for i, f in enumerate(manifest["features"])}
    columns = []
    for member in members:
        keys = [_feature_key(f) for f in member.manifest["features"]]
        if any(k not in where for k in keys):
            raise BundleError(f"{path}: a member uses a feature extractor the fused pipeline lacks")
        columns.append(np.concatenate([np.arange(starts[where[k]], starts[where[k] + 1]) for k in keys]))
    model = FusedModel(manifest["labels"], pipeline, members, columns, params.get("weights", [1.0] * len(members)),
                       params["mean"], uses)
    return Bundle(path, manifest, model)


__all__ = ["fuse_bundles", "fuse_probabilities", "fused_out_of_fold", "fused_conditions", "calibrate_fusion",
           "load_fused", "FusedModel", "MEANS", "USES"]
