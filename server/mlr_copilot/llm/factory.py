"""Build the session's `LLM` from settings: the provider, its key, and the budget."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlr_copilot.config import LLMSettings
from mlr_copilot.llm.accounting import Ledger
from mlr_copilot.llm.base import LLMError, Provider
from mlr_copilot.llm.client import LLM
from mlr_copilot.llm.keys import KEY_VARIABLES, api_key_for


def _key_variable(provider: str, environ: Mapping[str, str]) -> str:
    """The variable the key came from, so an auth error names the one the user actually set."""
    names = KEY_VARIABLES[provider]
    return next((name for name in names if (environ.get(name) or "").strip()), names[0])


def make_provider(
    settings: LLMSettings,
    *,
    workspace: Path | None = None,
    environ: Mapping[str, str] | None = None,
    http_client: Any = None,
) -> Provider:
    """The provider `settings` name; MissingKeyError when its key is not set.

    The SDKs are imported here, not at module load: they take long to import."""
    environ = os.environ if environ is None else environ
    model = settings.resolved_model()
    kind = settings.provider
    if kind == "scripted":
        from mlr_copilot.llm.scripted import ScriptedProvider

        if not settings.script:
            raise LLMError("The scripted provider needs llm.script (or MLR_SCRIPT): a JSONL file of replies")
        path = Path(settings.script).expanduser()
        if not path.is_absolute():
            path = (workspace or Path.cwd()) / path
        return ScriptedProvider(path, model=model)
    if kind == "anthropic":
        from mlr_copilot.llm.anthropic_provider import AnthropicProvider

        return AnthropicProvider(
            model,
            api_key_for(kind, environ),
            base_url=settings.base_url,
            timeout=settings.timeout,
            http_client=http_client,
            key_variable=_key_variable(kind, environ),
        )
    from mlr_copilot.llm.openai_provider import OpenAIProvider

    if kind == "openai-compatible" and not settings.base_url:
        raise LLMError(
            "The openai-compatible provider needs llm.baseUrl (or MLR_BASE_URL), "
            "e.g. http://localhost:11434/v1 for Ollama or http://localhost:8000/v1 for vLLM"
        )
    return OpenAIProvider(
        model,
        api_key_for(kind, environ),
        base_url=settings.base_url,
        timeout=settings.timeout,
        http_client=http_client,
        name=kind,
    )


def make_llm(
    settings: LLMSettings,
    ledger: Ledger | None = None,
    *,
    workspace: Path | None = None,
    environ: Mapping[str, str] | None = None,
    http_client: Any = None,
) -> LLM:
    """The session's LLM. The budget caps of `settings` apply to `ledger` too (settings are the
    source of truth, so a resumed ledger obeys a raised or lowered cap)."""
    provider = make_provider(settings, workspace=workspace, environ=environ, http_client=http_client)
    if ledger is None:
        ledger = Ledger(settings.budget_usd, settings.budget_tokens)
    else:
        ledger.set_budget(settings.budget_usd, settings.budget_tokens)
    return LLM(
        provider,
        ledger,
        max_tokens=settings.max_tokens,
        temperature=settings.temperature,
        max_retries=settings.max_retries,
    )
