"""The ideas commands against the editor's view: refinement feedback typed but not saved, and
decisions clicked in quick succession."""

from __future__ import annotations

import asyncio
from pathlib import Path

from lsprotocol import types

from .conftest import execute, start
from .test_flow import ASSESSED, REFINED, propose, scripted_workspace


def open_document(client, path: Path, text: str) -> str:
    uri = path.as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="markdown", version=1, text=text)))
    return uri


async def test_refine_takes_feedback_typed_in_the_editor_but_not_saved(client, tmp_path):
    workspace, settings = scripted_workspace(tmp_path, extra=[
        {"call": "ideas.refine", "response": REFINED, "expect": ["mark the negation scope"]},
        {"call": "ideas.assess", "response": ASSESSED}])
    await start(client, workspace, settings=settings)
    document = Path((await propose(client, workspace))["document"].removeprefix("file://"))
    saved = document.read_text()
    unsaved = saved.replace("<!-- mlr:hypothesis h2 -->", "<!-- mlr:hypothesis h2 -->\nFeedback: mark the negation scope")
    open_document(client, document, unsaved)
    assert "mark the negation scope" not in document.read_text()  # only the editor has it

    refined = await execute(client, "mlrCopilot.refineHypothesis", "h2")
    assert refined["id"] == "h2" and refined["title"] == REFINED["title"]
    assert "refined: mark the negation scope" in document.read_text()


async def test_quick_decisions_on_one_run_all_stick(client, tmp_path):
    workspace, settings = scripted_workspace(tmp_path)
    await start(client, workspace, settings=settings)
    document = Path((await propose(client, workspace))["document"].removeprefix("file://"))
    await asyncio.gather(execute(client, "mlrCopilot.acceptHypothesis", "h1"),
                         execute(client, "mlrCopilot.rejectHypothesis", "h2", "known"),
                         execute(client, "mlrCopilot.acceptHypothesis", "h3"))
    listed = {h["id"]: h["status"] for h in await execute(client, "mlrCopilot.listHypotheses")}
    assert listed == {"h1": "accepted", "h2": "rejected", "h3": "accepted"}

    uri = open_document(client, document, document.read_text())
    lenses = await client.text_document_code_lens_async(types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri)))
    implement = sorted(lens.command.arguments[0] for lens in lenses if lens.command.title == "Implement")
    assert implement == ["h1", "h3"]
