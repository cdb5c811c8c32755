"""The one check that a light reader (a plain dataclass read without pydantic, for the commands
that must start fast) holds only fields of its pydantic model, with the same types and defaults."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any


def assert_fields_are_the_models_own(light: Any, model: Any, loose: tuple[str, ...] = ()) -> None:
    """`loose`: fields whose type legitimately differs (a nested light reader, a validated str)."""
    hints = typing.get_type_hints(light)
    for field in dataclasses.fields(light):
        assert field.name in model.model_fields, f"{light.__name__}.{field.name} is not a field of {model.__name__}"
        if field.name not in loose:
            assert hints[field.name] == model.model_fields[field.name].annotation, field.name
        if field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING:
            light_default = field.default_factory() if field.default is dataclasses.MISSING else field.default
            assert light_default == model.model_fields[field.name].get_default(call_default_factory=True), field.name
        else:
            assert model.model_fields[field.name].is_required(), field.name
