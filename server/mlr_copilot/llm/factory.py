"""Build the session's `LLM` from settings: the provider (by its registered spec), its key,
and the budget."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlr_copilot.config import LLMSettings
from mlr_copilot.llm.accounting import Ledger
from mlr_copilot.llm.base import LLMError, Provider
from mlr_copilot.llm.client import LLM
from mlr_copilot.llm.keys import api_key_for, key_status
from mlr_copilot.llm.providers import PROVIDERS
from mlr_copilot.llm.spec import ProviderOptions, ProviderSpec


def _spec(settings: LLMSettings) -> ProviderSpec:
    """The provider's spec, once its settings are complete and its SDK is installed."""
    spec = PROVIDERS.get(settings.provider)
    if spec is None:
        raise LLMError(f"Unknown LLM provider '{settings.provider}': use one of {', '.join(PROVIDERS)}")
    problem = spec.problem(settings.base_url)
    if problem:
        raise LLMError(problem)
    return spec


def make_provider(
    settings: LLMSettings,
    *,
    workspace: Path | None = None,
    environ: Mapping[str, str] | None = None,
    http_client: Any = None,
) -> Provider:
    """The provider `settings` name; MissingKeyError when its key is not set. The SDK is
    imported only now, when the provider is built: it takes long to import."""
    environ = os.environ if environ is None else environ
    spec = _spec(settings)
    script = Path(settings.script).expanduser() if settings.script else None
    if script is not None and not script.is_absolute():
        script = (workspace or Path.cwd()) / script
    return spec.build(ProviderOptions(
        name=spec.name,
        model=settings.resolved_model(),
        api_key=api_key_for(spec.name, environ) if spec.key_variables else "",
        key_variable=key_status(spec.name, environ)[0],
        base_url=settings.base_url,
        timeout=settings.timeout,
        script=script,
        http_client=http_client,
    ))


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
