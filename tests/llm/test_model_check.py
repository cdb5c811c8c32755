"""`check_model`: is the configured model served? Asked of a real HTTP server on 127.0.0.1
through each SDK's `models.list`, as `doctor` asks when it may go online."""

from __future__ import annotations

from mlr_copilot.config import LLMSettings
from mlr_copilot.llm.model_check import check_model

from .conftest import ANTHROPIC_KEY, OPENAI_KEY, Stub


async def test_a_local_server_that_serves_the_model_confirms_it(stub):
    _server, url = stub
    Stub.models = ["qwen2.5:7b", "llama3.1:latest"]
    check = await check_model(LLMSettings(provider="openai-compatible", baseUrl=f"{url}/v1"), environ={})
    assert check.ok, check.finding
    assert check.finding == f"openai-compatible: model 'llama3.1' is served by {url}/v1 (as llama3.1:latest)"
    assert Stub.seen == ["GET /v1/models"]


async def test_anthropic_confirms_an_alias_by_its_dated_snapshot(stub):
    _server, url = stub
    Stub.models = ["claude-haiku-4-5-20251001", "claude-sonnet-4-5-20250929"]
    settings = LLMSettings(provider="anthropic", model="claude-sonnet-4-5", baseUrl=url)
    check = await check_model(settings, environ={"CLAUDE_API_KEY": ANTHROPIC_KEY})
    assert check.ok and check.finding.endswith("(as claude-sonnet-4-5-20250929)")
    assert Stub.seen == ["GET /v1/models"]


async def test_a_model_not_listed_fails_and_names_what_is_served_without_the_key(stub):
    _server, url = stub
    Stub.models = ["gpt-4o", "text-embedding-3-small", OPENAI_KEY]  # a server that echoes the key
    settings = LLMSettings(provider="openai", model="gpt-4o-mini", baseUrl=f"{url}/v1")
    check = await check_model(settings, environ={"OPENAI_API_KEY": OPENAI_KEY})
    assert not check.ok
    assert "model 'gpt-4o-mini' is not among the 3 models" in check.finding
    assert "set llm.model (MLR_MODEL, --model) to one of: gpt-4o, ***" in check.finding
    assert OPENAI_KEY not in check.finding and "embedding" not in check.finding
    assert "\n" not in check.finding


async def test_an_endpoint_that_refuses_the_key_says_which_variable(stub):
    _server, url = stub
    Stub.models_status = 401
    settings = LLMSettings(provider="openai", baseUrl=f"{url}/v1")
    check = await check_model(settings, environ={"OPENAI_API_KEY": OPENAI_KEY})
    assert not check.ok
    assert check.finding.startswith("could not ask which models are served: ")
    assert "the API key in OPENAI_API_KEY was rejected" in check.finding


async def test_a_server_without_a_models_list_is_not_called_a_missing_model(stub):
    _server, url = stub
    Stub.models_status = 404
    check = await check_model(LLMSettings(provider="openai-compatible", baseUrl=f"{url}/v1"), environ={})
    assert not check.ok
    assert check.finding.endswith(f"openai-compatible: {url}/v1 does not list its models (HTTP 404)")
    assert "was not found" not in check.finding


async def test_a_bad_setup_is_a_finding_not_an_exception():
    missing_key = await check_model(LLMSettings(provider="anthropic"), environ={})
    assert not missing_key.ok and missing_key.finding.startswith("No API key for anthropic: set ANTHROPIC_API_KEY")
    no_url = await check_model(LLMSettings(provider="openai-compatible"), environ={})
    assert not no_url.ok and "needs llm.baseUrl" in no_url.finding


async def test_the_scripted_provider_has_nothing_to_ask(tmp_path):
    (tmp_path / "replies.jsonl").write_text('{"call": "c", "response": "x"}\n', encoding="utf-8")
    check = await check_model(LLMSettings(provider="scripted", script="replies.jsonl"), workspace=tmp_path, environ={})
    assert check.ok and check.finding == "scripted: no models endpoint to ask (model 'scripted')"
