"""Plain records: `typing.NamedTuple` classes read from JSON with their own annotations as the
schema, for the files the light commands read (`queue`, `status`, `history`), which must start
without pydantic (tests/cli/test_startup_imports.py) and without `dataclasses` (which imports
`inspect`, and costs up to a millisecond a class where a NamedTuple costs a tenth of it:
bench/bench_startup.py). The NamedTuple is the record's one definition: writing it is
`jsonable`, reading it is `from_json`, checked field by field: extra keys ignored, an int taken
where a float is wanted, a path from its string, and no other coercion (pydantic's lax mode
would take "7" for 7): these files are written by this package, and anything else is a
ValueError. A record's list or dict default is `EMPTY_LIST` or `EMPTY_DICT`: one object shared by
every record, so it refuses to be changed rather than change them all."""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn, TypeVar

T = TypeVar("T")


def _refuse(*_args: Any, **_kwargs: Any) -> NoReturn:
    raise TypeError("a record's default list or dict is shared: build a new one instead")


class _EmptyList(list[Any]):
    append = extend = insert = pop = remove = clear = sort = reverse = _refuse
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse


class _EmptyDict(dict[Any, Any]):
    pop = popitem = clear = setdefault = update = _refuse
    __setitem__ = __delitem__ = __ior__ = _refuse


EMPTY_LIST: list[Any] = _EmptyList()
EMPTY_DICT: dict[Any, Any] = _EmptyDict()


def is_record(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, tuple) and hasattr(kind, "_fields")


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
    if is_record(kind):
        return from_json(kind, value, name)
    raise ValueError(f"{name}: {value!r} is not {getattr(kind, '__name__', kind)}")


def from_json(cls: type[T], data: Any, at: str = "") -> T:
    """An instance of the record `cls` from `data` (a parsed JSON object); ValueError naming
    the first field that is missing or of the wrong type (`at`: where `data` is, for a record
    within a record: `metric.name`)."""
    if not isinstance(data, dict):
        raise ValueError(f"{at or cls.__name__}: not an object")
    hints = _hints(cls)  # type: ignore[arg-type]  # a class is hashable
    defaults = cls._field_defaults  # type: ignore[attr-defined]
    values = {}
    for field in cls._fields:  # type: ignore[attr-defined]
        name = f"{at}.{field}" if at else field
        if field in data:
            values[field] = _check(hints[field], data[field], name)
        elif field not in defaults:
            raise ValueError(f"{cls.__name__}: {name} is missing")
    return cls(**values)


def jsonable(value: Any) -> Any:
    """`value` as JSON data: each record an object of its fields (as `dataclasses.asdict` made
    them), within lists and dicts too; a bare tuple, as `json` would, a list."""
    if isinstance(value, tuple):
        if hasattr(value, "_fields"):
            return {name: jsonable(item) for name, item in zip(value._fields, value, strict=True)}
        return [jsonable(item) for item in value]
    if isinstance(value, list):
        return [jsonable(item) for item in value]
    if isinstance(value, Mapping):
        return {key: jsonable(item) for key, item in value.items()}
    return value


def pydantic_schema(source: Any, handler: Any) -> Any:
    """The pydantic schema of a record a pydantic model holds (its classmethod
    `__get_pydantic_core_schema__` returns it): validated as pydantic validates a NamedTuple (from an object
    or an array), dumped as an object of its fields, not as pydantic's array. pydantic is
    imported only by the models that hold the record."""
    from pydantic_core import core_schema

    schema = handler(source)
    schema["serialization"] = core_schema.plain_serializer_function_ser_schema(jsonable)
    return schema
