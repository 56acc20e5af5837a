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


def fuse_bundles(members, out, *, weights=None, mean: str = "geometric", overwrite: bool = False) -> Path:
    """Write a fused bundle at ``out`` from the bundle folders ``members`` (checked: loadable, same labels
    and audio settings). ``weights`` default to equal; they are normalised to sum 1."""
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
    bundles = [load_bundle(m) for m in members]  # verifies every member's files
    first = bundles[0]
    for member, bundle in zip(members[1:], bundles[1:]):
        if bundle.labels != first.labels:
            raise BundleError(f"the members' labels differ: {members[0]} has {', '.join(first.labels)}; "
                              f"{member} has {', '.join(bundle.labels)}")
        if bundle.manifest["audio"] != first.manifest["audio"]:
            raise BundleError(f"the members' audio settings differ: {members[0]} {first.manifest['audio']}, "
                              f"{member} {bundle.manifest['audio']}")
    total = sum(weights)
    with atomic_dir(Path(out), overwrite=overwrite) as tmp:
        entries, files = [], {}
        for i, (member, bundle) in enumerate(zip(members, bundles)):
            rel = f"{MEMBERS_DIR}/{i:02d}"
            shutil.copytree(member, tmp / rel)
            files[f"{rel}/{MANIFEST}"] = sha256_file(tmp / rel / MANIFEST)
            m = bundle.manifest
            entries.append({
                "dir": rel, "source": str(member.resolve()), "weight": weights[i] / total,
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
            "versions": library_versions(("ser-framework", "numpy"), python=True),
            "files": files,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return Path(out)


class FusedModel:
    """The members' models behind one union feature pipeline (what :class:`~ser_framework.bundle.Bundle` calls)."""

    def __init__(self, labels, pipeline, members, columns, weights, mean):
        self.labels = list(labels)
        self.pipeline = pipeline
        self.selectors: list = []
        self.members, self.columns, self.weights, self.mean = members, columns, weights, mean

    def predict_proba_features(self, X, profile=None) -> np.ndarray:
        if profile is not None:
            from .errors import ProfileError

            raise ProfileError("a fused bundle cannot use a speaker profile: its members have features of their own")
        X = np.atleast_2d(np.asarray(X, dtype=np.float32))
        probas = [m.predict_features(X[:, cols]) for m, cols in zip(self.members, self.columns)]
        return fuse_probabilities(probas, self.weights, self.mean)


def load_fused(path: Path, manifest: dict, registry):
    """A fused bundle folder as a :class:`~ser_framework.bundle.Bundle` (called by ``load_bundle``)."""
    from .bundle import Bundle, load_bundle
    from .extraction import FeaturePipeline

    params = manifest["classifier"].get("params") or {}
    entries = manifest.get("members")
    if not isinstance(entries, list) or len(entries) < 2 or params.get("mean") not in MEANS:
        raise BundleError(f"{path}: a fusion manifest needs 'members' (two or more) and a mean "
                          f"({', '.join(MEANS)})")
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
                       params["mean"])
    return Bundle(path, manifest, model)


__all__ = ["fuse_bundles", "fuse_probabilities", "load_fused", "FusedModel", "MEANS"]
