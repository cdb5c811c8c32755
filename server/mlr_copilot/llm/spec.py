"""What a provider is: one `ProviderSpec` (name, key variables, default model, prices, SDK and
how to build it), defined in the provider's own module and listed once in `providers.py`.

Everything else (settings validation, the factory, key lookup, the price table, the CLI
choices, the extension's lists through a test) reads the spec, so no other file names a
provider. This module imports no SDK: building a provider does, when the engine needs one.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

if TYPE_CHECKING:
    # the message records: not imported to read a spec (`status` reads the default model's)
    from mlr_copilot.llm.base import Provider


class Price(NamedTuple):
    """List prices in USD per million tokens. Prompt tokens a provider's prefix cache served
    cost `cached_input`, those written to it `cache_write`; None where the provider publishes
    no such price (those tokens cost `input`)."""

    input: float
    output: float
    cached_input: float | None = None
    cache_write: float | None = None


# Local servers (Ollama, vLLM, llama.cpp) ignore the key, but the SDK insists on one.
PLACEHOLDER_KEY = "not-needed"

# `redact` hides the values of variables named like this; a key variable must be one of them.
SECRET_NAME = re.compile(r"(API_KEY|_TOKEN|_SECRET)$")


# The records of this module are tuples, not dataclasses: `status` reads a spec at start-up, and
# `dataclasses` (with inspect) and a dataclass each cost it several times what a NamedTuple does.


class ProviderOptions(NamedTuple):
    """What a provider is built from: the settings resolved by the factory."""

    name: str
    model: str
    api_key: str
    # the variable the key came from, so an auth error names the one the user actually set
    key_variable: str
    base_url: str | None
    timeout: float
    # the scripted provider's reply file, already resolved against the workspace
    script: Path | None = None
    # an httpx client the SDK should use (tests route it to a canned server); None: the SDK's own
    http_client: Any = None


class SdkProvider(Protocol):
    """A provider class over an SDK client: built from the model, the key and the client's options."""

    def __call__(self, model: str, api_key: str, *, base_url: str | None, timeout: float, http_client: Any,
                 name: str, key_variable: str) -> Provider: ...


def sdk_build(provider: SdkProvider) -> Callable[[ProviderOptions], Provider]:
    """The `build` of an SDK provider class: the resolved options passed as it takes them."""

    def build(options: ProviderOptions) -> Provider:
        return provider(options.model, options.api_key, base_url=options.base_url, timeout=options.timeout,
                        http_client=options.http_client, name=options.name, key_variable=options.key_variable)

    return build


class _SpecFields(NamedTuple):
    name: str
    build: Callable[[ProviderOptions], Provider]
    default_model: str
    # The first is the canonical name (the one the extension stores); later ones are aliases.
    key_variables: tuple[str, ...] = ()
    # An optional key falls back to PLACEHOLDER_KEY (local servers take any key).
    key_optional: bool = False
    # the importable package `build` needs, so a missing one is a one-line error, not a traceback
    sdk: str | None = None
    # Required llm.baseUrl, with an example endpoint for the message when it is missing.
    needs_base_url: bool = False
    base_url_example: str = ""
    prices: Mapping[str, Price] = MappingProxyType({})


class ProviderSpec(_SpecFields):
    """A provider, checked as it is made (a NamedTuple takes no `__post_init__`)."""

    __slots__ = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> ProviderSpec:
        spec = super().__new__(cls, *args, **kwargs)
        unhidden = [name for name in spec.key_variables if not SECRET_NAME.search(name)]
        if unhidden:
            raise ValueError(f"provider {spec.name}: key variables {unhidden} must end in API_KEY, "
                             "_TOKEN or _SECRET so that every message hides their values")
        if spec.needs_base_url and not spec.base_url_example:
            raise ValueError(f"provider {spec.name}: a required base URL needs an example for the message")
        return spec

    @property
    def key_required(self) -> bool:
        return bool(self.key_variables) and not self.key_optional

    def problem(self, base_url: str | None) -> str | None:
        """What stops this provider from being built, in one line (None when nothing does)."""
        if self.needs_base_url and not base_url:
            return f"The {self.name} provider needs llm.baseUrl (or MLR_BASE_URL), e.g. {self.base_url_example}"
        if self.sdk and importlib.util.find_spec(self.sdk) is None:
            return f"The {self.name} provider needs the {self.sdk} package: pip install {self.sdk}"
        return None
