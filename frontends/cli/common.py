"""What every ``ser`` command shares: error handling and common options.

Kept apart from ``main.py`` so command modules never import the module that
imports them.
"""
from __future__ import annotations

import functools
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

