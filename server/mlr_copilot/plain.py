"""Plain records: dataclasses read from JSON with their own annotations as the schema, for the
files the light commands read (`queue`, `status`, `history`), which must start without pydantic
(tests/cli/test_startup_imports.py). The dataclass is the record's one definition: writing it
is `dataclasses.asdict`, reading it is `from_json`, checked field by field: extra keys ignored,
an int taken where a float is wanted, a path from its string, and no other coercion (pydantic's lax mode would take "7"
for 7): these files are written by this package, and anything else is a ValueError."""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


@functools.cache
def _hints(cls: Any) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _check(kind: Any, value: Any, name: str) -> Any:
    """`value` as `kind` (an annotation), or ValueError naming the field."""
    if kind is Any:
        return value
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        for option in args:
            try:
                return _check(option, value, name)
            except ValueError:
                continue
        raise ValueError(f"{name}: {value!r} is not {kind}")
    if origin is typing.Literal:
        if value in args:
            return value
        raise ValueError(f"{name}: {value!r} is not one of {args}")
    if origin is list and isinstance(value, list):
        return [_check(args[0], item, name) for item in value]
    if origin is dict and isinstance(value, dict):
        return {_check(args[0], key, name): _check(args[1], item, name) for key, item in value.items()}
    if kind is type(None) and value is None:
        return None
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind in (str, int, bool) and isinstance(value, kind) and (kind is bool or not isinstance(value, bool)):
        return value
    if kind is Path and isinstance(value, str):  # a path's JSON form
        return Path(value)
    if dataclasses.is_dataclass(kind) and isinstance(kind, type):
        return from_json(kind, value, name)
    raise ValueError(f"{name}: {value!r} is not {getattr(kind, '__name__', kind)}")


def from_json(cls: type[T], data: Any, at: str = "") -> T:
    """An instance of the dataclass `cls` from `data` (a parsed JSON object); ValueError naming
    the first field that is missing or of the wrong type (`at`: where `data` is, for a record
    within a record: `metric.name`)."""
    if not isinstance(data, dict):
        raise ValueError(f"{at or cls.__name__}: not an object")
    hints = _hints(cls)  # type: ignore[arg-type]  # a class is hashable
    values = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        name = f"{at}.{field.name}" if at else field.name
        if field.name in data:
            values[field.name] = _check(hints[field.name], data[field.name], name)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ValueError(f"{cls.__name__}: {name} is missing")
    return cls(**values)
