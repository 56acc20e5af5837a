"""Model bundles: a folder with a manifest, plain-array selector state and classifier files.

Nothing in a bundle is unpickled: selectors are ``.npz`` read with
``allow_pickle=False``, the classifier stores its own safe files, and every file
is checked against the SHA-256 in ``manifest.json`` before use.
"""
from __future__ import annotations

import datetime as _dt
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .atomic import atomic_dir
from .errors import BundleError, ConfigError, PluginError
from .provenance import library_versions, sha256_file

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
#: the population statistics of a speaker-normalised model
NORMALISER = "speaker_normalisation.npz"
DEFAULT_BUNDLE = Path(__file__).parent / "default_model"
#: libraries whose versions are recorded and compared on load
TRACKED = ("ser-framework", "numpy", "scikit-learn", "librosa", "soundfile", "tensorflow-cpu", "keras")


#: below this top probability an answer is "uncertain". With calibrated probabilities (see
#: :mod:`ser_framework.calibration`) a top probability under 0.5 means the model expects to be
#: wrong at least as often as right, so the answer is shown with its close alternatives
MIN_CONFIDENCE = 0.5
#: a label is a close alternative when its probability is at least this share of the top one's
CLOSE_RATIO = 0.5


@dataclass(frozen=True)
class Prediction:
    """A clip's result: the dominant label and all probabilities, highest first.

    ``uncertain`` is true when the top probability is below ``min_confidence``
    (default :data:`MIN_CONFIDENCE`); :meth:`alternatives` then lists the
    labels close to the top one.
    """

    path: str
    label: str
    probabilities: dict[str, float]
    min_confidence: float = MIN_CONFIDENCE

    def top(self, n: int = 3) -> list[tuple[str, float]]:
        return list(self.probabilities.items())[:n]

    @property
    def confidence(self) -> float:
        """The top probability."""
        return self.probabilities[self.label]

    @property
    def uncertain(self) -> bool:
        return self.confidence < self.min_confidence

    def alternatives(self, n: int = 3, ratio: float = CLOSE_RATIO) -> list[tuple[str, float]]:
        """The top label and those with at least ``ratio`` × its probability, at most ``n``, highest first."""
        return [(lab, p) for lab, p in self.top(n) if p >= ratio * self.confidence]

    def as_dict(self, top: int | None = None) -> dict:
        probs = self.probabilities if top is None else dict(self.top(top))
        return {"path": self.path, "label": self.label, "uncertain": self.uncertain, "probabilities": probs}


def component_sources(model, registry) -> dict[str, str]:
    """``{"kind:name": source}`` of every component in ``model`` ("built-in", a package, ``local:FILE``)."""
    parts = [("feature", e) for e in model.pipeline.extractors]
    parts += [("selector", s) for s in model.selectors] + [("classifier", model.classifier)]
    return {f"{kind}:{c.name}": registry.get(kind, c.name).source for kind, c in parts}


def save_bundle(model, path, extra_manifest: dict | None = None, overwrite: bool = False,
                registry=None) -> Path:
    """Write ``model`` (a FittedModel) as a bundle folder at ``path``, atomically.

    With ``registry``, the manifest records which plugin each component came
    from, so loading without that plugin names it.
    """
    path = Path(path)
    with atomic_dir(path, overwrite=overwrite) as tmp:
        files: list[str] = []
        selectors = []
        for i, selector in enumerate(model.selectors):
            fname = f"selector_{i}_{selector.name}.npz"
            np.savez(tmp / fname, **{k: np.asarray(v) for k, v in selector.get_state().items()})
            files.append(fname)
            selectors.append({"name": selector.name, "params": selector.config, "state": fname})
        (tmp / "classifier").mkdir()
        clf_files = [f"classifier/{f}" for f in model.classifier.save(tmp / "classifier")]
        files.extend(clf_files)
        manifest = {
            "format_version": FORMAT_VERSION,
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "labels": list(model.labels),
            "audio": model.pipeline.audio,
            "features": [{"name": e.name, "params": e.config} for e in model.pipeline.extractors],
            "n_features": model.pipeline.n_features(),
            "selectors": selectors,
            "classifier": {"name": model.classifier.name, "params": model.classifier.config},
            "versions": library_versions(TRACKED, python=True),
            **({"plugins": component_sources(model, registry)} if registry is not None else {}),
            **(extra_manifest or {}),
        }
        if model.normaliser is not None:  # per-speaker normalisation: population statistics and shrinkage
            np.savez(tmp / NORMALISER, **model.normaliser.get_state())
            files.append(NORMALISER)
            manifest["speaker_normalisation"] = {"state": NORMALISER, **model.normaliser.settings()}
        manifest["files"] = {f: sha256_file(tmp / f) for f in files}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, default=_json_default))
    return path


def _json_default(obj):
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


class Bundle:
    """A loaded model bundle. Thread-safe for prediction."""

    def __init__(self, path: Path, manifest: dict, model):
        self.path = path
        self.manifest = manifest
        self.model = model
        #: the calibration temperature applied to every prediction (1.0: none stored)
        self.temperature = float((manifest.get("calibration") or {}).get("temperature", 1.0))
        #: the temperature applied instead when a speaker profile is given (a fused bundle's ``profile_calibration``)
        self.profile_temperature = float((manifest.get("profile_calibration") or {}).get("temperature",
                                                                                          self.temperature))

    @property
    def labels(self) -> list[str]:
        return list(self.model.labels)

    @property
    def pipeline(self):
        return self.model.pipeline

    def _prediction(self, path: str, proba: np.ndarray) -> Prediction:
        order = np.argsort(-proba, kind="stable")
        probs = {self.labels[i]: float(proba[i]) for i in order}
        return Prediction(path, self.labels[order[0]], probs)

    @property
    def feature_space(self) -> str:
        """The key of the feature space a speaker profile of this bundle summarises (see :mod:`.profiles`).

        A fused bundle with a profile member (``ser fuse --profile-member``) takes that member's.
        """
        from .profiles import feature_space_key

        if self.profile_bundle is not self:
            return self.profile_bundle.feature_space
        n = self.manifest.get("n_features") or self.pipeline.n_features()
        return feature_space_key(self.pipeline, n)

    @property
    def profile_bundle(self) -> Bundle:
        """The bundle whose features a speaker profile summarises: this one, or a fused bundle's profile member."""
        return getattr(self.model, "profile_member", None) or self

    @property
    def accepts_profiles(self) -> bool:
        """Whether a speaker profile adapts this bundle (a model trained with ``speaker_normalisation``)."""
        return getattr(self.profile_bundle.model, "normaliser", None) is not None

    def profile_rows(self, X) -> np.ndarray:
        """What a speaker profile summarises of feature rows of this bundle's pipeline.

        The profile member's columns of a fused bundle's rows; for a model of
        frame sequences, each clip's frame statistics (see :mod:`.speaker_norm`).
        """
        columns = getattr(self.model, "profile_columns", None)
        X = np.atleast_2d(X)
        X = X if columns is None else X[:, columns]
        normaliser = getattr(self.profile_bundle.model, "normaliser", None)
        return X if normaliser is None else normaliser.profile_rows(X)

    def predict_features(self, X, profile=None) -> np.ndarray:
        """Calibrated probabilities (rows × labels): the model's, with the bundle's temperature applied.

        ``profile`` (a :class:`~ser_framework.profiles.SpeakerProfile` of the
        speaker of every row) adapts the features to that speaker; the
        temperature is then :attr:`profile_temperature`.
        """
        from .calibration import apply_temperature

        if profile is not None:
            profile.check(self)
        temperature = self.temperature if profile is None else self.profile_temperature
        return apply_temperature(self.model.predict_proba_features(X, profile=profile), temperature)

    def predict_waveform(self, y: np.ndarray, name: str = "<waveform>", *, check_speech: bool = True,
                         profile=None) -> Prediction:
        """Predict from mono samples already at the bundle's sample rate.

        Input without voiced speech (noise, tones, hum, clicks, silence) is
        refused with :class:`~ser_framework.errors.NoSpeechError` unless
        ``check_speech`` is false (see :mod:`ser_framework.voice`). Runs with
        one BLAS thread throughout, so a clip's answer does not depend on how
        many other threads are predicting at the same time. ``profile``: the
        speaker's :class:`~ser_framework.profiles.SpeakerProfile`, if known.
        """
        from .spectral import AudioContext, single_threaded
        from .voice import check_voice

        with single_threaded():
            ctx = AudioContext(y, self.pipeline.sample_rate)
            if check_speech:
                check_voice(y, self.pipeline.sample_rate, name, context=ctx)
            vector = self.pipeline.from_waveform(y, context=ctx)
            return self._prediction(name, self.predict_features(vector[None, :], profile=profile)[0])

    def predict(self, source, name: str | None = None, *, profile=None) -> Prediction:
        """Predict one clip from a path, bytes or file object (``profile``: the speaker's, if known)."""
        y = self.pipeline.load(source)
        label = name or (str(source) if isinstance(source, (str, Path)) else getattr(source, "name", "<upload>"))
        return self.predict_waveform(y, label, profile=profile)


def _read_manifest(path: Path) -> dict:
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError(f"{path} is not a model bundle (no {MANIFEST})") from None
    except (OSError, ValueError) as exc:
        raise BundleError(f"{path}/{MANIFEST} is unreadable: {exc}") from None
    if not isinstance(manifest, dict):
        raise BundleError(f"{path}/{MANIFEST} is not a JSON object")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BundleError(f"{path}: unsupported bundle format {manifest.get('format_version')!r}")
    for key in ("labels", "audio", "features", "selectors", "classifier", "files"):
        if key not in manifest:
            raise BundleError(f"{path}/{MANIFEST} lacks '{key}'")
    files = manifest["files"]
    if not isinstance(files, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        raise BundleError(f"{path}/{MANIFEST}: 'files' must map file names to SHA-256 digests")
    labels = manifest["labels"]
    if not isinstance(labels, list) or len(labels) < 2 or not all(isinstance(x, str) for x in labels):
        raise BundleError(f"{path}/{MANIFEST}: 'labels' must be a list of at least two names")
    for key in ("calibration", "profile_calibration"):
        calibration = manifest.get(key)
        if calibration is not None:
            t = calibration.get("temperature") if isinstance(calibration, dict) else None
            if isinstance(t, bool) or not isinstance(t, (int, float)) or not (0 < t < float("inf")):
                raise BundleError(f"{path}/{MANIFEST}: '{key}.temperature' must be a positive number")
    if not isinstance(manifest["audio"], dict) or not isinstance(manifest["classifier"], dict):
        raise BundleError(f"{path}/{MANIFEST}: 'audio' and 'classifier' must be objects")
    for key in ("features", "selectors"):
        if not isinstance(manifest[key], list) or not all(isinstance(x, dict) for x in manifest[key]):
            raise BundleError(f"{path}/{MANIFEST}: '{key}' must be a list of objects")
    return manifest


def verify_files(path: Path, manifest: dict) -> None:
    """Check every file the manifest lists against its SHA-256, and that nothing used is unlisted.

    Selector states and every file in ``classifier/`` must appear in the
    manifest, so a file cannot be swapped in without being checked.
    """
    root = path.resolve()
    listed = set()
    for rel, expected in manifest["files"].items():
        file = (path / rel).resolve()
        if root not in file.parents:
            raise BundleError(f"{path}: manifest names a file outside the bundle: {rel}")
        if not file.is_file():
            raise BundleError(f"{path}: missing file {rel}")
        if sha256_file(file) != expected:
            raise BundleError(f"{path}: {rel} does not match its SHA-256 in the manifest (modified or corrupt)")
        listed.add(file)
    used = [(path / str(spec.get("state", ""))).resolve() for spec in manifest["selectors"]]
    clf_dir = path / "classifier"
    if clf_dir.is_dir():
        used.extend(p.resolve() for p in clf_dir.rglob("*") if p.is_file())
    unlisted = sorted(str(p.relative_to(root)) for p in used if p not in listed)
    if unlisted:
        raise BundleError(f"{path}: file(s) not covered by the manifest's checksums: {', '.join(unlisted)}")


def check_dimensions(path: Path, model, n_features: int) -> None:
    """Refuse a bundle whose feature configuration does not fit its fitted selectors/classifier.

    Runs one row of zeros of the pipeline's width through the selectors and the
    classifier; any shape error, or an output that is not one probability per
    label, means the parts were not fitted together.
    """
    selectors = model.selectors
    expected = getattr(selectors[0], "n_features_in", None) if selectors else None
    if expected is not None and expected != n_features:
        raise BundleError(
            f"{path}: feature dimension mismatch: the feature configuration gives {n_features} "
            f"features but the fitted selector '{selectors[0].name}' expects {expected}"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out = model.predict_proba_features(np.zeros((1, n_features), dtype=np.float32))
    except (ValueError, IndexError, TypeError, BundleError) as exc:
        raise BundleError(
            f"{path}: feature dimension mismatch: {n_features} features do not fit the fitted "
            f"selectors/classifier ({exc})"
        ) from None
    if out.shape != (1, len(model.labels)):
        raise BundleError(
            f"{path}: the classifier gives {out.shape[-1]} outputs but the bundle has {len(model.labels)} labels"
        )


def _warn_versions(manifest: dict) -> None:
    saved = manifest.get("versions", {})
    now = library_versions(TRACKED, python=True)
    diff = [f"{k} {saved[k]} (here {now[k]})" for k in saved if k in now and k != "python" and saved[k] != now[k]]
    if diff:
        warnings.warn("bundle made with other library versions: " + ", ".join(diff), stacklevel=3)


def _missing_plugin(manifest: dict, kind: str, name: str, exc: PluginError) -> str:
    source = (manifest.get("plugins") or {}).get(f"{kind}:{name}")
    if not source or source == "built-in":
        return f"the bundle needs the {kind} '{name}', which no installed plugin provides ({exc})"
    if source.startswith("local:"):
        file = Path(source[len("local:"):])
        return (f"the bundle needs the {kind} '{name}' from the local plugin {file}; "
                f"load it with --plugins-dir {file.parent}")
    return f"the bundle needs the {kind} '{name}' from the plugin package '{source}'; install it (pip install {source})"


def _load_normaliser(path: Path, manifest: dict):
    """The bundle's :class:`~ser_framework.speaker_norm.SpeakerNormaliser`, or ``None`` without one."""
    spec = manifest.get("speaker_normalisation")
    if spec is None:
        return None
    from .speaker_norm import SpeakerNormaliser

    if not isinstance(spec, dict) or spec.get("state") != NORMALISER or NORMALISER not in manifest["files"]:
        raise BundleError(f"{path}/{MANIFEST}: 'speaker_normalisation' must name its checked state {NORMALISER}")
    with np.load(path / NORMALISER, allow_pickle=False) as data:
        return SpeakerNormaliser.from_state({k: data[k] for k in data.files})


def load_bundle(path=None, registry=None, plugins_dirs=()) -> Bundle:
    """Load a bundle folder (default: the shipped model), verifying every file first.

    Components are built through ``registry`` (default: a fresh one with the
    installed plugins and those in ``plugins_dirs``).
    """
    from .extraction import FeaturePipeline
    from .model import FittedModel
    from .plugins import get_registry

    path = Path(path) if path is not None else DEFAULT_BUNDLE
    if not path.exists():
        if path == DEFAULT_BUNDLE:
            raise BundleError("no default model is installed; train one with: make model (README, \"Default model\")")
        raise BundleError(f"model bundle not found: {path}")
    if not path.is_dir():
        raise BundleError(f"{path} is not a model bundle folder")
    manifest = _read_manifest(path)
    verify_files(path, manifest)
    _warn_versions(manifest)
    registry = registry or get_registry(plugins_dirs)
    if manifest.get("kind") == "fusion":  # late fusion of member bundles (see ser_framework.fusion)
        from .fusion import load_fused

        return load_fused(path, manifest, registry)
    entries = [("feature", f"features.{i}", f) for i, f in enumerate(manifest["features"])]
    entries += [("selector", f"selectors.{i}", s) for i, s in enumerate(manifest["selectors"])]
    entries.append(("classifier", "classifier", manifest["classifier"]))
    for kind, _, entry in entries:
        name = entry.get("name")
        if not registry.has(kind, name):
            raise BundleError(f"{path}: {_missing_plugin(manifest, kind, name, PluginError(registry.unknown_message(kind, name)))}")
    try:
        built = [registry.build(kind, {"name": e.get("name"), "params": e.get("params")}, where)
                 for kind, where, e in entries]
        extractors = built[: len(manifest["features"])]
        selectors = built[len(extractors):-1]
        for selector, spec in zip(selectors, manifest["selectors"]):
            with np.load(path / spec["state"], allow_pickle=False) as data:
                selector.set_state({k: data[k] for k in data.files})
        classifier = type(built[-1]).load(path / "classifier", built[-1].params)
        normaliser = _load_normaliser(path, manifest)
    except ConfigError as exc:
        raise BundleError(f"{path}: the manifest's component settings are invalid: {exc.one_line()}") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BundleError(f"{path}: cannot load bundle: {exc}") from None
    pipeline = FeaturePipeline(extractors, manifest["audio"])
    n = pipeline.n_features()
    if manifest.get("n_features") not in (None, n):
        raise BundleError(
            f"{path}: feature dimension mismatch: the manifest says {manifest['n_features']} features, "
            f"the configured extractors give {n}"
        )
    model = FittedModel(manifest["labels"], pipeline, selectors, classifier, normaliser)
    check_dimensions(path, model, n)
    return Bundle(path, manifest, model)
