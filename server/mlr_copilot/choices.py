"""A setting or record field that must name something registered (a runner, an LLM provider):
checked against the registry's names, with the error pydantic gives for a Literal of those
names, so a bad value reads (and falls back, see config) as it always did."""

from __future__ import annotations


def listed(names: tuple[str, ...]) -> str:
    """`'a', 'b' or 'c'`-style: the names joined with commas and a final "or"."""
    return f"{', '.join(names[:-1])} or {names[-1]}" if len(names) > 1 else names[0]


def one_of(value: object, names: tuple[str, ...]) -> str:
    """`value` when it is one of `names`, else a pydantic validation error naming them."""
    if not isinstance(value, str) or value not in names:
        # only here: the CLI's help reads the names without loading pydantic
        from pydantic_core import PydanticCustomError

        raise PydanticCustomError("literal_error", "Input should be {expected}",
                                  {"expected": listed(tuple(repr(name) for name in names))})
    return value
