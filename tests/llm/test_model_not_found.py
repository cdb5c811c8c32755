"""A model the provider does not know (HTTP 404): the error names the setting to change and
lists the models the key can use, asked of a real HTTP server on 127.0.0.1 through each SDK."""

from __future__ import annotations

import pytest

from mlr_copilot.config import LLMSettings
from mlr_copilot.llm.anthropic_provider import AnthropicProvider
from mlr_copilot.llm.base import LLMError, Message
from mlr_copilot.llm.openai_provider import OpenAIProvider

from .conftest import ANTHROPIC_KEY, OPENAI_KEY, Stub

ASK = [Message("user", "hi")]


async def complete(provider) -> str:
    with pytest.raises(LLMError) as info:
        await provider.complete(ASK, max_tokens=10, temperature=0.2, json_mode=False, call="test")
    await provider.aclose()
    return str(info.value)


async def test_openai_names_the_setting_and_lists_the_models(stub):
    _server, url = stub
    Stub.models = [f"model-{n:02d}" for n in range(25)] + [OPENAI_KEY]  # a server that echoes the key
    text = await complete(OpenAIProvider("gpt-4o-mini", OPENAI_KEY, base_url=f"{url}/v1", name="openai-compatible"))
    assert "model 'gpt-4o-mini' was not found" in text and "llm.model setting, MLR_MODEL or --model" in text
    assert "Models this key can use: model-00, model-01" in text and "and 6 more" in text
    assert OPENAI_KEY not in text
    assert Stub.seen == ["POST /v1/chat/completions", "GET /v1/models"]


async def test_anthropic_lists_the_models_too(stub):
    _server, url = stub
    Stub.models = ["claude-haiku-4-5", "claude-sonnet-4-6"]
    text = await complete(AnthropicProvider("claude-3-5-sonnet-latest", ANTHROPIC_KEY, base_url=url))
    assert "model 'claude-3-5-sonnet-latest' was not found" in text and "MLR_MODEL" in text
    assert text.endswith("Models this key can use: claude-haiku-4-5, claude-sonnet-4-6")
    assert Stub.seen == ["POST /v1/messages", "GET /v1/models"]


async def test_without_a_models_list_the_error_still_names_the_setting(stub):
    _server, url = stub
    Stub.models = None
    text = await complete(OpenAIProvider("gpt-4o-mini", OPENAI_KEY, base_url=f"{url}/v1"))
    assert "was not found" in text and "MLR_MODEL" in text and "Models this key can use" not in text


def test_defaults_are_current_priced_models():
    from mlr_copilot.llm.accounting import price_for

    for provider, model in (("openai", "gpt-5-mini"), ("anthropic", "claude-sonnet-4-6")):
        assert LLMSettings(provider=provider).resolved_model() == model
        assert price_for(model) is not None
