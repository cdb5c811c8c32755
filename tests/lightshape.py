"""The one check that a light reader (a plain record, `plain.py`, read without pydantic for the
commands that must start fast) holds only fields of its pydantic model, with the same types and
defaults."""

from __future__ import annotations

import typing
from typing import Any


def assert_fields_are_the_models_own(light: Any, model: Any, loose: tuple[str, ...] = ()) -> None:
    """`loose`: fields whose type legitimately differs (a nested light reader, a validated str)."""
    hints = typing.get_type_hints(light)
    for name in light._fields:
        assert name in model.model_fields, f"{light.__name__}.{name} is not a field of {model.__name__}"
        if name not in loose:
            assert hints[name] == model.model_fields[name].annotation, name
        if name in light._field_defaults:
            default = model.model_fields[name].get_default(call_default_factory=True)
            assert light._field_defaults[name] == default, name
        else:
            assert model.model_fields[name].is_required(), name


def assert_extends(wider: Any, narrower: Any) -> None:
    """`wider` begins with the fields of `narrower`, in their order, of the same types and
    defaults: the NamedTuple's stand-in for a subclass."""
    fields = narrower._fields
    assert wider._fields[:len(fields)] == fields
    wide, narrow = typing.get_type_hints(wider), typing.get_type_hints(narrower)
    assert [wide[name] for name in fields] == [narrow[name] for name in fields]
    assert {k: v for k, v in wider._field_defaults.items() if k in fields} == narrower._field_defaults
