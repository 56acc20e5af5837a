"""The component registry: what every plugin registered, by kind and name."""
from __future__ import annotations

from dataclasses import dataclass

from .components import KINDS, REQUIRED_METHODS
from .errors import PluginError
from .schema import Param


@dataclass(frozen=True)
class ComponentSpec:
    kind: str
    name: str
    cls: type
    source: str

    @property
    def params(self) -> dict[str, Param]:
        return dict(getattr(self.cls, "params", {}) or {})

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
            "params": {k: p.describe() for k, p in self.params.items()},
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
        params = getattr(cls, "params", {}) or {}
        if not isinstance(params, dict) or not all(isinstance(p, Param) for p in params.values()):
            raise PluginError(f"{source}: {kind} '{name}' params must map names to Param objects")
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

    def create(self, kind: str, name: str, params: dict):
        """Instantiate a component with already-validated params."""
        return self.get(kind, name).cls(**params)
