"""API keys: where each provider's key comes from (its spec's variables, canonical name first,
then aliases), read from the engine's environment (the process's, over the keys a workspace's
`.env` may provide: `envfile`). Keeping keys out of messages is `redact`'s job."""

from __future__ import annotations

import os
from collections.abc import Mapping

from mlr_copilot.llm.base import MissingKeyError
from mlr_copilot.llm.providers import PROVIDERS
from mlr_copilot.llm.spec import PLACEHOLDER_KEY


def _names(provider: str) -> tuple[str, ...]:
    spec = PROVIDERS.get(provider)
    return spec.key_variables if spec else ()


def key_required(provider: str) -> bool:
    spec = PROVIDERS.get(provider)
    return spec is not None and spec.key_required


def _lookup(provider: str, environ: Mapping[str, str]) -> tuple[str, str] | None:
    for name in _names(provider):
        value = (environ.get(name) or "").strip()
        if value:
            return name, value
    return None


def api_key_for(provider: str, environ: Mapping[str, str] | None = None) -> str:
    """The key for `provider`, or MissingKeyError naming the variable to set."""
    environ = os.environ if environ is None else environ
    found = _lookup(provider, environ)
    if found:
        return found[1]
    names = _names(provider)
    if not names:
        raise MissingKeyError(f"No API key is defined for provider '{provider}'")
    if not key_required(provider):
        return PLACEHOLDER_KEY
    also = f" ({' or '.join(names[1:])} is accepted too)" if len(names) > 1 else ""
    raise MissingKeyError(f"No API key for {provider}: set {names[0]} (environment or .env){also}")


def key_status(provider: str, environ: Mapping[str, str] | None = None) -> tuple[str, bool]:
    """(variable name, present) for `doctor`; the name is the alias in use when only it is set.

    For providers without a key (scripted) the name is empty and the status is present."""
    environ = os.environ if environ is None else environ
    names = _names(provider)
    if not names:
        return "", True
    found = _lookup(provider, environ)
    return (found[0], True) if found else (names[0], False)
