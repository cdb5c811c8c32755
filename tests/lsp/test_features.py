"""The feature objects in process (esbonio's unit tests beside the end-to-end ones): the real
server and protocol, its messages written to a buffer instead of stdout."""

from __future__ import annotations

import asyncio
import io
import json
import re
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.io_ import StdoutWriter

from mlr_copilot.lsp import features as built_in
from mlr_copilot.lsp.diagnostics import DiagnosticsFeature
from mlr_copilot.lsp.feature import Feature, command
from mlr_copilot.lsp.server import MlrServer, create_server


class Listener(Feature):
    """A feature that wants the events another feature already listens to."""

    code_action_kinds = (types.CodeActionKind.Refactor,)

    def __init__(self, server: MlrServer) -> None:
        super().__init__(server)
        self.changed: list[str] = []

    def document_changed(self, params: types.DidChangeTextDocumentParams) -> None:
        self.changed.append(params.text_document.uri)

    def code_actions(self, params: types.CodeActionParams) -> list[types.CodeAction]:
        return [types.CodeAction(title="Listener's action", kind=types.CodeActionKind.Refactor)]


class Broken(Feature):
    def setup(self) -> None:
        raise RuntimeError("no model for this feature")

    @command("mlrCopilot.broken", "Broken")
    async def broken(self, *args: Any) -> None:
        return None


class Failing(Feature):
    def document_changed(self, params: types.DidChangeTextDocumentParams) -> None:
        raise RuntimeError("a bug in one feature")


def sent(out: io.BytesIO) -> list[dict[str, Any]]:
    return [json.loads(body) for body in re.split(rb"Content-Length: \d+\r\n(?:[^\r\n]+\r\n)*\r\n", out.getvalue()) if body]


async def started(tmp_path: Path, *features: type[Feature]) -> tuple[MlrServer, io.BytesIO, list[Feature]]:
    """A server with the given extra features, initialized on `tmp_path`."""
    extra: list[Feature] = []

    def with_extra(server: MlrServer) -> list[Feature]:
        extra.extend(kind(server) for kind in features)
        return built_in.create(server) + extra

    server = create_server(with_extra)
    out = io.BytesIO()
    server.protocol.set_writer(StdoutWriter(out))
    await notify(server, "initialize", {"capabilities": {}, "rootUri": tmp_path.as_uri()}, request_id=1)
    await notify(server, "initialized", {})
    await asyncio.wait_for(server.ready.wait(), 10)
    return server, out, extra


async def notify(server: MlrServer, method: str, params: dict[str, Any], request_id: int | None = None) -> None:
    message = {"jsonrpc": "2.0", "method": method, "params": params}
    if request_id is not None:
        message["id"] = request_id
    await server.protocol.receive(json.dumps(message).encode())
    await asyncio.sleep(0.05)  # handlers are scheduled on the loop


def change(uri: str) -> dict[str, Any]:
    return {"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": "y = 2\n"}]}


async def test_an_edit_reaches_every_feature_that_listens_even_past_a_failing_one(tmp_path: Path):
    server, _out, [failing, listener] = await started(tmp_path, Failing, Listener)
    uri = (tmp_path / "train.py").as_uri()
    diagnostics = next(f for f in server.features if isinstance(f, DiagnosticsFeature))
    diagnostics.published[uri] = [types.Diagnostic(range=types.Range(start=types.Position(0, 0), end=types.Position(0, 1)), message="x")]
    await notify(server, "textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": "y = 1\n"}})
    await notify(server, "textDocument/didChange", change(uri))
    assert isinstance(failing, Failing) and isinstance(listener, Listener)
    assert listener.changed == [uri]
    assert uri not in diagnostics.published  # the diagnostics feature heard it too


async def test_code_actions_come_from_every_feature_and_their_kinds_are_advertised(tmp_path: Path):
    server, out, _extra = await started(tmp_path, Listener)
    initialize = next(m for m in sent(out) if m.get("id") == 1)
    assert set(initialize["result"]["capabilities"]["codeActionProvider"]["codeActionKinds"]) == {"quickfix", "refactor"}
    uri = (tmp_path / "train.py").as_uri()
    ours = {"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 1}}, "message": "boom",
            "source": "mlr-copilot", "data": {"run_id": "r1", "index": 0}}
    await notify(server, "textDocument/codeAction", {"textDocument": {"uri": uri}, "range": ours["range"],
                                                      "context": {"diagnostics": [ours]}}, request_id=2)
    titles = [action["title"] for action in next(m for m in sent(out) if m.get("id") == 2)["result"]]
    assert titles == ["Fix with MLR-Copilot", "Dismiss", "Listener's action"]


async def test_a_feature_that_cannot_be_set_up_is_shown_to_the_user_and_the_others_work(tmp_path: Path):
    server, out, _extra = await started(tmp_path, Broken)
    shown = [m["params"] for m in sent(out) if m.get("method") == "window/showMessage"]
    assert any(p["type"] == types.MessageType.Error and "Broken could not be set up" in p["message"]
               and "no model for this feature" in p["message"] for p in shown)
    assert not any(isinstance(f, Broken) for f in server.features)
    assert "mlrCopilot.broken" not in server.protocol.fm.commands
    await notify(server, "workspace/executeCommand", {"command": "mlrCopilot.status", "arguments": []}, request_id=3)
    status = next(m for m in sent(out) if m.get("id") == 3)
    assert status["result"]["workspace"] == str(tmp_path)


def test_every_built_in_feature_is_set_up():
    server = create_server()
    assert not server.setup_failures
    assert {type(f).__name__ for f in server.features} == {
        "StatusFeature", "PaperFeature", "IdeasFeature", "ReviewFeature", "ImplementFeature", "DiagnosticsFeature", "RunFeature",
        "QueueFeature", "SearchFeature"}


def test_an_error_that_cannot_reach_a_gone_client_is_reported_once_not_forever():
    # a writer that fails every write, as a pipe the client closed: pygls reports a failed
    # send by sending a message, which fails too; the server must try once and go on
    from pygls.exceptions import JsonRpcInternalError

    from mlr_copilot.lsp.server import create_server

    class Gone:
        writes = 0

        def write(self, data: bytes) -> None:
            Gone.writes += 1
            raise OSError("the client is gone")

        def close(self) -> None:
            pass

    server = create_server()
    server.protocol.set_writer(Gone())
    server.window_log_message(types.LogMessageParams(type=types.MessageType.Log, message="tick"))
    assert Gone.writes == 2  # the message, then one report of its failure
    server.report_server_error(OSError("later"), JsonRpcInternalError)
    assert Gone.writes == 3
