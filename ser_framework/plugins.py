"""Building a plugin manager and the registry from it.

Built-in plugins are ordinary plugin modules listed in :data:`DEFAULT_PLUGINS`
and registered through the same hooks as third-party ones. External plugins
come from the ``ser_framework`` entry-point group (set
``SER_DISABLE_PLUGIN_AUTOLOAD=1`` to skip them) or from a folder of ``.py``
modules (``plugins_dir`` in a config, ``--plugins-dir`` on the command line).
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
from pathlib import Path

import pluggy

from . import hookspecs
from .components import KINDS
from .errors import PluginError
from .registry import Registry

ENTRY_POINT_GROUP = "ser_framework"
AUTOLOAD_ENV = "SER_DISABLE_PLUGIN_AUTOLOAD"
#: prefix of the module names given to local plugin files
LOCAL_PACKAGE = "ser_local_plugins"

DEFAULT_PLUGINS = (
    "ser_plugins.datasets",
    "ser_plugins.features",
    "ser_plugins.features_voice",
    "ser_plugins.features_quality",
    "ser_plugins.features_modulation",
    "ser_plugins.features_opensmile",
    "ser_plugins.features_frames",
    "ser_plugins.balancers",
    "ser_plugins.selectors",
    "ser_plugins.classifiers",
    "ser_plugins.augmenters",
)


def hook_name(kind: str) -> str:
    """The registration hook of a component kind: ``register_<kind>s``."""
    return f"register_{kind}s"


def local_module_name(path: Path) -> str:
    """A module name unique to one file: its stem plus a digest of its absolute path."""
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    stem = "".join(c if c.isalnum() else "_" for c in path.stem)
    return f"{LOCAL_PACKAGE}.{stem}_{digest}"


def _load_dir_modules(pm: pluggy.PluginManager, directory) -> None:
    """Import every ``*.py`` of ``directory`` as a plugin, the way ``importlib`` documents it.

    The module is placed in ``sys.modules`` before it runs (dataclasses and
    ``from __future__ import annotations`` need that) and removed again if it
    fails; each file gets a name of its own, so same-named files in different
    folders are separate plugins.
    """
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise PluginError(f"plugins directory not found: {directory}")
    for path in sorted(directory.glob("*.py")):
        if path.name.startswith("_"):
            continue
        modname = local_module_name(path)
        if pm.get_plugin(modname) is not None:  # the same folder named twice
            continue
        spec = importlib.util.spec_from_file_location(modname, path)
        module = importlib.util.module_from_spec(spec)
        module.__ser_source__ = f"local:{path.resolve()}"
        sys.modules[modname] = module
        try:
            spec.loader.exec_module(module)
        except BaseException as exc:
            sys.modules.pop(modname, None)
            if not isinstance(exc, Exception):
                raise
            raise PluginError(f"could not import plugin {path}: {type(exc).__name__}: {exc}") from exc
        _pickle_by_value(module)
        pm.register(module, name=modname)


def _pickle_by_value(module) -> None:
    """Let joblib's process workers receive a local plugin's classes.

    Workers cannot import ``ser_local_plugins.*`` (it exists only in this
    process), so cloudpickle sends such modules' code by value.
    """
    try:
        from joblib.externals import cloudpickle  # joblib < 1.5 vendors it
    except ImportError:
        try:
            import cloudpickle  # joblib >= 1.5 depends on it
        except ImportError:  # pragma: no cover
            return
    cloudpickle.register_pickle_by_value(module)


def get_plugin_manager(plugins_dirs=(), load_entrypoints: bool | None = None) -> pluggy.PluginManager:
    """Return a fresh plugin manager with built-in, installed and local plugins."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for modname in DEFAULT_PLUGINS:
        pm.register(importlib.import_module(modname), name=modname)
    if load_entrypoints is None:
        load_entrypoints = not os.environ.get(AUTOLOAD_ENV)
    if load_entrypoints:
        try:
            pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        except Exception as exc:
            raise PluginError(f"could not load an installed plugin: {exc}") from exc
    for d in plugins_dirs or ():
        _load_dir_modules(pm, d)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(str(exc)) from exc
    return pm


def _source_of(pm: pluggy.PluginManager, plugin) -> str:
    name = pm.get_name(plugin) or ""
    if name in DEFAULT_PLUGINS:
        return "built-in"
    for plug, dist in pm.list_plugin_distinfo():
        if plug is plugin:
            return dist.metadata["name"] or dist.project_name
    return getattr(plugin, "__ser_source__", name)


def build_registry(pm: pluggy.PluginManager) -> Registry:
    """Call every registration hook, one plugin at a time so each spec knows its source."""
    registry = Registry()
    for kind in KINDS:
        hook = getattr(pm.hook, hook_name(kind))
        impls = [(impl, _source_of(pm, impl.plugin)) for impl in hook.get_hookimpls()]
        impls.sort(key=lambda pair: pair[1] != "built-in")  # built-ins first, so a clash names the newcomer
        for impl, source in impls:

            def register(cls, _kind=kind, _source=source):
                registry.add(_kind, cls, _source)

            impl.function(register=register)
    return registry


def get_registry(plugins_dirs=(), load_entrypoints: bool | None = None) -> Registry:
    """Shortcut: a fresh plugin manager's registry."""
    return build_registry(get_plugin_manager(plugins_dirs, load_entrypoints))
