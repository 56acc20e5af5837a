"""``python -m ser_frontends.cli`` runs the ``ser`` command."""
from .main import main

main()
