"""Reviewing a proposed change in the editor.

Where the client supports change annotations, the change goes out as one `workspace/applyEdit`
whose edits all need confirmation (VS Code shows its refactor preview) and carry the versions
of open documents, so an edit to a document the user changed meanwhile is refused by the
client. The user may untick some changes, so `applied: true` does not mean all of them: what
the client applied is read back (open documents' text, else the file on disk) and only that is
committed. Elsewhere the proposed files are written under `.mlr/proposals/<id>/`, shown, and
the server waits for `mlrCopilot.acceptEdit` or `mlrCopilot.rejectEdit`.

`ReviewFeature` owns the reviewer: implementing, fixing and debugging take it from there.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.uris import from_fs_path

from ..errors import MlrError
from ..experiment.change import Proposal, Review
from ..state import write_json
from ..workspace.paths import safe_path
from .arguments import arg
from .feature import Feature, command
from .results import EditDecision

if TYPE_CHECKING:
    from .server import MlrServer

log = logging.getLogger(__name__)
ANNOTATION = "mlr-change"


class StaleDocumentError(MlrError):
    pass


def _minimal_edits(before: str, after: str, annotated: bool) -> list[types.TextEdit | types.AnnotatedTextEdit]:
    """Line-level edits from difflib, so the preview shows what changes, not a whole file."""
    old = before.splitlines(keepends=True)
    new = after.splitlines(keepends=True)
    edits: list[types.TextEdit | types.AnnotatedTextEdit] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        where = types.Range(start=types.Position(line=i1, character=0), end=types.Position(line=i2, character=0))
        text = "".join(new[j1:j2])
        if i2 == len(old) and old and not old[-1].endswith("\n"):
            # the last line has no newline: end the range at its end, not on a line past it
            where.end = types.Position(line=i2 - 1, character=len(old[-1].encode("utf-16-le")) // 2)
        if annotated:
            edits.append(types.AnnotatedTextEdit(range=where, new_text=text, annotation_id=ANNOTATION))
        else:
            edits.append(types.TextEdit(range=where, new_text=text))
    return edits


def workspace_edit(ls: MlrServer, workspace: Path, proposal: Proposal, annotated: bool) -> types.WorkspaceEdit:
    operations: list[types.TextDocumentEdit | types.CreateFile | types.RenameFile | types.DeleteFile] = []
    for change in proposal.changes:
        path = workspace / change.path
        uri = from_fs_path(str(path))
        document = ls.workspace.text_documents.get(uri)
        version = document.version if document is not None else None
        if document is not None and change.before is not None and document.source != change.before:
            raise StaleDocumentError(
                f"{change.path} has unsaved changes in the editor; save or revert it, then ask again"
            )
        annotation = ANNOTATION if annotated else None
        if change.created:
            operations.append(types.CreateFile(uri=uri, options=types.CreateFileOptions(overwrite=False, ignore_if_exists=False),
                                               annotation_id=annotation))
            operations.append(types.TextDocumentEdit(
                text_document=types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=None),
                edits=_minimal_edits("", change.after or "", annotated)))
        elif change.deleted:
            operations.append(types.DeleteFile(uri=uri, annotation_id=annotation))
        else:
            operations.append(types.TextDocumentEdit(
                text_document=types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version),
                edits=_minimal_edits(change.before or "", change.after or "", annotated)))
    annotations = None
    if annotated:
        annotations = {ANNOTATION: types.ChangeAnnotation(
            label=proposal.summary, needs_confirmation=True,
            description=proposal.why or f"MLR-Copilot, hypothesis {proposal.hypothesis}, step {proposal.step}")}
    return types.WorkspaceEdit(document_changes=operations, change_annotations=annotations)


def _disk_texts(workspace: Path, paths: list[str]) -> dict[str, str | None]:
    texts: dict[str, str | None] = {}
    for rel in paths:
        target = safe_path(workspace, rel)
        texts[rel] = target.read_bytes().decode("utf-8", errors="replace") if target.is_file() else None
    return texts


def supports_annotations(ls: MlrServer) -> bool:
    caps = ls.client_capabilities.workspace
    edit = caps and caps.workspace_edit
    return bool(caps and caps.apply_edit and edit and edit.document_changes and edit.change_annotation_support)


class EditorReviewer:
    """Reviews proposals in the connected editor; keeps pending command-based reviews."""

    def __init__(self, ls: MlrServer) -> None:
        self.ls = ls
        self.pending: dict[str, asyncio.Future[Review]] = {}

    async def __call__(self, proposal: Proposal) -> Review:
        workspace = self.ls.engine.workspace
        if supports_annotations(self.ls):
            edit = workspace_edit(self.ls, workspace, proposal, annotated=True)
            result = await self.ls.workspace_apply_edit_async(
                types.ApplyWorkspaceEditParams(edit=edit, label=f"MLR-Copilot: {proposal.summary}"))
            if result.applied:
                return Review(True, applied=await self._applied(workspace, proposal))
            return Review(False, reason=result.failure_reason or "")
        return await self._by_command(workspace, proposal)

    async def _applied(self, workspace: Path, proposal: Proposal) -> dict[str, str | None] | None:
        """Each touched file as the client left it: the open document's text where the client
        syncs it, else the file on disk. None when no file changed at all: the client applied
        the edit where the server cannot see it (unsaved buffers it does not sync), so the
        server writes the whole change. A client with nothing ticked answers applied: false."""
        contents: dict[str, str | None] = {}
        for change in proposal.changes:
            document = self.ls.workspace.text_documents.get(from_fs_path(str(workspace / change.path)))
            if document is not None:
                contents[change.path] = document.source
        unsynced = [c.path for c in proposal.changes if c.path not in contents]
        contents.update(await asyncio.to_thread(_disk_texts, workspace, unsynced))
        if all(contents[c.path] == c.before for c in proposal.changes):
            return None
        return contents

    async def _by_command(self, workspace: Path, proposal: Proposal) -> Review:
        folder = self.ls.engine.state.folder("proposals", proposal.id)
        for change in proposal.changes:
            target = folder / change.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(change.after if change.after is not None else "(deleted)\n", encoding="utf-8")
        (folder / "change.diff").write_text(proposal.diff, encoding="utf-8")
        write_json(folder / "proposal.json", {"id": proposal.id, "summary": proposal.summary, "paths": proposal.paths})
        future: asyncio.Future[Review] = asyncio.get_running_loop().create_future()
        self.pending[proposal.id] = future
        window = getattr(self.ls.client_capabilities, "window", None)
        if window and window.show_document and window.show_document.support:
            self.ls.window_show_document(types.ShowDocumentParams(uri=from_fs_path(str(folder / "change.diff")), take_focus=True))
        self.ls.window_show_message(types.ShowMessageParams(
            type=types.MessageType.Info,
            message=(f"MLR-Copilot proposes '{proposal.summary}' ({', '.join(proposal.paths)}). "
                     f"Review {folder / 'change.diff'}, then run mlrCopilot.acceptEdit {proposal.id} "
                     f"or mlrCopilot.rejectEdit {proposal.id} [reason].")))
        try:
            return await future
        finally:
            self.pending.pop(proposal.id, None)

    def decide(self, proposal_id: str, review: Review) -> None:
        future = self.pending.get(proposal_id) or (next(iter(self.pending.values())) if not proposal_id and len(self.pending) == 1 else None)
        if future is None:
            known = ", ".join(self.pending) or "none"
            raise MlrError(f"no proposal '{proposal_id}' is waiting for review (waiting: {known})")
        if not future.done():
            future.set_result(review)


class ReviewFeature(Feature):
    """Holds the editor's reviewer, with the proposals waiting for a decision by command."""

    def __init__(self, server: MlrServer) -> None:
        super().__init__(server)
        self.reviewer = EditorReviewer(server)

    @command("mlrCopilot.acceptEdit", "Accept proposed change")
    async def accept_edit(self, *args: Any) -> dict[str, Any]:
        self.reviewer.decide(arg(args, 0, "", str, "the proposal id"), Review(True))
        return EditDecision(accepted=True).model_dump(mode="json")

    @command("mlrCopilot.rejectEdit", "Reject proposed change")
    async def reject_edit(self, *args: Any) -> dict[str, Any]:
        self.reviewer.decide(arg(args, 0, "", str, "the proposal id"), Review(False, reason=arg(args, 1, "", str, "the reason")))
        return EditDecision(accepted=False).model_dump(mode="json")
