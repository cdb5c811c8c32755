"""Ideas in the editor: propose hypotheses from a PDF, the lenses on the hypotheses document,
and the accept / reject / refine decisions."""

from __future__ import annotations

import asyncio
from pathlib import Path

from lsprotocol import types
from pygls.uris import from_fs_path, to_fs_path

from ..ideas.document import document_path, feedback_for, marker_lines
from .progress import progress
from .server import MlrServer, arg, command


def hypothesis_summary(h) -> dict:
    return {"id": h.id, "title": h.title, "rank": h.rank, "status": h.status, "paper": h.paper,
            "branch": h.branch, "metric": h.plan.metric, "direction": h.plan.direction}


async def after_ideas_change(ls: MlrServer) -> None:
    workspace = getattr(ls.client_capabilities, "workspace", None)
    lens = workspace and workspace.code_lens
    if lens and lens.refresh_support:
        try:
            await ls.workspace_code_lens_refresh_async(None)
        except Exception:
            pass


async def editor_feedback(ls: MlrServer, hypothesis_id: str) -> str:
    """The feedback under the hypothesis in its document as open in the editor, saved or not;
    empty when the document is not open, so the engine reads the file instead."""
    run, hypothesis = await asyncio.to_thread(ls.engine.ideas.store.find, hypothesis_id)
    uri = from_fs_path(str(document_path(ls.engine.workspace, run.paper_slug)))
    opened = ls.workspace.text_documents.get(uri)
    return feedback_for(opened.source, hypothesis.id) if opened is not None else ""


def setup(server: MlrServer) -> None:
    # Decisions read, change and save a run in a thread: one at a time, or two quick clicks
    # on the same run would each save their own copy and one decision would be lost.
    decisions = asyncio.Lock()

    @command(server, "mlrCopilot.proposeHypotheses", "Propose hypotheses")
    async def propose(ls: MlrServer, *args) -> dict:
        pdf = arg(args, 0, kind=str, name="the PDF")
        if not pdf:
            from ..errors import MlrError

            raise MlrError("Propose hypotheses needs the PDF's URI or path as its argument")
        async with progress(ls, "MLR-Copilot: proposing hypotheses") as work:
            run = await ls.tasks.run("Propose hypotheses", ls.engine.propose_hypotheses(str(pdf), work))
        uri = from_fs_path(run.document)
        await after_ideas_change(ls)
        window = getattr(ls.client_capabilities, "window", None)
        if window and window.show_document and window.show_document.support:
            ls.window_show_document(types.ShowDocumentParams(uri=uri, take_focus=True))
        return {"document": uri, "notes": run.notes,
                "hypotheses": [hypothesis_summary(h) for h in sorted(run.hypotheses, key=lambda h: h.rank)]}

    @command(server, "mlrCopilot.listHypotheses", "List hypotheses")
    async def list_hypotheses(ls: MlrServer, *args) -> list:
        return [hypothesis_summary(h) for h in await asyncio.to_thread(ls.engine.hypotheses)]

    async def decide(ls: MlrServer, args, status: str) -> dict:
        async with decisions:
            hypothesis = await asyncio.to_thread(ls.engine.decide, arg(args, 0, "", str, "the hypothesis id"), status, arg(args, 1, "", str, "the reason"))
        await after_ideas_change(ls)
        return hypothesis_summary(hypothesis)

    @command(server, "mlrCopilot.acceptHypothesis", "Accept hypothesis")
    async def accept(ls: MlrServer, *args) -> dict:
        return await decide(ls, args, "accepted")

    @command(server, "mlrCopilot.rejectHypothesis", "Reject hypothesis")
    async def reject(ls: MlrServer, *args) -> dict:
        return await decide(ls, args, "rejected")

    @command(server, "mlrCopilot.refineHypothesis", "Refine hypothesis")
    async def refine(ls: MlrServer, *args) -> dict:
        hypothesis_id = arg(args, 0, "", str, "the hypothesis id")
        feedback = arg(args, 1, kind=str, name="the feedback") or await editor_feedback(ls, hypothesis_id)
        async with progress(ls, "MLR-Copilot: refining a hypothesis") as work:
            hypothesis = await ls.tasks.run("Refine hypothesis", ls.engine.refine(hypothesis_id, feedback, work))
        await after_ideas_change(ls)
        return hypothesis_summary(hypothesis)

    @server.feature(types.TEXT_DOCUMENT_CODE_LENS)
    async def code_lens(ls: MlrServer, params: types.CodeLensParams) -> list[types.CodeLens]:
        path = Path(to_fs_path(params.text_document.uri))
        if path.name != "hypotheses.md":
            return []
        text = ls.workspace.get_text_document(params.text_document.uri).source
        statuses = {h.id: h.status for h in await asyncio.to_thread(ls.engine.hypotheses)} if ls.ready.is_set() else {}
        refine_command = (ls.init_options.get("refineCommand") if ls.init_options else None) or "mlrCopilot.refineHypothesis"
        lenses = []
        for hypothesis_id, line in marker_lines(text):
            where = types.Range(start=types.Position(line=line, character=0), end=types.Position(line=line, character=0))
            actions = [("Accept", "mlrCopilot.acceptHypothesis"), ("Reject", "mlrCopilot.rejectHypothesis"),
                       ("Refine", refine_command)]
            if statuses.get(hypothesis_id) == "accepted":
                actions.insert(0, ("Implement", "mlrCopilot.implement"))
            for title, name in actions:
                lenses.append(types.CodeLens(range=where, command=types.Command(title=title, command=name, arguments=[hypothesis_id])))
        return lenses
