from __future__ import annotations

import pytest

from mlr_copilot.llm.accounting import cost_of
from mlr_copilot.llm.base import LLMError, Message, RateLimitedError, TransientLLMError
from mlr_copilot.llm.openai_provider import OpenAIProvider

from .conftest import OPENAI_KEY, http, openai_body, openai_error

MESSAGES = [Message.system("You are terse."), Message.user("Name one optimizer.")]


def provider(server, model="gpt-4o-mini", **kwargs) -> OpenAIProvider:
    return OpenAIProvider(model, OPENAI_KEY, http_client=server.client(), **kwargs)


async def complete(p, json_mode=False, messages=MESSAGES):
    return await p.complete(messages, max_tokens=256, temperature=0.3, json_mode=json_mode, call="test.call")


async def test_request_carries_model_messages_limits_and_key(server, clean_env):
    server.reply(body=openai_body("Adam"))
    completion = await complete(provider(server))

    request = server.requests[0]
    assert str(request.url) == "https://api.openai.com/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    body = server.body()
    assert body["model"] == "gpt-4o-mini"
    assert body["messages"] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Name one optimizer."},
    ]
    assert body["max_completion_tokens"] == 256
    assert body["temperature"] == 0.3
    assert "response_format" not in body
    assert completion.text == "Adam"
    assert completion.model == "gpt-4o-mini-2024-07-18"
    assert completion.provider == "openai"
    assert (completion.usage.input_tokens, completion.usage.output_tokens, completion.usage.estimated) == (12, 5, False)


async def test_json_mode_sets_response_format(server, clean_env):
    server.reply(body=openai_body('{"a": 1}'))
    await complete(provider(server), json_mode=True)
    assert server.body()["response_format"] == {"type": "json_object"}


async def test_reasoning_model_gets_no_temperature(server, clean_env):
    server.reply(body=openai_body("ok", model="o3-mini"))
    await complete(provider(server, model="o3-mini"))
    body = server.body()
    assert "temperature" not in body
    assert body["max_completion_tokens"] == 256


async def test_compatible_server_uses_base_url_and_max_tokens(server, clean_env):
    server.reply(body=openai_body('{"x": 1}', model="llama3.1"))
    p = OpenAIProvider(
        "llama3.1", "not-needed", base_url="http://localhost:11434/v1", http_client=server.client(), name="openai-compatible"
    )
    completion = await complete(p, json_mode=True)
    assert str(server.requests[0].url) == "http://localhost:11434/v1/chat/completions"
    body = server.body()
    assert body["max_tokens"] == 256 and "max_completion_tokens" not in body
    assert body["response_format"] == {"type": "json_object"}
    assert completion.provider == "openai-compatible"


async def test_json_mode_can_be_turned_off(server, clean_env):
    server.reply(body=openai_body("{}"))
    p = OpenAIProvider("m", "not-needed", base_url="http://127.0.0.1:8000/v1", http_client=server.client(), json_mode=False)
    await complete(p, json_mode=True)
    assert "response_format" not in server.body()


async def test_server_rejecting_json_mode_is_asked_again_without_it(server, clean_env):
    server.reply(400, openai_error(400, "response_format is not supported by this server"))
    server.reply(body=openai_body('{"ok": true}'))
    p = OpenAIProvider("m", "not-needed", base_url="http://127.0.0.1:8080/v1", http_client=server.client())
    completion = await complete(p, json_mode=True)
    assert completion.text == '{"ok": true}'
    assert "response_format" in server.body(0) and "response_format" not in server.body(1)
    assert p.json_mode is False


async def test_cached_prompt_tokens_are_read_and_priced(server, clean_env):
    server.reply(body=openai_body("AdamW", model="gpt-4.1-mini-2025-04-14", usage=(2048, 10), cached=1792))
    completion = await complete(provider(server, model="gpt-4.1-mini"))
    usage = completion.usage
    assert (usage.input_tokens, usage.cached_input_tokens, usage.cache_write_tokens) == (2048, 1792, 0)
    # gpt-4.1-mini: $0.40 input, $0.10 cached input, $1.60 output per million tokens
    assert cost_of(completion.model, usage) == pytest.approx((256 * 0.40 + 1792 * 0.10 + 10 * 1.60) / 1e6)
    # a compatible server's reply without the details counts nothing as cached
    server.reply(body=openai_body("AdamW"))
    assert (await complete(provider(server))).usage.cached_input_tokens == 0


async def test_missing_usage_is_estimated(server, clean_env):
    server.reply(body=openai_body("x" * 40, usage=None))
    completion = await complete(provider(server))
    assert completion.usage.estimated
    assert completion.usage.output_tokens == 10
    assert completion.usage.input_tokens == len("You are terse.") // 4 + len("Name one optimizer.") // 4


async def test_429_is_rate_limited_with_retry_after(server, clean_env):
    server.reply(429, openai_error(429, "Rate limit reached for gpt-4o-mini", type_="requests"), headers={"retry-after": "7"})
    with pytest.raises(RateLimitedError) as caught:
        await complete(provider(server))
    assert caught.value.retry_after == 7.0
    assert "Rate limit reached" in str(caught.value)


async def test_429_without_quota_is_not_retryable(server, clean_env):
    server.reply(429, openai_error(429, "You exceeded your current quota", type_="insufficient_quota", code="insufficient_quota"))
    with pytest.raises(LLMError) as caught:
        await complete(provider(server))
    assert not isinstance(caught.value, TransientLLMError)
    assert "no quota left" in str(caught.value) and "OPENAI_API_KEY" in str(caught.value)


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_transient(server, clean_env, status):
    server.reply(status, openai_error(status, "The server had an error", type_="server_error"))
    with pytest.raises(TransientLLMError) as caught:
        await complete(provider(server))
    assert f"HTTP {status}" in str(caught.value)


async def test_connection_failure_and_timeout_are_transient(server, clean_env):
    server.fail(http.ConnectError("connection refused"))
    server.fail(http.ReadTimeout("read timed out"))
    p = provider(server)
    with pytest.raises(TransientLLMError, match="could not connect"):
        await complete(p)
    with pytest.raises(TransientLLMError, match="timed out"):
        await complete(p)


async def test_401_names_the_key_variable_without_echoing_the_key(server, clean_env):
    server.reply(401, openai_error(401, f"Incorrect API key provided: {OPENAI_KEY}.", code="invalid_api_key"))
    with pytest.raises(LLMError) as caught:
        await complete(provider(server))
    message = str(caught.value)
    assert "the API key in OPENAI_API_KEY was rejected" in message
    assert OPENAI_KEY not in message and "***" in message


async def test_404_names_the_model(server, clean_env):
    server.reply(404, openai_error(404, "The model `gpt-9` does not exist", code="model_not_found"))
    with pytest.raises(LLMError) as caught:
        await complete(provider(server, model="gpt-9"))
    assert "model 'gpt-9' was not found" in str(caught.value)
    assert not isinstance(caught.value, TransientLLMError)
