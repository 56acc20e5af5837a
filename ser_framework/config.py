"""Experiment configs: YAML in, a validated and fully resolved dict out.

Every problem is collected with its dotted path and raised together as one
:class:`~ser_framework.errors.ConfigError`. Components are validated against the
schema of the plugin they name; top-level sections against the schemas below.
"""
from __future__ import annotations

import copy
from pathlib import Path

from .errors import ConfigError
from .schema import Param, Problems, check_value, validate_params

AUDIO_SCHEMA = {
    "sample_rate": Param(int, 22050, "rate every clip is resampled to (Hz)", min=4000, max=192000),
    "min_duration": Param(float, 0.1, "shortest clip accepted (s)", min=0.0),
    "max_duration": Param(float, 600.0, "longest clip accepted (s)", min=0.1),
}
EXTRACTION_SCHEMA = {
    "n_jobs": Param(int, 1, "parallel workers for feature extraction (-1: all cores)", min=-1),
    "backend": Param(str, "loky", "joblib backend", choices=("loky", "threading", "sequential", "dask")),
    "dask_address": Param(str, None, "Dask scheduler address; null starts a LocalCluster", nullable=True),
    "cache": Param(bool, True, "reuse features computed before (content-addressed)"),
    "cache_dir": Param(str, None, "feature cache location (default: $SER_CACHE_DIR or ~/.cache/ser-framework)", nullable=True),
}
EVALUATION_SCHEMA = {
    "protocol": Param(
        str, "group_kfold", "how to split",
        choices=("group_kfold", "holdout_speakers", "kfold", "holdout"),
    ),
    "n_splits": Param(int, 5, "folds for the k-fold protocols", min=2),
    "test_speakers": Param(list, None, "speakers held out (holdout_speakers); null: pick test_size of them", nullable=True, item=str),
    "test_size": Param(float, 0.2, "fraction held out when test_speakers is null / for holdout", min=0.01, max=0.9),
    "validation_fraction": Param(float, 0.0, "fraction of training speakers held out for the classifier's early stopping (0: callbacks watch the training loss)", min=0.0, max=0.5),
    "refit": Param(bool, True, "fit the bundled model on all data after evaluating"),
}
OUTPUT_SCHEMA = {
    "dir": Param(str, "runs", "parent folder of run directories"),
}
SECTION_SCHEMAS = {
    "audio": AUDIO_SCHEMA,
    "extraction": EXTRACTION_SCHEMA,
    "evaluation": EVALUATION_SCHEMA,
    "output": OUTPUT_SCHEMA,
}
#: component sections: key -> (kind, is_list, nullable)
COMPONENT_SECTIONS = {
    "dataset": ("dataset", False, False),
    "features": ("feature", True, False),
    "balancer": ("balancer", False, True),
    "selectors": ("selector", True, False),
    "classifier": ("classifier", False, False),
}
TOP_LEVEL = {"name", "seed", "plugins_dir", *SECTION_SCHEMAS, *COMPONENT_SECTIONS}


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


def read_yaml(path, problems: Problems | None = None) -> dict:
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
        problems.items.extend(duplicates)
    return data


def plugins_dirs_of(raw: dict) -> list[str]:
    value = raw.get("plugins_dir") if isinstance(raw, dict) else None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []  # missing, or a wrong type that validate() reports


def _component(entry, kind, path, registry, problems):
    if isinstance(entry, str):
        entry = {"name": entry}
    if not isinstance(entry, dict):
        problems.add(path, f"expected a mapping with 'name' and 'params', got {type(entry).__name__}")
        return None
    for key in entry:
        if key not in ("name", "params"):
            problems.add(f"{path}.{key}", "unknown key (expected name, params)")
    name = entry.get("name")
    if not isinstance(name, str):
        problems.add(f"{path}.name", f"a {kind} name is required")
        return None
    if not registry.has(kind, name):
        problems.add(f"{path}.name", registry.unknown_message(kind, name))
        return None
    schema = registry.get(kind, name).params
    params = validate_params(entry.get("params"), schema, f"{path}.params", problems)
    return {"name": name, "params": params}


def validate(raw: dict, registry, source=None) -> dict:
    """Validate a raw config against the registry; return it resolved with defaults."""
    problems = Problems()
    out: dict = {}
    if not isinstance(raw, dict):
        raise ConfigError("the top level must be a mapping", source=source)
    for key in raw:
        if key not in TOP_LEVEL:
            problems.add(str(key), f"unknown key (known: {', '.join(sorted(TOP_LEVEL))})")
    out["name"] = check_value(raw.get("name", None), Param(str, None, nullable=True), "name", problems)
    out["seed"] = check_value(raw.get("seed", 0), Param(int, 0, min=0, max=2**32 - 1), "seed", problems)
    pd_value = raw.get("plugins_dir")
    if pd_value is not None and not (
        isinstance(pd_value, str) or (isinstance(pd_value, list) and all(isinstance(v, str) for v in pd_value))
    ):
        problems.add("plugins_dir", "expected a folder path or a list of them")
    out["plugins_dir"] = pd_value
    for section, schema in SECTION_SCHEMAS.items():
        out[section] = validate_params(raw.get(section), schema, section, problems)
    for key, (kind, is_list, nullable) in COMPONENT_SECTIONS.items():
        value = raw.get(key)
        if value is None:
            if nullable:
                out[key] = None
            else:
                problems.add(key, f"is required ({'a list of ' if is_list else 'a '}{kind}{'s' if is_list else ''})")
            continue
        if is_list:
            if not isinstance(value, list):
                problems.add(key, f"expected a list of {kind}s")
                continue
            if key == "features" and not value:
                problems.add(key, "needs at least one feature extractor")
            out[key] = [_component(v, kind, f"{key}.{i}", registry, problems) for i, v in enumerate(value)]
        else:
            out[key] = _component(value, kind, key, registry, problems)
    ev = out.get("evaluation") or {}
    if ev.get("protocol") == "holdout_speakers" and ev.get("test_speakers") == []:
        problems.add("evaluation.test_speakers", "must name at least one speaker, or be null")
    if problems:
        raise ConfigError(problems.items, source=source)
    return out


def parse_override(text: str) -> tuple[list[str], object]:
    import yaml

    key, value = text.split("=", 1)
    try:
        parsed = yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError:
        parsed = value
    return key.strip().split("."), parsed


def apply_overrides(config: dict, overrides, problems: Problems | None = None) -> dict:
    """Apply ``key.path=value`` overrides to a resolved config; keys must exist.

    Problems are added to ``problems`` when given (so they are reported with the
    rest), otherwise raised at once.
    """
    config = copy.deepcopy(config)
    own = problems is None
    problems = Problems() if own else problems
    for text in overrides or ():
        if "=" not in text:
            problems.add(f"-s {text}", "expected KEY=VALUE, e.g. classifier.params.epochs=50")
            continue
        parts, value = parse_override(text)
        node = config
        for i, part in enumerate(parts):
            where = ".".join(parts[: i + 1])
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    problems.add(where, f"no such item (the list has {len(node)})")
                    break
                part = int(part)
            elif not isinstance(node, dict) or part not in node:
                problems.add(where, "no such key in the config (overrides may only change existing keys)")
                break
            if i == len(parts) - 1:
                node[part] = value
            else:
                node = node[part]
    if own and problems:
        raise ConfigError(problems.items, source="command-line overrides")
    return config


def load_config(path, registry_factory=None, overrides=(), extra_plugins_dirs=()):
    """Read, validate and override a config. Returns ``(config, registry)``."""
    from .plugins import get_registry

    early = Problems()
    raw = read_yaml(path, early)
    dirs = list(extra_plugins_dirs) + plugins_dirs_of(raw)
    registry = (registry_factory or get_registry)(dirs)
    try:
        config = validate(raw, registry, source=str(path))
    except ConfigError as exc:
        raise ConfigError(early.items + exc.problems, source=str(path)) from None
    if early:
        raise ConfigError(early.items, source=str(path))
    if overrides:
        problems = Problems()
        changed = apply_overrides(config, overrides, problems)
        try:
            config = validate(changed, registry, source=f"{path} with overrides")
        except ConfigError as exc:
            problems.items.extend(exc.problems)
        if problems:
            raise ConfigError(problems.items, source=f"{path} with overrides")
    return config, registry
