"""``ser``: the command group, shared options and error handling."""
from __future__ import annotations

import functools
import os
import sys

import click

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


def handle_errors(func):
    """Turn project errors into ``click`` errors: a message on stderr and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from ser_framework.errors import ConfigError, SerError

        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None
        except SerError as exc:
            raise click.ClickException(" ".join(str(exc).split())) from None
        except KeyboardInterrupt:
            click.echo("interrupted; nothing was written", err=True)
            sys.exit(130)

    return wrapper


def plugins_dir_option(func):
    return click.option(
        "--plugins-dir", "plugins_dirs", multiple=True, type=click.Path(file_okay=False),
        help="Folder of local plugin modules (*.py); may be repeated.",
    )(func)


def quiet_option(func):
    return click.option("-q", "--quiet", is_flag=True, help="No progress bars.")(func)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ser-framework", prog_name="ser")
def cli():
    """Speech emotion recognition: train, evaluate and use models.

    \b
    ser predict clip.wav            dominant emotion of a clip (shipped model)
    ser train configs/default.yaml  train and evaluate from a YAML config
    ser plugins                     list the components configs can name
    """


def _register():
    from . import app_cmd, cache_cmd, plugins_cmd, predict_cmd, train_cmd

    for module in (train_cmd, predict_cmd, plugins_cmd, cache_cmd, app_cmd):
        for command in module.COMMANDS:
            cli.add_command(command)


_register()
