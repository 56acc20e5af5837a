"""Experiment configs: YAML in, a validated and fully resolved dict out.

Every problem is collected with its dotted path and raised together as one
:class:`~ser_framework.errors.ConfigError`. Components are validated against the
schema of the plugin they name; top-level sections against the schemas below.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

from pydantic import field_validator

from .errors import ConfigError
from .params import Field, Params, PathField
from .params import validate as validate_model


class AudioSettings(Params):
    """How every clip is decoded before feature extraction."""

    sample_rate: int = Field(22050, ge=4000, le=192000, description="rate every clip is resampled to (Hz)")
    min_duration: float = Field(0.1, ge=0.0, description="shortest clip accepted (s)")
    max_duration: float = Field(600.0, ge=0.1, description="longest clip accepted (s)")


class ExtractionSettings(Params):
    """How feature extraction runs: workers, backend and the feature cache."""

    n_jobs: int = Field(1, ge=-1, description="parallel workers for feature extraction (-1: all cores)")
    backend: Literal["loky", "threading", "sequential", "dask"] = Field("loky", description="joblib backend")
    dask_address: str | None = Field(None, description="Dask scheduler address; null starts a LocalCluster")
    cache: bool = Field(True, description="reuse features computed before (content-addressed)")
    cache_dir: str | None = Field(
        None, description="feature cache location (default: $SER_CACHE_DIR or ~/.cache/ser-framework)")


class EvaluationSettings(Params):
    """The evaluation protocol: by speaker unless asked otherwise."""

    protocol: Literal["group_kfold", "holdout_speakers", "kfold", "holdout"] = Field(
        "group_kfold", description="how to split")
    n_splits: int = Field(5, ge=2, description="folds for the k-fold protocols")
    test_speakers: list[str] | None = Field(
        None, description="speakers held out (holdout_speakers); null: pick test_size of them")
    test_size: float = Field(0.2, ge=0.01, le=0.9,
                             description="fraction held out when test_speakers is null / for holdout")
    validation_fraction: float = Field(
        0.0, ge=0.0, le=0.5,
        description="fraction of training speakers held out for the classifier's early stopping "
                    "(0: callbacks watch the training loss)")
    refit: bool = Field(True, description="fit the bundled model on all data after evaluating")
    conditions: str | list[str] | None = Field(
        None, description="robustness report: null, 'all' or a list of condition names "
                          "(each fold's test clips degraded and scored by that fold's model)")

    @field_validator("conditions")
    @classmethod
    def _known_conditions(cls, value):
        from .conditions import name_problems

        problems = name_problems(value)
        if problems:
            raise ValueError(problems[0])
        return value
    calibrate: bool = Field(
        True, description="fit a temperature on held-out predictions and store it in the bundle "
                          "(single-split protocols: on an inner split of the training part)")


class OutputSettings(Params):
    """Where run directories go (relative to the current directory)."""

    dir: str = Field("runs", description="parent folder of run directories")


SECTIONS: dict[str, type[Params]] = {
    "audio": AudioSettings,
    "extraction": ExtractionSettings,
    "evaluation": EvaluationSettings,
    "output": OutputSettings,
}


class AugmentationSettings(Params):
    """Augmented training copies: ``copies`` per clip, each made by the augmenters of ``chain`` in order."""

    copies: int = Field(3, ge=1, le=100, description="augmented copies per clip (training rows only)")
    chain: list[Any] = Field(..., min_length=1, description="augmenter entries, applied in order")


def _validate_augmentation(value, registry, problems: list, base_dir: Path | None):
    """The ``augmentation`` section resolved (``None`` when absent or null); problems appended with paths."""
    if value is None:
        return None
    if not isinstance(value, dict):
        problems.append(("augmentation", f"expected a mapping with 'copies' and 'chain', or null, "
                                         f"got {type(value).__name__}"))
        return None
    settings, found = validate_model(AugmentationSettings, value, "augmentation")
    problems.extend(found)
    chain = value.get("chain")
    resolved = []
    for i, entry in enumerate(chain if isinstance(chain, list) else ()):
        spec = registry.resolve("augmenter", entry, f"augmentation.chain.{i}", problems, base_dir)
        resolved.append(None if spec is None else {"name": spec[0].name, "params": spec[1].model_dump(mode="json")})
    if settings is None or None in resolved:
        return None
    return {"copies": settings.copies, "chain": resolved}


class SpeakerNormalisationSettings(Params):
    """Per-speaker feature normalisation (speaker profiles): how training and evaluation simulate enrolment."""

    enrol: int = Field(10, ge=3, description="clips per profile: each test speaker's enrolment clips (only "
                                            "the others are scored) and each training speaker's simulated ones")
    shrink_mean: float = Field(0.0, ge=0.0, description="pseudo-clips at the population mean in a profile's mean")
    shrink_var: float = Field(20.0, ge=0.0, description="pseudo-clips at the population variance in a profile's "
                                                       "variance")


def _validate_nullable(model, value, where: str, problems: list):
    """A nullable section resolved with its defaults (``None`` when absent, null or false; true: defaults)."""
    if value is None or value is False:
        return None
    if value is True:
        value = {}
    settings, found = validate_model(model, value, where)
    problems.extend(found)
    return None if settings is None else settings.model_dump()


class _TopLevel(Params):
    name: str | None = None
    seed: int = Field(0, ge=0, le=2**32 - 1)
    plugins_dir: str | list[str] | None = PathField(None, description="folder(s) of local plugin modules")


#: component sections: key -> (kind, is_list, nullable)
COMPONENT_SECTIONS = {
    "dataset": ("dataset", False, False),
    "features": ("feature", True, False),
    "balancer": ("balancer", False, True),
    "selectors": ("selector", True, False),
    "classifier": ("classifier", False, False),
}
#: read by ``ser sweep`` only (see :mod:`ser_framework.sweep`); ``validate`` leaves it out of the result
SWEEP_KEY = "sweep"
TOP_LEVEL = {*_TopLevel.model_fields, *SECTIONS, *COMPONENT_SECTIONS, "augmentation", "speaker_normalisation", SWEEP_KEY}


def _safe_loader(duplicates: list):
    """A ``yaml.SafeLoader`` that records duplicate keys instead of keeping the last silently."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def construct_mapping(loader, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            try:
                key = loader.construct_object(key_node, deep=True)
                hash(key)
            except (TypeError, yaml.YAMLError):
                continue
            if key in seen:
                duplicates.append((str(key), f"duplicate key (lines {seen[key]} and "
                                              f"{key_node.start_mark.line + 1}); give each key once"))
            else:
                seen[key] = key_node.start_mark.line + 1
        return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return Loader


def _yaml_problem(exc) -> str:
    mark = getattr(exc, "problem_mark", None)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if "constructor for the tag" in problem:
        tag = problem.split("tag", 1)[1].strip().strip("'")
        tag = tag.replace("tag:yaml.org,2002:", "!!")
        return f"the tag {tag} is not allowed{where}: configs are plain data (mappings, lists, numbers, strings)"
    return f"not valid YAML{where}: {problem}"


def read_yaml(path, problems: list | None = None) -> dict:
    """Read a YAML mapping safely (no Python tags); errors become ConfigError.

    Duplicate keys are problems: added to ``problems`` when given (so they are
    reported with the validation problems), raised otherwise.
    """
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"{path} is a folder, not a config file") from None
    except UnicodeDecodeError:
        raise ConfigError("not a text file (expected UTF-8 YAML)", source=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from None
    duplicates: list = []
    try:
        data = yaml.load(text, Loader=_safe_loader(duplicates))  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError(_yaml_problem(exc), source=str(path)) from None
    except RecursionError:
        raise ConfigError("the YAML is nested too deeply", source=str(path)) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"the top level must be a mapping, got {type(data).__name__}", source=str(path))
    if duplicates:
        if problems is None:
            raise ConfigError(duplicates, source=str(path))
        problems.extend(duplicates)
    return data


def plugins_dirs_of(raw: dict, base_dir: Path | None = None) -> list[str]:
    """The config's ``plugins_dir`` as a list, relative folders resolved against ``base_dir``."""
    value = raw.get("plugins_dir") if isinstance(raw, dict) else None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return []  # missing, or a wrong type that validate() reports
    dirs = [v for v in value if isinstance(v, str)]
    if base_dir is not None:
        dirs = [d if Path(d).expanduser().is_absolute() else str(Path(base_dir) / d) for d in dirs]
    return dirs


def validate(raw: dict, registry, source=None, base_dir: Path | None = None) -> dict:
    """Validate a raw config against the section models and the registry.

    Returns the config resolved with every default, as plain data. Relative
    paths in component params declared with ``PathField`` (dataset roots)
    resolve against ``base_dir`` (the config file's folder) when given.
    Raises :class:`ConfigError` listing every problem with its path.
    """
    problems: list = []
    if not isinstance(raw, dict):
        raise ConfigError("the top level must be a mapping", source=source)
    for key in raw:
        if key not in TOP_LEVEL:
            problems.append((str(key), f"unknown key (known: {', '.join(sorted(TOP_LEVEL))})"))
    top, found = validate_model(_TopLevel, {k: raw[k] for k in _TopLevel.model_fields if k in raw})
    problems.extend(found)
    out: dict = top.model_dump() if top is not None else {}
    if top is not None and base_dir is not None:
        out["plugins_dir"] = plugins_dirs_of(out, base_dir) or None
    for section, model in SECTIONS.items():
        settings, found = validate_model(model, raw.get(section), section)
        problems.extend(found)
        out[section] = settings.model_dump() if settings is not None else None
    ev = raw.get("evaluation")
    if isinstance(ev, dict) and ev.get("protocol") == "holdout_speakers" and ev.get("test_speakers") == []:
        problems.append(("evaluation.test_speakers", "must name at least one speaker, or be null"))
    for key, (kind, is_list, nullable) in COMPONENT_SECTIONS.items():
        value = raw.get(key)
        if value is None:
            if nullable:
                out[key] = None
            else:
                problems.append((key, f"is required ({'a list of ' if is_list else 'a '}{kind}"
                                      f"{'s' if is_list else ''})"))
            continue
        entries = value if is_list else [value]
        if is_list and not isinstance(value, list):
            problems.append((key, f"expected a list of {kind}s"))
            continue
        if key == "features" and not value:
            problems.append((key, "needs at least one feature extractor"))
        resolved = []
        for i, entry in enumerate(entries):
            found = registry.resolve(kind, entry, f"{key}.{i}" if is_list else key, problems, base_dir)
            resolved.append(None if found is None else {"name": found[0].name,
                                                        "params": found[1].model_dump(mode="json")})
        out[key] = resolved if is_list else resolved[0]
    problems.extend(input_kind_problems(out, registry))
    out["augmentation"] = _validate_augmentation(raw.get("augmentation"), registry, problems, base_dir)
    out["speaker_normalisation"] = _validate_nullable(SpeakerNormalisationSettings, raw.get("speaker_normalisation"),
                                                      "speaker_normalisation", problems)
    if out.get("dataset") is not None:  # what can be checked without reading the data
        dataset = registry.build("dataset", out["dataset"])
        problems.extend((f"dataset.params.{param}", message) for param, message in dataset.check())
    if problems:
        raise ConfigError(problems, source=source)
    return out


def input_kind_problems(config: dict, registry) -> list[tuple[str, str]]:
    """Where the features' output (pooled vectors or frame sequences) does not suit the classifier.

    A sequence extractor stands alone (its frames go to the classifier unchanged, so
    there are no selectors), and only a classifier with ``input = "sequence"`` takes it.
    When the kinds match, the classifier's ``check_input`` judges the extractor's frame
    shape (its problems reported under ``classifier.params``).
    """
    features, classifier = config.get("features"), config.get("classifier")
    if not features or None in features or not classifier:
        return []
    outputs = [getattr(registry.get("feature", f["name"]).cls, "output", "pooled") for f in features]
    taken = getattr(registry.get("classifier", classifier["name"]).cls, "input", "pooled")
    sequences = [i for i, kind in enumerate(outputs) if kind == "sequence"]
    problems = []
    if sequences and len(features) > 1:
        problems.extend((f"features.{i}", f"the sequence extractor '{features[i]['name']}' must be the only "
                                          f"feature (frame sequences are not concatenated with other features)")
                        for i in sequences)
    elif sequences and taken != "sequence":
        problems.append((f"features.{sequences[0]}", f"'{features[sequences[0]]['name']}' gives frame sequences, "
                                                     f"but the classifier '{classifier['name']}' takes pooled "
                                                     f"vectors; use a sequence classifier or a pooled feature"))
    elif not sequences and taken == "sequence":
        problems.append(("classifier", f"'{classifier['name']}' takes frame sequences, but the features give "
                                       f"pooled vectors; use a sequence extractor"))
    if sequences and config.get("selectors"):
        problems.append(("selectors", "must be empty with a sequence extractor (its frames go to the "
                                      "classifier unchanged; sequence classifiers normalise them)"))
    if len(features) == 1 and sequences and taken == "sequence" and not problems:
        frames, channels = registry.build("feature", features[0]).frame_shape
        problems.extend((f"classifier.params.{param}", message) for param, message in
                        registry.build("classifier", classifier).check_input((frames, channels - 1)))
    return problems


def parse_override(text: str) -> tuple[list[str], object]:
    import yaml

    key, value = text.split("=", 1)
    try:
        parsed = yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError:
        parsed = value
    return key.strip().split("."), parsed


def apply_overrides(config: dict, overrides, problems: list | None = None) -> dict:
    """Apply ``key.path=value`` overrides to a resolved config; keys must exist.

    Problems are added to ``problems`` when given (so they are reported with the
    rest), otherwise raised at once.
    """
    config = copy.deepcopy(config)
    own = problems is None
    problems = [] if own else problems
    for text in overrides or ():
        if "=" not in text:
            problems.append((f"-s {text}", "expected KEY=VALUE, e.g. classifier.params.epochs=50"))
            continue
        parts, value = parse_override(text)
        set_path(config, parts, value, problems)
    if own and problems:
        raise ConfigError(problems, source="command-line overrides")
    return config


def set_path(config: dict, parts: list[str], value, problems: list, prefix: str = "") -> bool:
    """Set the existing key ``parts`` (a dotted path split, list items by index) of ``config`` in place.

    A missing key or item is appended to ``problems`` (its path led by
    ``prefix``) and the config is left as it was; returns whether it was set.
    """
    node = config
    for i, part in enumerate(parts):
        where = prefix + ".".join(parts[: i + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                problems.append((where, f"no such item (the list has {len(node)})"))
                return False
            part = int(part)
        elif not isinstance(node, dict) or part not in node:
            problems.append((where, "no such key in the config (overrides may only change existing keys)"))
            return False
        if i == len(parts) - 1:
            node[part] = value
        else:
            node = node[part]
    return True


def load_config(path, registry_factory=None, overrides=(), extra_plugins_dirs=()):
    """Read, validate and override a config. Returns ``(config, registry)``.

    Relative dataset roots and ``plugins_dir`` in the file resolve against the
    file's folder; ``-s`` override values and ``extra_plugins_dirs`` against the
    current directory.
    """
    from .plugins import get_registry

    path = Path(path)
    early: list = []
    raw = read_yaml(path, early)
    base_dir = path.resolve().parent
    dirs = list(extra_plugins_dirs) + plugins_dirs_of(raw, base_dir)
    registry = (registry_factory or get_registry)(dirs)
    try:
        config = validate(raw, registry, source=str(path), base_dir=base_dir)
    except ConfigError as exc:
        raise ConfigError(early + exc.problems, source=str(path)) from None
    if early:
        raise ConfigError(early, source=str(path))
    if overrides:
        problems: list = []
        changed = apply_overrides(config, overrides, problems)
        try:
            config = validate(changed, registry, source=f"{path} with overrides")
        except ConfigError as exc:
            problems.extend(exc.problems)
        if problems:
            raise ConfigError(problems, source=f"{path} with overrides")
    return config, registry
