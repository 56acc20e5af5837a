"""``ser cache info`` and ``ser cache clear``: the content-addressed feature cache."""
from __future__ import annotations

import json

import click

from .common import handle_errors

cache_dir_option = click.option(
    "--cache-dir", type=click.Path(file_okay=False), default=None,
    help="Cache folder (default: $SER_CACHE_DIR, else $XDG_CACHE_HOME/ser-framework or ~/.cache/ser-framework).",
)


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover


@click.group()
def cache():
    """Inspect or empty the feature cache (features reused across runs)."""


@cache.command()
@cache_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@handle_errors
def info(cache_dir, as_json):
    """Where the cache is, how many entries it holds and their size."""
    from ser_framework import CACHE_FORMAT as FORMAT
    from ser_framework import FeatureCache

    fc = FeatureCache(cache_dir)
    st = fc.stats()
    if as_json:
        click.echo(json.dumps({"path": str(fc.root), "exists": fc.root.is_dir(), "entries": st.entries,
                               "bytes": st.bytes, "partial_files": st.partial, "format": FORMAT}, indent=1))
        return
    click.echo(f"path:    {fc.root}{'' if fc.root.is_dir() else '  (not created yet)'}")
    click.echo(f"entries: {st.entries} (one per clip and extractor)")
    click.echo(f"size:    {_size(st.bytes)}")
    if st.partial:
        click.echo(f"partial: {st.partial} temporary file(s) left by interrupted runs (removed by 'ser cache clear')")


@cache.command()
@cache_dir_option
@handle_errors
def clear(cache_dir):
    """Delete every cached feature vector."""
    from ser_framework import FeatureCache

    fc = FeatureCache(cache_dir)
    removed = fc.clear()
    click.echo(f"removed {removed.entries} entries ({_size(removed.bytes)}) from {fc.root}")


COMMANDS = [cache]
