"""``python -m ser_frontends.cli`` runs the ``ser`` command."""
from .main import cli

cli(prog_name="ser")
