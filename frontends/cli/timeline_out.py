"""``ser predict --segments``: emotion timelines of long recordings, as a table, JSON or CSV."""
from __future__ import annotations

import json

import click

#: files shorter than this (seconds) get no progress bar
PROGRESS_MIN_SECONDS = 60.0


def _progress_bar(path: str, quiet: bool):
    """A tqdm bar in seconds of audio, created on the first report (when the duration is known)."""
    state: dict = {}

    def report(done: float, total: float):
        if quiet or total < PROGRESS_MIN_SECONDS:
            return
        if "bar" not in state:
            from tqdm.auto import tqdm

            tqdm.monitor_interval = 0  # no monitor thread: the next file's timeline may still fork its workers
            state["bar"] = tqdm(total=round(total, 1), unit="s", desc=click.format_filename(path, shorten=True),
                                leave=False, dynamic_ncols=True, bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s [{elapsed}<{remaining}]")
        bar = state["bar"]
        bar.update(round(done, 1) - bar.n)

    def close():
        if "bar" in state:
            state["bar"].close()

    return report, close


def predict_segments(bundle, files, *, top: int, as_json: bool, csv_path: str | None, quiet: bool) -> None:
    from ser_framework import emotion_timeline as timeline
    from ser_framework import timeline_table as table
    from ser_framework import write_timeline_csv as write_csv

    results = []
    for f in files:
        report, close = _progress_bar(f, quiet)
        try:
            results.append(timeline(bundle, f, progress=report, name=f))
        finally:
            close()
    if csv_path:
        write_csv(results, csv_path)
    if as_json:
        click.echo(json.dumps([tl.as_dict() for tl in results], indent=1))
    else:
        for tl in results:
            click.echo(table(tl, top=top), nl=False)
        if csv_path:
            click.echo(f"timeline written to {csv_path}", err=True)
