"""``ser train``, ``ser validate`` and ``ser extract``."""
from __future__ import annotations

from pathlib import Path

import click

from .common import handle_errors, plugins_dir_option, quiet_option, set_option


def _load(config, overrides, plugins_dirs):
    from ser_framework import load_config

    return load_config(config, overrides=overrides, extra_plugins_dirs=plugins_dirs)


@click.command()
@click.argument("config", type=click.Path(dir_okay=False))
@set_option
@click.option("-o", "--output", type=click.Path(file_okay=False), help="Run directory (default: output.dir/NAME-TIME).")
@click.option("--force", is_flag=True, help="Replace the run directory if it exists.")
@plugins_dir_option
@quiet_option
@handle_errors
def train(config, overrides, output, force, plugins_dirs, quiet):
    """Train and evaluate the experiment in CONFIG; write a run directory with a model bundle."""
    from ser_framework import default_run_dir, run_training

    cfg, registry = _load(config, overrides, plugins_dirs)
    run_dir = Path(output) if output else default_run_dir(cfg, config)
    result = run_training(cfg, registry, run_dir, progress=not quiet, overwrite=force)
    m = result.metrics
    click.echo(f"protocol: {m['protocol_description']}")
    click.echo(f"accuracy {m['accuracy']:.3f}  UAR {m['uar']:.3f}  macro-F1 {m['macro_f1']:.3f}  (n={m['n']})")
    if len(m["folds"]) > 1:
        s = m["fold_summary"]
        click.echo(f"per fold: accuracy {s['accuracy']['mean']:.3f} ± {s['accuracy']['std']:.3f}, "
                   f"UAR {s['uar']['mean']:.3f} ± {s['uar']['std']:.3f}")
    if "calibration" in m:
        c = m["calibration"]
        click.echo(f"calibration: temperature {c['temperature']:.2f}, ECE {c['ece_raw']:.3f} before, "
                   f"{c['ece']:.3f} after ({c['n_bins']} bins)")
    if "conditions" in m:
        cond = "  ".join(f"{name} {c['uar']:.3f}" for name, c in m["conditions"].items())
        click.echo(f"UAR per condition: {cond}")
        w = m["worst_condition"]
        if w:
            ratio = "n/a" if w["uar_ratio"] is None else f"{w['uar_ratio']:.2f}"
            click.echo(f"worst condition: {w['name']} (UAR {w['uar']:.3f}, {ratio} × clean)")
    click.echo(f"run directory: {result.run_dir}")
    click.echo(f"model bundle:  {result.bundle_dir}")


@click.command()
@click.argument("config", type=click.Path(dir_okay=False))
@set_option
@plugins_dir_option
@handle_errors
def validate(config, overrides, plugins_dirs):
    """Check CONFIG against every component's schema; report all problems at once."""
    cfg, _ = _load(config, overrides, plugins_dirs)
    parts = [cfg["dataset"]["name"], "+".join(f["name"] for f in cfg["features"]),
             (cfg["balancer"] or {}).get("name", "no balancer"),
             " > ".join(s["name"] for s in cfg["selectors"]) or "no selectors", cfg["classifier"]["name"]]
    aug = cfg.get("augmentation")
    if aug:
        parts.insert(2, f"{aug['copies']} augmented copies per training clip")
    sn = cfg.get("speaker_normalisation")
    if sn:
        parts.insert(-2, f"per-speaker normalisation ({sn['enrol']}-clip profiles)")
    conditions = cfg["evaluation"].get("conditions")
    tail = f"; conditions {conditions if isinstance(conditions, str) else ', '.join(conditions)}" if conditions else ""
    click.echo(f"{config}: valid ({' | '.join(parts)}; protocol {cfg['evaluation']['protocol']}{tail})")


@click.command()
@click.argument("config", type=click.Path(dir_okay=False))
@set_option
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Parquet file (default: output.dir/NAME-features.parquet).")
@plugins_dir_option
@quiet_option
@handle_errors
def extract(config, overrides, output, plugins_dirs, quiet):
    """Extract the feature table of CONFIG's dataset into a Parquet file (path, label, speaker, f0..fN)."""
    from ser_framework import atomic_write_bytes, build_table

    cfg, registry = _load(config, overrides, plugins_dirs)
    table, _ = build_table(cfg, registry, progress=not quiet)
    out = Path(output) if output else Path(cfg["output"]["dir"]) / f"{cfg.get('name') or Path(config).stem}-features.parquet"
    import io

    buf = io.BytesIO()
    table.to_parquet(buf, index=False)
    atomic_write_bytes(out, buf.getvalue())
    n_feat = sum(1 for c in table.columns if c.startswith("f") and c[1:].isdigit())
    copies = int((table["copy"] > 0).sum()) if "copy" in table.columns else 0
    extra = f" (and {copies} augmented copies)" if copies else ""
    click.echo(f"{len(table) - copies} clips{extra} × {n_feat} features → {out}")


COMMANDS = [train, validate, extract]
