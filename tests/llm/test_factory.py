from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mlr_copilot.config import LLMSettings
from mlr_copilot.llm.accounting import Ledger
from mlr_copilot.llm.anthropic_provider import AnthropicProvider
from mlr_copilot.llm.base import LLMError, Message, MissingKeyError
from mlr_copilot.llm.factory import make_llm
from mlr_copilot.llm.openai_provider import OpenAIProvider
from mlr_copilot.llm.scripted import ScriptedProvider

from .conftest import ANTHROPIC_KEY, OPENAI_KEY, anthropic_body, anthropic_error, openai_body


def test_openai_from_settings():
    settings = LLMSettings(provider="openai", maxTokens=123, temperature=0.5, maxRetries=1, budgetUsd=2.0)
    llm = make_llm(settings, environ={"OPENAI_API_KEY": OPENAI_KEY})
    assert isinstance(llm.provider, OpenAIProvider)
    assert llm.provider.model == "gpt-5-mini"
    assert (llm.max_tokens, llm.temperature, llm.max_retries) == (123, 0.5, 1)
    assert llm.ledger.budget_usd == 2.0


def test_missing_keys_name_the_variable():
    with pytest.raises(MissingKeyError, match="set OPENAI_API_KEY"):
        make_llm(LLMSettings(provider="openai"), environ={})
    with pytest.raises(MissingKeyError, match="set ANTHROPIC_API_KEY"):
        make_llm(LLMSettings(provider="anthropic"), environ={"OPENAI_API_KEY": OPENAI_KEY})


async def test_claude_alias_reaches_the_request_and_names_itself_on_rejection(server, clean_env):
    server.reply(body=anthropic_body("hello"))
    server.reply(401, anthropic_error("authentication_error", "invalid x-api-key"))
    llm = make_llm(
        LLMSettings(provider="anthropic", model="claude-3-5-haiku-latest"),
        environ={"CLAUDE_API_KEY": ANTHROPIC_KEY},
        http_client=server.client(),
    )
    assert isinstance(llm.provider, AnthropicProvider)
    assert await llm.text([Message.user("hi")], task="t", call="c") == "hello"
    request = server.requests[0]
    assert ANTHROPIC_KEY in (request.headers.get("x-api-key", "") + request.headers.get("authorization", ""))
    with pytest.raises(LLMError, match="the API key in CLAUDE_API_KEY was rejected"):
        await llm.text([Message.user("hi")], task="t", call="c")


async def test_openai_compatible_uses_base_url_without_a_key(server, clean_env):
    server.reply(body=openai_body("local reply", model="qwen2.5", usage=None))
    settings = LLMSettings(provider="openai-compatible", baseUrl="http://127.0.0.1:11434/v1")
    llm = make_llm(settings, environ={}, http_client=server.client())
    assert await llm.text([Message.user("hi")], task="t", call="c") == "local reply"
    request = server.requests[0]
    assert str(request.url) == "http://127.0.0.1:11434/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer not-needed"
    assert json.loads(request.content)["model"] == "llama3.1"
    snap = llm.ledger.snapshot()
    assert snap["estimated_calls"] == 1 and snap["cost_usd"] is None


def test_openai_compatible_requires_base_url():
    with pytest.raises(LLMError, match="needs llm.baseUrl"):
        make_llm(LLMSettings(provider="openai-compatible"), environ={})


async def test_scripted_path_is_relative_to_the_workspace(tmp_path):
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "run.jsonl").write_text('{"call": "c", "response": "scripted hello"}\n')
    llm = make_llm(LLMSettings(provider="scripted", script="scripts/run.jsonl"), workspace=tmp_path, environ={})
    assert isinstance(llm.provider, ScriptedProvider)
    assert await llm.text([Message.user("x")], task="t", call="c") == "scripted hello"
    with pytest.raises(LLMError, match="needs llm.script"):
        make_llm(LLMSettings(provider="scripted"), workspace=tmp_path, environ={})


def test_settings_budget_applies_to_a_resumed_ledger(tmp_path):
    ledger = Ledger(budget_usd=100.0)
    llm = make_llm(
        LLMSettings(provider="openai", budgetTokens=10),
        ledger,
        environ={"OPENAI_API_KEY": OPENAI_KEY},
    )
    assert llm.ledger is ledger
    assert (ledger.budget_usd, ledger.budget_tokens) == (None, 10)


def test_importing_the_layer_does_not_import_the_sdks():
    code = "import sys, mlr_copilot.llm; print(sorted(m for m in ('openai', 'anthropic') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
