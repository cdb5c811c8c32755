"""The LLM layer: providers (one registry: `providers.py`), retries, structured replies and
spend accounting.

The names below load on first use: `config` imports the provider registry, and a light
command must not pay for the client (asyncio) or, ever, the provider SDKs.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlr_copilot.llm.accounting import PRICES, Ledger, Totals, cost_of, price_for
    from mlr_copilot.llm.base import (
        BudgetExceededError,
        Completion,
        LLMError,
        MalformedReplyError,
        Message,
        MissingKeyError,
        Provider,
        RateLimitedError,
        ScriptError,
        TransientLLMError,
        Usage,
    )
    from mlr_copilot.llm.client import LLM, extract_json, schema_hint
    from mlr_copilot.llm.factory import make_llm, make_provider
    from mlr_copilot.llm.keys import api_key_for, key_required, key_status
    from mlr_copilot.llm.model_check import ModelCheck, check_model
    from mlr_copilot.llm.providers import PROVIDERS, provider_names
    from mlr_copilot.llm.redaction import redact
    from mlr_copilot.llm.scripted import RecordingProvider, ScriptedProvider
    from mlr_copilot.llm.spec import ProviderSpec

_HOMES = {
    "accounting": ("PRICES", "Ledger", "Totals", "cost_of", "price_for"),
    "base": ("BudgetExceededError", "Completion", "LLMError", "MalformedReplyError", "Message", "MissingKeyError",
             "Provider", "RateLimitedError", "ScriptError", "TransientLLMError", "Usage"),
    "client": ("LLM", "extract_json", "schema_hint"),
    "factory": ("make_llm", "make_provider"),
    "keys": ("api_key_for", "key_required", "key_status"),
    "model_check": ("ModelCheck", "check_model"),
    "providers": ("PROVIDERS", "provider_names"),
    "redaction": ("redact",),
    "scripted": ("RecordingProvider", "ScriptedProvider"),
    "spec": ("ProviderSpec",),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = sorted(_HOME_OF)


def __getattr__(name: str) -> object:
    module = _HOME_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{module}"), name)
