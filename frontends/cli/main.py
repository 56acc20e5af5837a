"""``ser``: the command group; each command lives in its own module (shared parts in common.py)."""
from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ser-framework", prog_name="ser")
def cli():
    """Speech emotion recognition: train, evaluate and use models.

    \b
    ser predict clip.wav            dominant emotion of a clip (shipped model)
    ser listen                      live emotion from the microphone
    ser train configs/default.yaml  train and evaluate from a YAML config
    ser sweep CONFIG -g PATH=A,B    compare every combination under one protocol
    ser profile create NAME CLIP... a speaker profile (judge that voice against itself)
    ser plugins                     list the components configs can name
    """


def _register():
    from . import (
        app_cmd,
        cache_cmd,
        data_cmd,
        fuse_cmd,
        listen_cmd,
        plugins_cmd,
        predict_cmd,
        profile_cmd,
        sweep_cmd,
        train_cmd,
    )

    for module in (train_cmd, sweep_cmd, fuse_cmd, predict_cmd, listen_cmd, profile_cmd, plugins_cmd, cache_cmd,
                   data_cmd, app_cmd):
        for command in module.COMMANDS:
            cli.add_command(command)


_register()


def main():
    """The ``ser`` console command: :func:`cli` in a process of its own, which exits without a final collection."""
    from .common import spare_exit_collection

    spare_exit_collection()
    cli(prog_name="ser")
