"""The provider registry: every provider the engine knows, in the order users see them.

A provider is one module defining its class and its `ProviderSpec`; registering it is its line
in `_TARGETS`, its name and "module:SPEC". Settings validation, the factory, key lookup, the
price table and the CLI choices read this registry, and tests/llm/test_registry.py holds the
extension's `package.json` and `secrets.ts` to it. Reading the names imports nothing: a
provider's module (with its error translation and model listing) is imported when its spec is
first read, and its SDK only when a provider is built, so `--help` and the commands that ask no
LLM never load them (tests/cli/test_startup_imports.py).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlr_copilot.llm.spec import Price, ProviderSpec

# name -> "module:SPEC" in this package; the first is the default
_TARGETS: tuple[tuple[str, str], ...] = (
    ("openai", "openai_provider:OPENAI"),
    ("anthropic", "anthropic_provider:ANTHROPIC"),
    ("openai-compatible", "openai_provider:OPENAI_COMPATIBLE"),
    ("scripted", "scripted:SCRIPTED"),
)


class _Registry(Mapping[str, "ProviderSpec"]):
    """The specs by name, each imported on first reading."""

    def __init__(self, targets: tuple[tuple[str, str], ...]):
        names = [name for name, _ in targets]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"providers registered twice: {', '.join(twice)}")
        self._targets = dict(targets)
        self._specs: dict[str, ProviderSpec] = {}

    def __getitem__(self, name: str) -> ProviderSpec:
        spec = self._specs.get(name)
        if spec is None:
            module, _, attribute = self._targets[name].partition(":")
            spec = getattr(importlib.import_module(f"{__package__}.{module}"), attribute)
            if spec.name != name:
                raise ValueError(f"provider '{name}' is registered as {self._targets[name]}, whose name is '{spec.name}'")
            self._specs[name] = spec
        return spec

    def __iter__(self) -> Iterator[str]:
        return iter(self._targets)

    def __len__(self) -> int:
        return len(self._targets)


PROVIDERS: Mapping[str, ProviderSpec] = _Registry(_TARGETS)
DEFAULT_PROVIDER = _TARGETS[0][0]


def resolved_model(provider: str, model: str) -> str:
    """`model`, else `provider`'s default model."""
    return model or PROVIDERS[provider].default_model


def provider_names() -> list[str]:
    return list(PROVIDERS)


def all_prices() -> dict[str, Price]:
    """Every provider's list prices in one table: a model is priced by its name wherever it is
    served (an OpenAI-compatible proxy of gpt-4o costs what gpt-4o costs)."""
    return {model: price for spec in PROVIDERS.values() for model, price in spec.prices.items()}
