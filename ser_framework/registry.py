"""The component registry: what every plugin registered, by kind and name.

:meth:`Registry.build` is the one way to make a component: it validates the
params against the component's ``Params`` model (defaults filled, every problem
reported with its path) and only then calls the class.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from . import params as _params
from .components import KINDS, REQUIRED_METHODS
from .errors import ConfigError, PluginError


@dataclass(frozen=True)
class ComponentSpec:
    kind: str
    name: str
    cls: type
    source: str

    @property
    def Params(self) -> type[BaseModel]:  # noqa: N802 - mirrors the class attribute
        return self.cls.Params

    @property
    def description(self) -> str:
        doc = getattr(self.cls, "description", "") or (self.cls.__doc__ or "")
        return doc.strip().splitlines()[0] if doc.strip() else ""

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "source": self.source,
            "description": self.description,
            "params": _params.describe(self.Params),
            "schema": self.Params.model_json_schema(),
        }


class Registry:
    """Holds component specs; duplicate names fail, unknown names list the known ones."""

    def __init__(self):
        self._specs: dict[str, dict[str, ComponentSpec]] = {k: {} for k in KINDS}

    def add(self, kind: str, cls: type, source: str) -> None:
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not name:
            raise PluginError(f"{source}: {kind} class {cls!r} has no 'name'")
        missing = [m for m in REQUIRED_METHODS[kind] if not callable(getattr(cls, m, None))]
        if missing:
            raise PluginError(f"{source}: {kind} '{name}' lacks method(s) {', '.join(missing)}")
        model = getattr(cls, "Params", None)
        if not (isinstance(model, type) and issubclass(model, _params.Params)):
            raise PluginError(f"{source}: {kind} '{name}' needs a Params class derived from ser_framework.Params")
        try:
            model()  # the defaults themselves must validate (and required fields be named)
        except Exception as exc:  # noqa: BLE001 - a broken schema is the plugin's error
            if not any(f.is_required() for f in model.model_fields.values()):
                raise PluginError(f"{source}: {kind} '{name}': its default params are invalid: {exc}") from None
        existing = self._specs[kind].get(name)
        if existing is not None:
            raise PluginError(
                f"duplicate {kind} name '{name}': registered by {existing.source} and by {source}"
            )
        self._specs[kind][name] = ComponentSpec(kind, name, cls, source)

    def get(self, kind: str, name: str) -> ComponentSpec:
        if kind not in self._specs:
            raise PluginError(f"unknown component kind '{kind}' (kinds: {', '.join(KINDS)})")
        try:
            return self._specs[kind][name]
        except KeyError:
            raise PluginError(self.unknown_message(kind, name)) from None

    def unknown_message(self, kind: str, name) -> str:
        known = ", ".join(sorted(self._specs[kind])) or "none"
        return f"unknown {kind} '{name}' (available: {known})"

    def has(self, kind: str, name: str) -> bool:
        return name in self._specs.get(kind, {})

    def names(self, kind: str) -> list[str]:
        return sorted(self._specs[kind])

    def all(self) -> list[ComponentSpec]:
        return [s for k in KINDS for _, s in sorted(self._specs[k].items())]

    # ------------------------------------------------------------------ building components
    def resolve(self, kind: str, entry, path: str, problems: list, base_dir: Path | None = None):
        """Check a config entry (``name`` or ``{name, params}``); return ``(spec, Params)`` or ``None``.

        Problems are appended to ``problems`` as ``(path, message)``. Relative
        values of path fields resolve against ``base_dir`` when it is given.
        """
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, dict):
            problems.append((path, f"expected a mapping with 'name' and 'params', got {type(entry).__name__}"))
            return None
        for key in entry:
            if key not in ("name", "params"):
                problems.append((f"{path}.{key}", "unknown key (expected name, params)"))
        name = entry.get("name")
        if not isinstance(name, str):
            problems.append((f"{path}.name", f"a {kind} name is required"))
            return None
        if not self.has(kind, name):
            problems.append((f"{path}.name", self.unknown_message(kind, name)))
            return None
        spec = self.get(kind, name)
        raw = entry.get("params")
        if base_dir is not None and isinstance(raw, dict):
            raw = dict(raw)
            for field in _params.path_fields(spec.Params):
                value = raw.get(field)
                if isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
                    raw[field] = os.path.normpath(Path(base_dir) / value)  # configs/../x -> x: one name per file
        model, found = _params.validate(spec.Params, raw, f"{path}.params")
        problems.extend(found)
        return None if model is None else (spec, model)

    def build(self, kind: str, entry, path: str | None = None, base_dir: Path | None = None):
        """Validate ``entry`` (``name`` or ``{name, params}``) and instantiate the component.

        Raises
        ------
        ConfigError
            With every problem and its path.
        PluginError
            The name is not registered.
        """
        name = entry if isinstance(entry, str) else (entry.get("name") if isinstance(entry, dict) else None)
        if isinstance(name, str) and not self.has(kind, name):
            raise PluginError(self.unknown_message(kind, name))
        problems: list = []
        resolved = self.resolve(kind, entry, path or kind, problems, base_dir)
        if problems or resolved is None:
            raise ConfigError(problems)
        spec, model = resolved
        return spec.cls(model)
