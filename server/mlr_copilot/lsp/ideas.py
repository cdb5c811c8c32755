"""Ideas in the editor: propose hypotheses from a PDF, the lenses on the hypotheses document,
and the accept / reject / refine decisions."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import unquote

from lsprotocol import types
from pygls.uris import from_fs_path, to_fs_path

from ..ideas.document import document_path, feedback_for, marker_lines
from .progress import progress
from .server import MlrServer, arg, command

# A hypotheses document holds a few proposals of at most 20 hypotheses (`ideas.hypotheses`)
# each: a few KB to a few hundred. Past these caps it is no document the server wrote, and its
# lenses stop there instead of costing the editor and the server without bound (a 50 MB file
# with 450k markers made 1.8M lenses).
MAX_LENS_BYTES = 2 * 1024 * 1024
MAX_LENS_HYPOTHESES = 200


def warn_once(ls: MlrServer, uri: str, kind: str, message: str) -> None:
    """A warning per document and kind: lenses are asked for again on every edit."""
    key = (uri, kind)
    if key not in ls.lens_warnings:
        ls.lens_warnings.add(key)
        ls.warn(message)


async def lens_text(ls: MlrServer, uri: str, path: Path) -> str:
    """The document's text as the editor has it, else as saved; empty past MAX_LENS_BYTES."""
    opened = ls.workspace.text_documents.get(unquote(uri))  # pygls keys them unquoted
    if opened is not None:
        text, size = opened.source, len(opened.source)
    else:
        size = await asyncio.to_thread(lambda: path.stat().st_size if path.is_file() else 0)
        text = ""
    if size > MAX_LENS_BYTES:
        warn_once(ls, uri, "size", f"{path.name} is {size / 2**20:.1f} MB: no lenses on a hypotheses document over "
                           f"{MAX_LENS_BYTES >> 20} MB")
        return ""
    if opened is None and size:
        text = await asyncio.to_thread(path.read_text, encoding="utf-8", errors="replace")
    return text


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
    if opened is None:
        return ""
    return await asyncio.to_thread(feedback_for, opened.source, hypothesis.id)


def setup(server: MlrServer) -> None:
    # Decisions read, change and save a run in a thread: one at a time, or two quick clicks
    # on the same run would each save their own copy and one decision would be lost.
    decisions = asyncio.Lock()
    server.lens_warnings = set()

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
        uri = params.text_document.uri
        path = Path(to_fs_path(uri) or "")
        if path.name != "hypotheses.md":
            return []
        text = await lens_text(ls, uri, path)
        markers = await asyncio.to_thread(marker_lines, text)
        if len(markers) > MAX_LENS_HYPOTHESES:
            warn_once(ls, uri, "markers", f"{path.name} has {len(markers)} hypothesis markers: lenses are shown "
                               f"on the first {MAX_LENS_HYPOTHESES} only")
            markers = markers[:MAX_LENS_HYPOTHESES]
        statuses = {h.id: h.status for h in await asyncio.to_thread(ls.engine.hypotheses)} if ls.ready.is_set() else {}
        refine_command = (ls.init_options.get("refineCommand") if ls.init_options else None) or "mlrCopilot.refineHypothesis"
        lenses = []
        for hypothesis_id, line in markers:
            where = types.Range(start=types.Position(line=line, character=0), end=types.Position(line=line, character=0))
            actions = [("Accept", "mlrCopilot.acceptHypothesis"), ("Reject", "mlrCopilot.rejectHypothesis"),
                       ("Refine", refine_command)]
            if statuses.get(hypothesis_id) == "accepted":
                actions.insert(0, ("Implement", "mlrCopilot.implement"))
            for title, name in actions:
                lenses.append(types.CodeLens(range=where, command=types.Command(title=title, command=name, arguments=[hypothesis_id])))
        return lenses
