"""Ideas in the editor: propose hypotheses from a PDF, the lenses on the hypotheses document,
and the accept / reject / refine decisions."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from lsprotocol import types
from pygls.uris import from_fs_path, to_fs_path

from ..errors import MlrError
from ..ideas.document import document_path, feedback_for, marker_lines
from .arguments import arg
from .feature import Feature, command
from .progress import progress
from .results import ProposeResult, hypothesis_info

if TYPE_CHECKING:
    from ..ideas.model import Status
    from .server import MlrServer

log = logging.getLogger(__name__)

# A hypotheses document holds a few proposals of at most 20 hypotheses (`ideas.hypotheses`)
# each: a few KB to a few hundred. Past these caps it is no document the server wrote, and its
# lenses stop there instead of costing the editor and the server without bound (a 50 MB file
# with 450k markers made 1.8M lenses).
MAX_LENS_BYTES = 2 * 1024 * 1024
MAX_LENS_HYPOTHESES = 200


class IdeasFeature(Feature):
    def __init__(self, server: MlrServer) -> None:
        super().__init__(server)
        # Decisions read, change and save a run in a thread: one at a time, or two quick clicks
        # on the same run would each save their own copy and one decision would be lost.
        self.decisions = asyncio.Lock()
        # (uri, kind) of the lens warnings given: lenses are asked for again on every edit
        self.lens_warnings: set[tuple[str, str]] = set()

    def setup(self) -> None:
        self.server.handle(types.TEXT_DOCUMENT_CODE_LENS, self.code_lens)

    @command("mlrCopilot.proposeHypotheses", "Propose hypotheses")
    async def propose(self, *args: Any) -> dict[str, Any]:
        pdf = arg(args, 0, kind=str, name="the PDF")
        if not pdf:
            raise MlrError("Propose hypotheses needs the PDF's URI or path as its argument")
        ls = self.server
        async with progress(ls, "MLR-Copilot: proposing hypotheses") as work:
            run = await ls.jobs.run("Propose hypotheses", ls.engine.propose_hypotheses(str(pdf), work))
        # the engine writes the document before it answers
        uri = from_fs_path(run.document or str(document_path(ls.engine.workspace, run.paper_slug)))
        await self.refresh_lenses()
        window = getattr(ls.client_capabilities, "window", None)
        if window and window.show_document and window.show_document.support:
            ls.window_show_document(types.ShowDocumentParams(uri=uri, take_focus=True))
        hypotheses = [hypothesis_info(h) for h in sorted(run.hypotheses, key=lambda h: h.rank)]
        return ProposeResult(document=uri, notes=run.notes, hypotheses=hypotheses).model_dump(mode="json")

    @command("mlrCopilot.listHypotheses", "List hypotheses")
    async def list_hypotheses(self, *args: Any) -> list[dict[str, Any]]:
        hypotheses = await asyncio.to_thread(self.server.engine.hypotheses)
        return [hypothesis_info(h).model_dump(mode="json") for h in hypotheses]

    @command("mlrCopilot.acceptHypothesis", "Accept hypothesis")
    async def accept(self, *args: Any) -> dict[str, Any]:
        return await self.decide(args, "accepted")

    @command("mlrCopilot.rejectHypothesis", "Reject hypothesis")
    async def reject(self, *args: Any) -> dict[str, Any]:
        return await self.decide(args, "rejected")

    @command("mlrCopilot.refineHypothesis", "Refine hypothesis")
    async def refine(self, *args: Any) -> dict[str, Any]:
        hypothesis_id = arg(args, 0, "", str, "the hypothesis id")
        feedback = arg(args, 1, kind=str, name="the feedback") or await self.editor_feedback(hypothesis_id)
        ls = self.server
        async with progress(ls, "MLR-Copilot: refining a hypothesis") as work:
            hypothesis = await ls.jobs.run("Refine hypothesis", ls.engine.refine(hypothesis_id, feedback, work))
        await self.refresh_lenses()
        return hypothesis_info(hypothesis).model_dump(mode="json")

    async def decide(self, args: tuple[Any, ...], status: Status) -> dict[str, Any]:
        hypothesis_id = arg(args, 0, "", str, "the hypothesis id")
        reason = arg(args, 1, "", str, "the reason")
        async with self.decisions:
            hypothesis = await asyncio.to_thread(self.server.engine.decide, hypothesis_id, status, reason)
        await self.refresh_lenses()
        return hypothesis_info(hypothesis).model_dump(mode="json")

    async def code_lens(self, params: types.CodeLensParams) -> list[types.CodeLens]:
        uri = params.text_document.uri
        path = Path(to_fs_path(uri) or "")
        if path.name != "hypotheses.md":
            return []
        text = await self.lens_text(uri, path)
        markers = await asyncio.to_thread(marker_lines, text)
        if len(markers) > MAX_LENS_HYPOTHESES:
            self.warn_once(uri, "markers", f"{path.name} has {len(markers)} hypothesis markers: lenses are shown "
                                           f"on the first {MAX_LENS_HYPOTHESES} only")
            markers = markers[:MAX_LENS_HYPOTHESES]
        ls = self.server
        statuses = {h.id: h.status for h in await asyncio.to_thread(ls.engine.hypotheses)} if ls.ready.is_set() else {}
        refine_command = ls.init_options.get("refineCommand") or "mlrCopilot.refineHypothesis"
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

    def warn_once(self, uri: str, kind: str, message: str) -> None:
        """A warning per document and kind."""
        if (uri, kind) not in self.lens_warnings:
            self.lens_warnings.add((uri, kind))
            self.server.warn(message)

    async def lens_text(self, uri: str, path: Path) -> str:
        """The document's text as the editor has it, else as saved; empty past MAX_LENS_BYTES."""
        opened = self.server.workspace.text_documents.get(unquote(uri))  # pygls keys them unquoted
        text: str = ""
        if opened is not None:
            text, size = opened.source, len(opened.source)
        else:
            size = await asyncio.to_thread(lambda: path.stat().st_size if path.is_file() else 0)
        if size > MAX_LENS_BYTES:
            self.warn_once(uri, "size", f"{path.name} is {size / 2**20:.1f} MB: no lenses on a hypotheses document over "
                                        f"{MAX_LENS_BYTES >> 20} MB")
            return ""
        if opened is None and size:
            text = await asyncio.to_thread(path.read_text, encoding="utf-8", errors="replace")
        return text

    async def refresh_lenses(self) -> None:
        """Ask the client to ask for lenses again, where it can: a decision changes them."""
        workspace = getattr(self.server.client_capabilities, "workspace", None)
        lens = workspace and workspace.code_lens
        if lens and lens.refresh_support:
            try:
                await self.server.workspace_code_lens_refresh_async(None)
            except Exception as exc:  # stale lenses until the next edit; the decision stands
                log.warning("the client refused to refresh code lenses: %s", exc)

    async def editor_feedback(self, hypothesis_id: str) -> str:
        """The feedback under the hypothesis in its document as open in the editor, saved or not;
        empty when the document is not open, so the engine reads the file instead."""
        engine = self.server.engine
        run, hypothesis = await asyncio.to_thread(engine.ideas.store.find, hypothesis_id)
        uri = from_fs_path(str(document_path(engine.workspace, run.paper_slug)))
        opened = self.server.workspace.text_documents.get(uri) if uri else None
        if opened is None:
            return ""
        feedback: str = await asyncio.to_thread(feedback_for, opened.source, hypothesis.id)
        return feedback
