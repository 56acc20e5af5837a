"""Parameter schemas that plugins declare, and their validation.

A plugin lists its parameters as ``{name: Param(...)}``. :func:`validate_params`
checks a mapping against that schema, fills defaults, coerces what is safe to
coerce (YAML reads ``1e-3`` as a string) and returns every problem with its path
instead of stopping at the first.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
REQUIRED = object()


@dataclass(frozen=True)
class Param:
    """One parameter of a plugin.

    Parameters
    ----------
    type : int, float, str, bool or list
        Expected type. ``list`` takes ``item`` for the type of its items.
    default : any
        Value used when the config omits it; ``REQUIRED`` makes it mandatory.
    help : str
        One line shown in ``ser plugins`` and the docs.
    choices : tuple, optional
        Allowed values (for lists: allowed items).
    min, max : number, optional
        Inclusive bounds (for lists: bounds of items).
    nullable : bool
        Whether ``null`` is allowed.
    """

    type: type
    default: Any = REQUIRED
    help: str = ""
    choices: tuple | None = None
    min: float | None = None
    max: float | None = None
    nullable: bool = False
    item: type | None = None
    min_items: int = 0

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def describe(self) -> dict:
        out = {"type": self.type.__name__ if self.item is None else f"list[{self.item.__name__}]"}
        out["default"] = None if self.required else self.default
        out["required"] = self.required
        if self.choices:
            out["choices"] = list(self.choices)
        if self.help:
            out["help"] = self.help
        return out


@dataclass
class Problems:
    """Collects ``(path, message)`` pairs."""

    items: list = field(default_factory=list)

    def add(self, path: str, message: str) -> None:
        self.items.append((path, message))

    def __bool__(self) -> bool:
        return bool(self.items)


def _coerce_scalar(value, typ, path, problems, param):
    if typ is bool:
        if isinstance(value, bool):
            return value
        problems.add(path, f"expected {_TYPE_NAMES[bool]}, got {value!r}")
        return None
    if typ in (int, float):
        if isinstance(value, bool):
            problems.add(path, f"expected {_TYPE_NAMES[typ]}, got {value!r}")
            return None
        number = value
        if isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                problems.add(path, f"expected {_TYPE_NAMES[typ]}, got {value!r}")
                return None
        if not isinstance(number, (int, float)):
            problems.add(path, f"expected {_TYPE_NAMES[typ]}, got {type(value).__name__} {value!r}")
            return None
        if isinstance(number, float) and not math.isfinite(number):
            problems.add(path, f"expected a finite number, got {value!r}")
            return None
        if typ is int:
            if isinstance(number, float) and not number.is_integer():
                problems.add(path, f"expected {_TYPE_NAMES[int]}, got {value!r}")
                return None
            number = int(number)
        else:
            number = float(number)
        if param.min is not None and number < param.min:
            problems.add(path, f"must be >= {param.min}, got {number}")
        if param.max is not None and number > param.max:
            problems.add(path, f"must be <= {param.max}, got {number}")
        value = number
    elif typ is str:
        if not isinstance(value, str):
            problems.add(path, f"expected {_TYPE_NAMES[str]}, got {type(value).__name__} {value!r}")
            return None
    if param.choices is not None and value not in param.choices:
        problems.add(path, f"must be one of {', '.join(map(str, param.choices))}; got {value!r}")
    return value


def check_value(value, param: Param, path: str, problems: Problems):
    """Validate one value against ``param``; return the coerced value."""
    if value is None:
        if not param.nullable:
            problems.add(path, "must not be null")
        return None
    if param.type is list:
        if not isinstance(value, list):
            problems.add(path, f"expected a list, got {type(value).__name__} {value!r}")
            return None
        if len(value) < param.min_items:
            problems.add(path, f"needs at least {param.min_items} item(s)")
        if param.item is None:
            return list(value)
        return [_coerce_scalar(v, param.item, f"{path}[{i}]", problems, param) for i, v in enumerate(value)]
    if param.type is dict:
        if not isinstance(value, dict):
            problems.add(path, f"expected a mapping, got {type(value).__name__}")
            return None
        return dict(value)
    return _coerce_scalar(value, param.type, path, problems, param)


def validate_params(params, schema: Mapping[str, Param], path: str, problems: Problems) -> dict:
    """Validate ``params`` against ``schema``; unknown keys are problems."""
    if params is None:
        params = {}
    if not isinstance(params, dict):
        problems.add(path, f"expected a mapping of parameters, got {type(params).__name__}")
        return {}
    out = {}
    for key in params:
        if key not in schema:
            known = ", ".join(sorted(schema)) or "none"
            problems.add(f"{path}.{key}", f"unknown parameter (known: {known})")
    for key, param in schema.items():
        if key in params:
            out[key] = check_value(params[key], param, f"{path}.{key}", problems)
        elif param.required:
            problems.add(f"{path}.{key}", "is required")
        else:
            default = param.default
            out[key] = list(default) if isinstance(default, (list, tuple)) and param.type is list else default
    return out
