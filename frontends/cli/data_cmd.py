"""``ser data info|backup``: the data folder holding accounts, speaker profiles and history."""
from __future__ import annotations

import json

import click

from .common import handle_errors


@click.group()
def data():
    """The data folder: accounts, profiles and history (SQLite)."""


@data.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@handle_errors
def info(as_json):
    """Where the data folder is and what it holds."""
    from ser_framework import DataStore

    store = DataStore()
    out = {"path": str(store.path), "schema_version": store.schema_version, "bytes": store.path.stat().st_size,
           "rows": store.counts()}
    if as_json:
        click.echo(json.dumps(out, indent=1))
        return
    click.echo(f"database: {out['path']} (schema {out['schema_version']}, {out['bytes'] / 1024:.0f} KB)")
    click.echo("rows:     " + ", ".join(f"{t} {n}" for t, n in out["rows"].items()))


@data.command()
@click.argument("destination", type=click.Path())
@handle_errors
def backup(destination):
    """Copy the database to DESTINATION (a new file, or a folder), consistently, even while in use."""
    from ser_framework import DataStore

    click.echo(f"backed up to {DataStore().backup(destination)}")


COMMANDS = [data]
