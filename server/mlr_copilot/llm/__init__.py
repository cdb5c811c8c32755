"""The LLM layer: providers (openai, anthropic, openai-compatible, scripted), retries,
structured replies and spend accounting. Importing it does not import the provider SDKs."""

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
from mlr_copilot.llm.keys import api_key_for, key_required, key_status, redact
from mlr_copilot.llm.scripted import RecordingProvider, ScriptedProvider

__all__ = [
    "LLM",
    "PRICES",
    "BudgetExceededError",
    "Completion",
    "LLMError",
    "Ledger",
    "MalformedReplyError",
    "Message",
    "MissingKeyError",
    "Provider",
    "RateLimitedError",
    "RecordingProvider",
    "ScriptError",
    "ScriptedProvider",
    "Totals",
    "TransientLLMError",
    "Usage",
    "api_key_for",
    "cost_of",
    "extract_json",
    "key_required",
    "key_status",
    "make_llm",
    "make_provider",
    "price_for",
    "redact",
    "schema_hint",
]
