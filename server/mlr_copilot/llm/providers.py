"""The provider registry: every provider the engine knows, in the order users see them.

A provider is one module defining its class and its `ProviderSpec`; registering it is its line
in `_SPECS`. Settings validation, the factory, key lookup, the price table and the CLI choices
read this registry, and tests/llm/test_registry.py holds the extension's `package.json` and
`secrets.ts` to it. Importing it is cheap: the provider modules import their SDK only when a
provider is built.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from mlr_copilot.llm import anthropic_provider, openai_provider, scripted
from mlr_copilot.llm.spec import Price, ProviderSpec

_SPECS: tuple[ProviderSpec, ...] = (
    openai_provider.OPENAI,  # the first is the default
    anthropic_provider.ANTHROPIC,
    openai_provider.OPENAI_COMPATIBLE,
    scripted.SCRIPTED,
)


def _index(specs: tuple[ProviderSpec, ...]) -> Mapping[str, ProviderSpec]:
    names = [spec.name for spec in specs]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ValueError(f"providers registered twice: {', '.join(twice)}")
    return MappingProxyType(dict(zip(names, specs, strict=True)))


PROVIDERS = _index(_SPECS)
DEFAULT_PROVIDER = _SPECS[0].name


def provider_names() -> list[str]:
    return list(PROVIDERS)


def all_prices() -> dict[str, Price]:
    """Every provider's list prices in one table: a model is priced by its name wherever it is
    served (an OpenAI-compatible proxy of gpt-4o costs what gpt-4o costs)."""
    return {model: price for spec in _SPECS for model, price in spec.prices.items()}
