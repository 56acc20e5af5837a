"""Parameter models: what a component (or a config section) accepts, on pydantic v2.

A component declares its parameters as a nested ``Params`` class::

    class Mfcc(FeatureExtractor):
        name = "mfcc"

        class Params(ser_framework.Params):
            n_mfcc: int = Field(40, ge=1, le=128, description="number of coefficients")

Unknown keys are errors (``extra="forbid"``), defaults are validated too, and
rules that span fields are ordinary pydantic validators. :func:`validate` turns
a mapping into a model and every problem into a ``(path, message)`` pair in the
words users see (``classifier.params.C: expected a number, got 'lots'``).
"""
from __future__ import annotations

import math
import re
import types
import typing
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = ["Field", "Params", "PathField", "validate", "path_fields", "describe"]

_NUMBER = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")


def _numeric(annotation) -> bool:
    """Whether a field takes numbers (int/float, optional or in a list)."""
    if annotation in (int, float):
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, list, tuple):
        return any(_numeric(a) for a in typing.get_args(annotation) if a is not type(None))
    return False


def _as_number(value):
    """YAML reads ``1e-3`` as a string: give numeric fields the number it spells."""
    if isinstance(value, str) and _NUMBER.match(value):
        number = float(value)
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    if isinstance(value, list):
        return [_as_number(v) for v in value]
    return value


class Params(BaseModel):
    """Base of every parameter model: unknown keys are errors, defaults are checked."""

    model_config = ConfigDict(extra="forbid", validate_default=True, allow_inf_nan=False, frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _numbers_from_strings(cls, data):
        if isinstance(data, dict):
            fields = cls.model_fields
            return {k: _as_number(v) if k in fields and _numeric(fields[k].annotation) else v
                    for k, v in data.items()}
        return data


def PathField(default: Any = ..., *, description: str = "", **kwargs) -> Any:
    """A field holding a filesystem path; relative paths in a config resolve against its folder."""
    return Field(default, description=description, json_schema_extra={"path": True}, **kwargs)


def path_fields(model: type[BaseModel]) -> list[str]:
    """Names of the fields declared with :func:`PathField`."""
    return [name for name, f in model.model_fields.items()
            if isinstance(f.json_schema_extra, dict) and f.json_schema_extra.get("path")]


def _got(value) -> str:
    if isinstance(value, (dict, list)) and len(repr(value)) > 60:
        return type(value).__name__
    return repr(value)


def _message(err: dict, model: type[BaseModel]) -> str:
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    if kind == "extra_forbidden":
        known = ", ".join(model.model_fields) or "none"
        return f"unknown parameter (known: {known})"
    if kind == "missing":
        return "is required"
    if kind in ("float_parsing", "float_type", "finite_number"):
        if isinstance(value, float) and not math.isfinite(value):
            return f"expected a finite number, got {value!r}"
        return f"expected a number, got {_got(value)}"
    if kind in ("int_parsing", "int_type", "int_from_float", "int_parsing_size"):
        return f"expected an integer, got {_got(value)}"
    if kind in ("bool_parsing", "bool_type"):
        return f"expected true or false, got {_got(value)}"
    if kind == "string_type":
        return f"expected a string, got {_got(value)}"
    if kind in ("list_type", "tuple_type"):
        return f"expected a list, got {_got(value)}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"expected a mapping, got {_got(value)}"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected', '').replace(chr(39), '')}; got {_got(value)}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        op = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}[kind]
        bound = next(iter(ctx.values()))
        return f"must be {op} {bound}, got {value}"
    if kind == "too_short":
        return f"needs at least {ctx.get('min_length')} item(s)"
    if kind == "too_long":
        return f"takes at most {ctx.get('max_length')} item(s)"
    if kind == "none_required" or (kind.endswith("_type") and value is None):
        return "must not be null"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    return err["msg"]


def _loc(loc: tuple) -> list:
    """Drop pydantic's union/type tags (``list[int]``, ``function-after[...]``) from a location."""
    return [part for part in loc if isinstance(part, int) or ("[" not in part and part not in (
        "int", "float", "str", "bool", "list", "dict", "none", "literal"))]


def _union(messages: list[str]) -> str:
    """One line for a value that fits no branch of a union: ``expected a string or a list, got 5``."""
    if len(messages) == 1:
        return messages[0]
    parts = [m.rsplit(", got ", 1) for m in messages]
    if all(m.startswith("expected ") and len(p) == 2 for m, p in zip(messages, parts)) \
            and len({p[1] for p in parts}) == 1:
        kinds = [p[0][len("expected "):] for p in parts]
        return f"expected {' or '.join(kinds)}, got {parts[0][1]}"
    return "; ".join(messages)


def validate(model: type[BaseModel], data, path: str = "") -> tuple[BaseModel | None, list[tuple[str, str]]]:
    """Validate ``data`` against ``model``: ``(instance, [])`` or ``(None, problems)``.

    Each problem is ``(dotted path, message)`` with ``path`` as its prefix.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return None, [(path, f"expected a mapping of parameters, got {type(data).__name__}")]
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        by_path: dict[str, list[str]] = {}
        for err in exc.errors():
            where = ".".join(str(p) for p in [path, *_loc(err["loc"])] if p != "")
            message = _message(err, model)
            if message not in by_path.setdefault(where, []):
                by_path[where].append(message)
        return None, [(where, _union(messages)) for where, messages in by_path.items()]


def describe(model: type[BaseModel]) -> dict[str, dict]:
    """Per field: type, default, required, description (for ``ser plugins``)."""
    out = {}
    for name, f in model.model_fields.items():
        annotation = f.annotation
        type_name = getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")
        out[name] = {
            "type": type_name,
            "default": None if f.is_required() else f.get_default(call_default_factory=True),
            "required": f.is_required(),
            "help": f.description or "",
        }
    return out
