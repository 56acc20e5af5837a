"""``ser profile create|add|list|show|delete``: speaker profiles kept in the data folder.

The command line's profiles belong to the data store's local account
(``ser_framework.LOCAL_USER``); ``ser predict --profile NAME`` reads them
through :func:`stored_profile`.
"""
from __future__ import annotations

import json
import sys

import click

from .common import empty_folder_error, expand_folders, handle_errors, load_model, model_option, plugins_dir_option


def _local():
    from ser_framework import DataStore, local_user

    return local_user(DataStore())


def stored_profile(name: str):
    """The local account's profile ``name`` (``ProfileError`` naming the existing ones if there is none)."""
    return _local().profile(name)


def _enrolled(name, clips, model, plugins_dirs, existing=None):
    from ser_framework import SpeakerProfile

    clips = expand_folders(clips)
    empty = next((e for e in map(empty_folder_error, clips) if e is not None), None)
    if empty is not None:
        raise empty
    bundle = load_model(model, plugins_dirs=plugins_dirs)

    live = sys.stderr.isatty()  # one line rewritten in a terminal, one line per clip in a log

    def progress(done, total):
        click.echo(f"\r{done}/{total} clips" if live else f"{done}/{total} clips", nl=not live or done == total,
                   err=True)

    if existing is None:
        return SpeakerProfile.enrol(bundle, clips, name, progress=progress)
    return existing.updated(bundle, clips, progress=progress)


@click.group()
def profile():
    """Speaker profiles: a voice's feature statistics, so a model can judge that voice against itself."""


def _clips_command(func):
    """``NAME CLIP... [--model BUNDLE] [--plugins-dir DIR]``: the arguments of create and add."""
    for decorate in (handle_errors, plugins_dir_option, model_option,
                     click.argument("clips", nargs=-1, required=True, type=click.Path()), click.argument("name")):
        func = decorate(func)
    return profile.command()(func)


@_clips_command
def create(name, clips, model, plugins_dirs):
    """Create the profile NAME from a speaker's CLIPS (at least 3, ordinary speech; a folder: its audio files)."""
    from ser_framework import ProfileError

    me = _local()
    if name in {p.profile.name for p in me.profiles()}:
        raise ProfileError(f"a profile named {name!r} exists; add clips with 'ser profile add' or delete it first")
    made = _enrolled(name, clips, model, plugins_dirs)
    me.save_profile(made)
    click.echo(f"profile {name!r}: {made.n_clips} clips")


@_clips_command
def add(name, clips, model, plugins_dirs):
    """Add CLIPS of the same speaker to the profile NAME (a folder: its audio files)."""
    me = _local()
    made = _enrolled(name, clips, model, plugins_dirs, existing=me.profile(name))
    me.save_profile(made)
    click.echo(f"profile {name!r}: {made.n_clips} clips")


def _summary(stored) -> dict:
    from datetime import datetime

    p = stored.profile
    return {"name": p.name, "n_clips": p.n_clips, "model_key": p.model_key, "n_features": int(len(p.mean)),
            "updated": datetime.fromtimestamp(stored.updated).astimezone().isoformat(timespec="seconds")}


@profile.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON list.")
@handle_errors
def list_(as_json):
    """List the stored profiles."""
    rows = [_summary(s) for s in _local().profiles()]
    if as_json:
        click.echo(json.dumps(rows, indent=1))
    elif not rows:
        click.echo("no profiles yet; create one with: ser profile create NAME CLIP...")
    for r in [] if as_json else rows:
        click.echo(f"{r['name']}  {r['n_clips']} clips  updated {r['updated']}")


@profile.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the whole profile (its statistics too) as JSON.")
@handle_errors
def show(name, as_json):
    """Show the profile NAME."""
    from datetime import datetime

    me = _local()
    stored = next((s for s in me.profiles() if s.profile.name == name), None)
    if stored is None:
        me.profile(name)  # raises, naming the profiles that exist
    if as_json:
        click.echo(json.dumps({**stored.profile.to_dict(), "updated": datetime.fromtimestamp(stored.updated)
                               .astimezone().isoformat(timespec="seconds")}, indent=1))
        return
    for key, value in _summary(stored).items():
        click.echo(f"{key + ':':12} {value}")


@profile.command()
@click.argument("name")
@handle_errors
def delete(name):
    """Delete the profile NAME."""
    _local().delete_profile(name)
    click.echo(f"deleted profile {name!r}")


COMMANDS = [profile]
