"""``ser plugins``: what configs can name."""
from __future__ import annotations

import json

import click

from .common import handle_errors, plugins_dir_option


@click.command(name="plugins")
@click.option("--json", "as_json", is_flag=True,
              help="Print a JSON list of {name, kind, source, description, params, schema (JSON Schema)}.")
@plugins_dir_option
@handle_errors
def plugins_command(as_json, plugins_dirs):
    """List registered datasets, features, balancers, selectors and classifiers."""
    from ser_framework import get_registry

    specs = get_registry(plugins_dirs).all()
    if as_json:
        click.echo(json.dumps([s.as_dict() for s in specs], indent=1))
        return
    kind = None
    for s in specs:
        if s.kind != kind:
            kind = s.kind
            click.echo(f"\n{kind}s:" if kind != "dataset" else f"{kind}s:")
        params = ", ".join(f"{k}={p['default']!r}" for k, p in s.as_dict()["params"].items())
        click.echo(f"  {s.name:<20} [{s.source}] {s.description}")
        if params:
            click.echo(f"  {'':<20} params: {params}")


COMMANDS = [plugins_command]
