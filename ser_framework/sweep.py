"""Sweeps: every combination of some config values, trained and scored under one protocol.

A sweep starts from one validated config (its ``evaluation`` section is the
protocol) and changes keys that exist in it, named by dotted paths as in ``-s``
overrides: axes from the command line (``-g classifier.name=keras_mlp,logistic_regression``)
and from the config's ``sweep:`` section (a mapping ``path: [values]``, whose
axes multiply, or a list of mappings, one combination each). Every combination
is validated before anything runs, and every problem of every combination is
reported at once. Each combination is an ordinary run directory (see
:func:`~ser_framework.experiment.run_training`) named after its index and
values under the sweep folder; one whose run directory already holds
``metrics.json`` is finished and is not run again, so an interrupted sweep
resumes where it stopped.
"""
from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path

from .config import SWEEP_KEY, load_config, read_yaml, set_path, validate
from .errors import ConfigError

#: config sections a sweep may not change: they are the protocol every combination shares
FIXED = ("dataset", "evaluation", "output")


@dataclass
class Combination:
    """One point of a sweep: its settings (dotted path -> value), validated config and run folder."""

    index: int
    settings: dict
    config: dict
    run_dir: Path

    @property
    def label(self) -> str:
        return " ".join(f"{k}={_flow(v)}" for k, v in self.settings.items()) or "(the config as it is)"

    @property
    def finished(self) -> bool:
        return (self.run_dir / "metrics.json").is_file()


def _flow(value) -> str:
    """A value as one line of YAML flow style (``[standard_scaler, {name: pca}]``)."""
    import yaml

    return yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10**6).strip().removesuffix("...").strip()


def split_values(text: str) -> list[str]:
    """Split ``a,b,[c, d],{e: f}`` at the commas outside brackets, braces and quotes."""
    parts, depth, quote, start = [], 0, None, 0
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def parse_grid(options, problems: list) -> dict[str, list]:
    """``-g PATH=V1,V2,...`` options as ``{path: [values]}``, each value read as YAML."""
    import yaml

    axes: dict[str, list] = {}
    for text in options or ():
        where = f"-g {text}"
        path, sep, values = text.partition("=")
        if not sep or not path.strip() or not values.strip():
            problems.append((where, "expected PATH=VALUE1,VALUE2,..., e.g. classifier.name=keras_mlp,logistic_regression"))
            continue
        try:
            parsed = [yaml.safe_load(v) if v else "" for v in split_values(values)]
        except yaml.YAMLError as exc:
            problems.append((where, f"a value is not valid YAML: {getattr(exc, 'problem', exc)}"))
            continue
        if path.strip() in axes:
            problems.append((where, f"{path.strip()} is swept twice; give its values in one -g"))
            continue
        axes[path.strip()] = parsed
    return axes


def _section_combinations(section, problems: list) -> list[dict]:
    """The ``sweep:`` section as a list of ``{path: value}`` combinations."""
    if section is None:
        return [{}]
    if isinstance(section, dict):
        axes = {}
        for path, values in section.items():
            if not isinstance(values, list) or not values:
                problems.append((f"{SWEEP_KEY}.{path}", "expected a non-empty list of values"))
                continue
            axes[str(path)] = values
        return _product(axes)
    if isinstance(section, list) and section and all(isinstance(c, dict) for c in section):
        return [{str(k): v for k, v in c.items()} for c in section]
    problems.append((SWEEP_KEY, "expected a mapping (path: [values], every combination) "
                                "or a list of mappings (one combination each)"))
    return [{}]


def _product(axes: dict[str, list]) -> list[dict]:
    return [dict(zip(axes, values)) for values in itertools.product(*axes.values())]


def _changed_config(base: dict, settings: dict, problems: list, prefix: str) -> dict:
    """``base`` with ``settings`` applied. A ``name`` that changes a component starts from that
    component's default params, unless the same combination also sets its params."""
    config = copy.deepcopy(base)
    for path, value in settings.items():
        parts = path.split(".")
        if parts[0] in FIXED:
            problems.append((prefix + path, f"the protocol is fixed in a sweep ({', '.join(FIXED)} cannot be swept)"))
            continue
        if not set_path(config, parts, value, problems, prefix):
            continue
        if parts[-1] == "name" and len(parts) > 1:
            entry, own = _node(config, parts[:-1]), ".".join(parts[:-1]) + ".params"
            renamed = _node(base, parts[:-1]).get("name") != value
            if renamed and isinstance(entry, dict) and not any(p.startswith(own) for p in settings):
                entry["params"] = {}
    return config


def _node(config, parts: list[str]):
    """The value at an existing dotted path (list items by index)."""
    for part in parts:
        config = config[int(part) if isinstance(config, list) else part]
    return config


def _slug(index: int, settings: dict) -> str:
    words = re.findall(r"[A-Za-z0-9_.]+", " ".join(_flow(v) for v in settings.values()))
    text = "-".join(w for w in words if w not in ("name", "params"))[:60].strip("-") or "base"
    digest = hashlib.sha1(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:6]
    return f"{index + 1:02d}-{text}-{digest}"


def plan_sweep(config_path, grid=(), overrides=(), extra_plugins_dirs=(), out_dir=None, force: bool = False):
    """Validate the base config and every combination; return ``(combinations, registry, out_dir)``.

    Raises :class:`ConfigError` listing every problem of every combination
    (each path led by ``combination N (settings):``), and the run folders that
    hold a finished run of a different config, before anything runs.
    """
    import yaml

    base, registry = load_config(config_path, overrides=overrides, extra_plugins_dirs=extra_plugins_dirs)
    problems: list = []
    section = read_yaml(config_path).get(SWEEP_KEY)
    combos = [{**a, **b} for a in _section_combinations(section, problems)
              for b in _product(parse_grid(grid, problems))]
    if problems:
        raise ConfigError(problems, source=f"sweep of {config_path}")
    out_dir = Path(out_dir) if out_dir else Path(base["output"]["dir"]) / f"{base.get('name') or Path(config_path).stem}-sweep"
    plans = []
    for i, settings in enumerate(combos):
        prefix = f"combination {i + 1} ({Combination(i, settings, base, out_dir).label}): "
        found: list = []
        changed = _changed_config(base, settings, found, prefix)
        try:  # also when a setting failed: every problem of the combination at once
            changed = validate(changed, registry, source=f"combination {i + 1}")
        except ConfigError as exc:
            found += [(prefix + p, m) for p, m in exc.problems]
        problems.extend(found)
        combo = Combination(i, settings, changed, out_dir / _slug(i, settings))
        if not found and combo.finished and not force:
            done = yaml.safe_load((combo.run_dir / "config.yaml").read_text())
            if done != changed:
                problems.append((prefix.rstrip(": "), f"{combo.run_dir} holds a finished run of another config; "
                                                      f"remove it, use another --output or --force"))
        plans.append(combo)
    if problems:
        raise ConfigError(problems, source=f"sweep of {config_path}")
    return plans, registry, out_dir


def _table_key(config: dict) -> str:
    """What the feature table depends on: combinations that share it extract once."""
    keys = ("dataset", "features", "audio", "augmentation", "extraction", "seed", "plugins_dir")
    return json.dumps({k: config.get(k) for k in keys}, sort_keys=True, default=str)


def run_sweep(plans: list[Combination], registry, out_dir, *, progress: bool = True, force: bool = False,
              cost_clips: int = 12, on_done=None) -> list[dict]:
    """Run every unfinished combination, measure each bundle, write ``sweep.md`` and ``sweep.csv``.

    Returns the table rows (one dict per combination, in order).
    ``on_done(combination, row)`` is called as each combination is finished
    (run now or found finished).
    """
    from tqdm.auto import tqdm

    from .experiment import build_table, run_training
    from .sweep_table import measure_row, write_tables

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tables: dict[str, object] = {}
    rows = []
    bar = tqdm(plans, desc="combinations", unit="run", disable=not progress)
    for combo in bar:
        bar.set_postfix_str(combo.label[:60])
        if force or not combo.finished:
            key = _table_key(combo.config)
            if key not in tables:
                tables[key] = build_table(combo.config, registry, progress=progress)[0]
            run_training(combo.config, registry, combo.run_dir, progress=progress, overwrite=force, table=tables[key])
        row = measure_row(combo, registry, cost_clips=cost_clips)
        rows.append(row)
        if on_done is not None:
            on_done(combo, row)
    write_tables(rows, out_dir)
    return rows


__all__ = ["Combination", "plan_sweep", "run_sweep", "parse_grid", "split_values", "FIXED"]
