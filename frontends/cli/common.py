"""What every ``ser`` command shares: error handling and common options.

Kept apart from ``main.py`` so command modules never import the module that
imports them.
"""
from __future__ import annotations

import contextlib
import functools
import gc
import os
import sys

import click

#: environment variable carrying ``--plugins-dir`` folders to the web app's process
PLUGINS_DIRS_ENV = "SER_PLUGINS_DIRS"


def handle_errors(func):
    """Turn project errors into ``click`` errors: a message on stderr and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from ser_framework import ConfigError, SerError

        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None
        except SerError as exc:
            raise click.ClickException(one_line(exc)) from None
        except KeyboardInterrupt:
            click.echo("interrupted; nothing was written", err=True)
            sys.exit(130)

    return wrapper


#: set by :func:`spare_exit_collection`: this is a ``ser`` process of its own, so its collector may be tuned
_OWN_PROCESS = False


def spare_exit_collection() -> None:
    """Skip the cyclic garbage collection of this process's exit (the ``ser`` console command only).

    A ``ser`` process that has loaded scipy, numba and librosa spends 0.4-0.7 s
    after its last line in the final collection, traversing every object those
    libraries made, only to free memory the exit frees anyway. ``gc.freeze()``
    in an ``atexit`` hook (atexit runs first: stdio is flushed, other hooks and
    reference-counted cleanup still run) moves everything out of its reach.
    """
    import atexit

    global _OWN_PROCESS
    _OWN_PROCESS = True
    atexit.register(gc.freeze)


@contextlib.contextmanager
def heavy_loading():
    """Import libraries and load a model without the cyclic collector, then freeze what was built.

    Imports make hundreds of thousands of long-lived objects, so collections
    during them traverse the same objects again and again for nothing; frozen
    afterwards, later collections skip them, and workers forked from this
    process do not write to (and so copy) those pages when they collect.
    Only in a ``ser`` process of its own: a program that calls the commands
    in-process (a test's ``CliRunner``) keeps its collector as it was.
    """
    if not _OWN_PROCESS:
        yield
        return
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def load_model(model, **kwargs):
    """``ser_framework.load_bundle(model, **kwargs)`` under :func:`heavy_loading`: every command that loads a model."""
    from ser_framework import load_bundle

    with heavy_loading():
        return load_bundle(model, **kwargs)


def expand_folders(paths) -> list[str]:
    """``paths`` with each folder replaced by the audio files under it (all depths, sorted).

    A file is audio by its ending (``ser_framework.AUDIO_SUFFIXES``); hidden files
    and folders are skipped. A folder that holds none stays in the list as it is,
    so its own error line says so (see :func:`empty_folder_error`). Files keep
    their place and spelling.
    """
    from pathlib import Path

    from ser_framework import AUDIO_SUFFIXES

    out: list[str] = []
    for path in paths:
        folder = Path(path)
        if not folder.is_dir():
            out.append(path)
            continue
        found = sorted(str(p) for p in folder.rglob("*")
                       if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file()
                       and not any(part.startswith(".") for part in p.relative_to(folder).parts))
        out.extend(found or [path])
    return out


def empty_folder_error(path):
    """The error of a folder :func:`expand_folders` left in place, or ``None`` if ``path`` is no folder."""
    from pathlib import Path

    from ser_framework import AUDIO_SUFFIXES, AudioNotFoundError

    if not Path(path).is_dir():
        return None
    common = [s for s in (".wav", ".flac", ".mp3", ".ogg", ".m4a", ".webm") if s in AUDIO_SUFFIXES]
    return AudioNotFoundError(f"{path} is a folder, not an audio file, and holds none "
                              f"(looked for {', '.join(common)} and {len(AUDIO_SUFFIXES) - len(common)} more endings)")


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def plugins_dir_option(func):
    return click.option(
        "--plugins-dir", "plugins_dirs", multiple=True, type=click.Path(file_okay=False),
        help="Folder of local plugin modules (*.py); may be repeated.",
    )(func)


def quiet_option(func):
    return click.option("-q", "--quiet", is_flag=True, help="No progress bars.")(func)


def set_option(func):
    return click.option(
        "-s", "--set", "overrides", multiple=True, metavar="KEY=VALUE",
        help="Override a config key that exists, e.g. -s classifier.params.epochs=50 (repeatable).",
    )(func)


def model_option(func):
    return click.option(
        "-m", "--model", type=click.Path(), default=None,
        help="Model bundle folder (default: the model shipped with ser-framework).",
    )(func)


def plugins_dirs_to_env(plugins_dirs) -> str:
    return os.pathsep.join(os.path.abspath(d) for d in plugins_dirs)

