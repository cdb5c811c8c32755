"""The server's foundation, end to end through a real LSP client."""

from __future__ import annotations

import asyncio

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from mlr_copilot import __version__

from .conftest import execute, start


async def test_initialize_names_server_and_lists_commands(client, tmp_path):
    result = await start(client, tmp_path)
    assert result.server_info.name == "mlr-copilot"
    assert result.server_info.version == __version__
    commands = set(result.capabilities.execute_command_provider.commands)
    assert "mlrCopilot.status" in commands


async def test_status_reports_state(client, tmp_path):
    await start(client, tmp_path, settings={"llm": {"provider": "anthropic", "model": "claude-x"}})
    status = await execute(client, "mlrCopilot.status")
    assert status["version"] == __version__
    assert status["workspace"] == str(tmp_path.resolve())
    assert status["provider"] == "anthropic" and status["model"] == "claude-x"
    assert status["usage"]["input_tokens"] == 0
    assert status["tasks"] == []


async def test_initialization_options_are_settings(client, tmp_path):
    await start(client, tmp_path, options={"settings": {"llm": {"provider": "scripted"}}})
    status = await execute(client, "mlrCopilot.status")
    assert status["provider"] == "scripted"


async def test_invalid_settings_fall_back_with_a_warning(client, tmp_path):
    await start(client, tmp_path, settings={"llm": {"provider": "nonsense", "model": "m1", "temperature": "hot"},
                                            "ideas": {"hypotheses": -3}})
    status = await execute(client, "mlrCopilot.status")
    assert status["provider"] == "openai"  # the default
    assert status["model"] == "m1"  # valid neighbours survive
    for _ in range(50):
        if len(client.messages) >= 3:
            break
        await asyncio.sleep(0.05)
    warnings = [m.message for m in client.messages if m.type == types.MessageType.Warning]
    assert any("llm.provider" in w for w in warnings)
    assert any("llm.temperature" in w for w in warnings)
    assert any("ideas.hypotheses" in w for w in warnings)


async def test_configuration_change_is_picked_up(client, tmp_path):
    await start(client, tmp_path, settings={"llm": {"model": "first"}})
    assert (await execute(client, "mlrCopilot.status"))["model"] == "first"
    client.set_configuration({"llm": {"model": "second"}}, section="mlrCopilot")
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    for _ in range(50):
        if (await execute(client, "mlrCopilot.status"))["model"] == "second":
            break
        await asyncio.sleep(0.05)
    assert (await execute(client, "mlrCopilot.status"))["model"] == "second"


async def test_unknown_command_is_an_error_with_a_message(client, tmp_path):
    await start(client, tmp_path)
    with pytest.raises(JsonRpcException) as info:
        await execute(client, "mlrCopilot.noSuchThing")
    assert "mlrCopilot.noSuchThing" in str(info.value)


async def test_malformed_dotenv_line_is_named(client, tmp_path):
    (tmp_path / ".env").write_text("GOOD_VAR=1\nthis line is wrong\n")
    await start(client, tmp_path)
    await execute(client, "mlrCopilot.status")
    for _ in range(50):
        if client.messages:
            break
        await asyncio.sleep(0.05)
    assert any(".env:2" in m.message for m in client.messages)
