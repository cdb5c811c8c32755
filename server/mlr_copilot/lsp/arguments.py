"""A command's arguments as JSON sends them: read by position, checked by JSON type, refused
with a message naming the argument (answered as -32602 Invalid params)."""

from __future__ import annotations

import typing
from typing import Any, TypeAlias

from pydantic import ValidationError

from ..errors import MlrError
from .protocol import KINDS

# a JSON type as a Python type (`str`), a generic alias (`list[str]`) or a tuple of those
Kind: TypeAlias = Any


class InvalidArguments(MlrError):
    """A command's arguments have the wrong shape: answered as -32602 Invalid params."""


def readable_validation(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors()[:3]:
        where = ".".join(str(part) for part in error["loc"]) or "the value"
        problems.append(f"{where}: {error['msg'][:1].lower()}{error['msg'][1:]}")
    return "; ".join(problems)


def arg(args: tuple[Any, ...], index: int, default: Any = None, kind: Kind | None = None, name: str = "") -> Any:
    """Argument `index`, or `default` when it is missing or null; with `kind`, an argument of
    another JSON type is refused, naming it (`name`, else its position)."""
    value = args[index] if len(args) > index and args[index] is not None else default
    if kind is not None and value is not default:
        check(value, kind, name or f"argument {index + 1}")
    return value


def option(options: dict[str, Any], key: str, kind: Kind) -> Any:
    """An optional field of an options object, refused when of another JSON type."""
    value = options.get(key)
    if value is not None:
        check(value, kind, key)
    return value


def check(value: Any, kind: Kind, name: str) -> None:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not any(is_kind(value, k) for k in kinds):
        # an integer is a number: (int, float) reads "a number"
        wanted = " or ".join(KINDS.get(k, str(k)) for k in kinds if not (k is int and float in kinds))
        raise InvalidArguments(f"{name} must be {wanted}")


def is_kind(value: Any, kind: Any) -> bool:
    if typing.get_origin(kind) is list:
        [item] = typing.get_args(kind)
        return isinstance(value, list) and all(is_kind(v, item) for v in value)
    # JSON true/false arrive as bool, which Python counts as an int
    return isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
