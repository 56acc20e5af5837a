"""``ser app``: serve the Streamlit web page."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click

from .common import PLUGINS_DIRS_ENV, handle_errors, model_option, plugins_dir_option, plugins_dirs_to_env

APP_FILE = Path(__file__).resolve().parents[1] / "app" / "streamlit_app.py"


def streamlit_command(port: int, address: str | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "streamlit", "run", str(APP_FILE),
           "--server.port", str(port), "--server.headless", "true",
           "--browser.gatherUsageStats", "false"]
    if address:
        cmd += ["--server.address", address]
    return cmd


@click.command()
@model_option
@click.option("-p", "--port", default=8501, show_default=True, type=click.IntRange(1, 65535),
              help="Port the page is served on.")
@click.option("--address", default=None, help="Address to listen on (default: Streamlit's, all interfaces).")
@click.option("--max-seconds", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Longest recording accepted, in seconds (default 3600; env SER_APP_MAX_SECONDS). Recordings over 30 s get a timeline.")
@plugins_dir_option
@handle_errors
def app(model, port, address, max_seconds, plugins_dirs):
    """Serve the web page: upload or record a clip, see its dominant emotion.

    The upload size limit is [server] maxUploadSize in the app's .streamlit/config.toml.
    """
    from ser_framework import load_bundle

    load_bundle(model, plugins_dirs=plugins_dirs)  # refuse a bad bundle here, in one line, not in the page
    env = dict(os.environ)
    if model is not None:
        env["SER_MODEL"] = str(Path(model).resolve())
    if plugins_dirs:
        env[PLUGINS_DIRS_ENV] = plugins_dirs_to_env(plugins_dirs)
    if max_seconds is not None:
        env["SER_APP_MAX_SECONDS"] = str(max_seconds)
    click.echo(f"serving on http://localhost:{port}  (Ctrl+C to stop)", err=True)
    cmd = streamlit_command(port, address)
    if os.name == "posix":  # become the server: signals (Ctrl+C, kill) reach Streamlit directly
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(cmd[0], cmd, env)
    try:
        code = subprocess.call(cmd, env=env)
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)


COMMANDS = [app]
