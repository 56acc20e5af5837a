"""``ser sweep``: every combination of some config values under one protocol, one comparison table."""
from __future__ import annotations

import click

from .common import handle_errors, plugins_dir_option, quiet_option, set_option


@click.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("-g", "--grid", multiple=True, metavar="PATH=V1,V2,...",
              help="Sweep a config key over values read as YAML, e.g. -g classifier.name=keras_mlp,logistic_regression "
                   "(repeatable; the axes multiply, and multiply the config's sweep: section).")
@set_option
@click.option("-o", "--output", type=click.Path(file_okay=False),
              help="Sweep folder (default: output.dir/NAME-sweep); finished combinations in it are not run again.")
@click.option("--force", is_flag=True, help="Run every combination again, replacing finished runs.")
@click.option("--dry-run", is_flag=True, help="Validate and list the combinations; run nothing.")
@click.option("--cost-clips", default=12, show_default=True, type=click.IntRange(min=1),
              help="Clips timed to measure the prediction cost per clip.")
@plugins_dir_option
@quiet_option
@handle_errors
def sweep(config, grid, overrides, output, force, dry_run, cost_clips, plugins_dirs, quiet):
    """Train and score every combination of the swept values with CONFIG's protocol.

    Every combination is validated first, and all problems are reported at once.
    Writes one run directory per combination and a comparison table (sweep.md,
    sweep.csv: UAR, accuracy, macro-F1, worst condition, ECE, fit time, model
    size, prediction cost per clip) in the sweep folder.
    """
    from ser_framework import markdown_table, plan_sweep, run_sweep

    plans, registry, out_dir = plan_sweep(config, grid, overrides, plugins_dirs, output, force)
    pending = sum(force or not c.finished for c in plans)
    click.echo(f"{len(plans)} combination{'s' if len(plans) != 1 else ''} ({pending} to run) in {out_dir}")
    if dry_run:
        for c in plans:
            state = "finished" if c.finished and not force else "to run"
            click.echo(f"  {c.index + 1:2d}. {c.label}  [{state}: {c.run_dir.name}]")
        return
    rows = run_sweep(plans, registry, out_dir, progress=not quiet, force=force, cost_clips=cost_clips)
    click.echo(markdown_table(rows), nl=False)
    click.echo(f"table: {out_dir / 'sweep.md'}, {out_dir / 'sweep.csv'}")


COMMANDS = [sweep]
