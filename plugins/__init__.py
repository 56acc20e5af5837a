"""The default plugins of ser-framework (installed as ``ser_plugins``).

Each module is an ordinary pluggy plugin registered through the same hooks as
third-party packages; see ``ser_framework.plugins.DEFAULT_PLUGINS``.
"""
