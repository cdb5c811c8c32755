"""The server's foundation, end to end through a real LSP client."""

from __future__ import annotations

import asyncio
import re

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from mlr_copilot import __version__

from .conftest import execute, start, wait_for


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


async def test_file_events_are_asked_of_a_client_that_can_send_them(client, tmp_path):
    await start(client, tmp_path)
    await execute(client, "mlrCopilot.status")
    await wait_for(lambda: client.registrations, 5)
    [registration] = client.registrations
    assert registration.method == types.WORKSPACE_DID_CHANGE_WATCHED_FILES
    assert [w["globPattern"] for w in registration.register_options["watchers"]] == ["**/*"]


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
    await wait_for(lambda: len(client.messages) >= 3, 5)
    warnings = [m.message for m in client.messages if m.type == types.MessageType.Warning]
    assert any("llm.provider" in w for w in warnings)
    assert any("llm.temperature" in w for w in warnings)
    assert any("ideas.hypotheses" in w for w in warnings)


async def test_settings_that_are_not_an_object_are_named_in_a_warning(client, tmp_path):
    await start(client, tmp_path, options={"settings": ["llm", "openai"]})
    status = await execute(client, "mlrCopilot.status")
    assert status["provider"] == "openai"
    await wait_for(lambda: client.messages, 5)
    warnings = [m.message for m in client.messages if m.type == types.MessageType.Warning]
    assert any("settings must be an object" in w and "not list" in w for w in warnings), warnings


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
    await wait_for(lambda: client.messages, 5)
    assert any(".env:2" in m.message for m in client.messages)


def processes_with(marker: str) -> list[int]:
    """Pids whose command line holds `marker`."""
    import os

    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    if marker.encode() in handle.read():
                        found.append(int(entry))
            except OSError:
                continue
    return found


def ticking(marker: str) -> list[str]:
    import sys

    return [sys.executable, "-c", f"import time\n# {marker}\nfor i in range(600):\n    print('tick', i, flush=True)\n    time.sleep(0.1)"]



async def test_long_command_reports_progress_and_cancels(client, tmp_path):
    import json
    import uuid

    marker = f"mlr-test-{uuid.uuid4()}"
    await start(client, tmp_path, settings={"run": {"runner": "local"}})
    pending = asyncio.ensure_future(execute(client, "mlrCopilot.run", {"command": ticking(marker)}))
    def reports() -> list:
        return [(token, v) for token, values in client.progress_reports.items() for v in values
                if isinstance(v, types.WorkDoneProgressReport) and re.search(r"\d:\d\d tick \d", v.message or "")]

    assert await wait_for(lambda: reports())
    token = reports()[0][0]
    assert processes_with(marker)
    begin = client.progress_reports[token][0]
    assert begin.cancellable is True
    assert await wait_for(lambda: any(m.message.startswith("tick") for m in client.log_messages))  # live log lines
    client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
    with pytest.raises(JsonRpcException) as info:
        await asyncio.wait_for(pending, 15)
    assert "cancelled" in str(info.value)
    assert await wait_for(lambda: not processes_with(marker), 10)
    records = list((tmp_path / ".mlr" / "runs").glob("*.json"))
    assert await wait_for(lambda: json.loads(records[0].read_text())["status"] == "cancelled", 10)
    status = await execute(client, "mlrCopilot.status")
    assert status["tasks"] == []


async def test_shutdown_stops_running_work_and_leaves_no_process(client, tmp_path):
    import uuid

    marker = f"mlr-test-{uuid.uuid4()}"
    await start(client, tmp_path, settings={"run": {"runner": "local"}})
    pending = asyncio.ensure_future(execute(client, "mlrCopilot.run", {"command": ticking(marker)}))
    assert await wait_for(lambda: processes_with(marker))
    status = await execute(client, "mlrCopilot.status")
    assert [t["title"] for t in status["tasks"]] == ["Run experiment"]
    await client.shutdown_session()
    client.capabilities = None  # the fixture's own shutdown has nothing left to do
    assert await wait_for(lambda: not processes_with(marker), 10)
    assert client._server.returncode == 0
    pending.cancel()


async def test_nan_metric_is_a_diagnostic_and_valid_json(client, tmp_path):
    (tmp_path / "train.py").write_text("print('METRIC accuracy=nan')\n")
    await start(client, tmp_path, settings={"run": {"runner": "local", "metric": "accuracy", "direction": "maximize"}})
    record = await execute(client, "mlrCopilot.run")
    assert record["status"] == "failed"
    assert record["metrics"] == {"accuracy": None} and record["value"] is None
    uri = (tmp_path / "train.py").as_uri()
    assert await wait_for(lambda: client.diagnostics.get(uri))
    assert client.diagnostics[uri][0].code == "nan"
    history = await execute(client, "mlrCopilot.history")
    assert history["rows"][0]["value"] is None


async def test_run_without_metric_is_a_diagnostic(client, tmp_path):
    (tmp_path / "train.py").write_text("print('trained, forgot to report')\n")
    await start(client, tmp_path, settings={"run": {"runner": "local", "metric": "accuracy"}})
    record = await execute(client, "mlrCopilot.run")
    assert record["status"] == "failed"
    uri = (tmp_path / "train.py").as_uri()
    assert await wait_for(lambda: client.diagnostics.get(uri))
    assert client.diagnostics[uri][0].code == "no-metric"
    # editing the file clears its diagnostics
    client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
        uri=uri, language_id="python", version=1, text="print('trained, forgot to report')\n")))
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text="print('METRIC accuracy=0.5')\n")]))
    assert await wait_for(lambda: not client.diagnostics.get(uri))
