"""The "Dismiss" quick fix through a real client: only the clicked diagnostic goes, the others
of the file are published again."""

from __future__ import annotations

import ast
import sys

from lsprotocol import types

from .conftest import execute, start, wait_for


def command_of(action) -> dict:
    """pytest-lsp reads a CodeAction carrying a command as a bare Command holding its repr."""
    if isinstance(action, types.CodeAction):
        return {"command": action.command.command, "arguments": action.command.arguments}
    return ast.literal_eval(action.command)


async def test_dismiss_drops_only_the_clicked_diagnostic(client, tmp_path):
    (tmp_path / "train.py").write_text("print('METRIC loss=nan')\nprint('METRIC grad_norm=inf')\n")
    await start(client, tmp_path, settings={"run": {"runner": "local"}})
    record = await execute(client, "mlrCopilot.run", {"command": [sys.executable, "train.py"]})
    assert record["status"] == "failed"
    uri = (tmp_path / "train.py").as_uri()
    assert await wait_for(lambda: len(client.diagnostics.get(uri, [])) == 2)
    first, second = client.diagnostics[uri]
    assert "'loss'" in first.message and "'grad_norm'" in second.message

    actions = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), range=first.range,
        context=types.CodeActionContext(diagnostics=[first])))
    [dismiss] = [command_of(a) for a in actions if a.title == "Dismiss"]
    assert dismiss["command"] == "mlrCopilot.dismiss"
    result = await execute(client, dismiss["command"], *dismiss["arguments"])
    assert result == {"uri": uri, "dismissed": 1}
    assert await wait_for(lambda: len(client.diagnostics.get(uri, [])) == 1)
    assert client.diagnostics[uri][0].message == second.message

    # dismissing the last one clears the file
    result = await execute(client, "mlrCopilot.dismiss", uri, {"data": second.data})
    assert result["dismissed"] == 1
    assert await wait_for(lambda: not client.diagnostics.get(uri))
