"""A run's failures as diagnostics at the file and line `runners/pinning.py` gives them, with
the quick fixes "Fix with MLR-Copilot" and "Dismiss"; a document's diagnostics go when it is
edited (the lines they point at may have moved)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.uris import from_fs_path

from ..runners.pinning import pin
from .arguments import arg
from .feature import Feature, command
from .results import DismissResult

if TYPE_CHECKING:
    from ..runners.model import RunRecord
    from .server import MlrServer

SOURCE = "mlr-copilot"
MAX_QUICK_FIXES = 50


def _severity(kind: str) -> types.DiagnosticSeverity:
    return types.DiagnosticSeverity.Warning if kind in ("no-metric", "nan") else types.DiagnosticSeverity.Error


class DiagnosticsFeature(Feature):
    code_action_kinds = (types.CodeActionKind.QuickFix,)

    def __init__(self, server: MlrServer) -> None:
        super().__init__(server)
        # the diagnostics last published, by URI, so one can be dismissed and the others kept
        self.published: dict[str, list[types.Diagnostic]] = {}

    def publish(self, record: RunRecord) -> None:
        """Replace the diagnostics of the last run with those of `record` (none when it passed)."""
        engine = self.server.engine
        by_uri: dict[str, list[types.Diagnostic]] = {}
        for index, failure in enumerate(record.failures):
            where = pin(record, failure, engine.settings.run.results_file)
            line = where.line - 1
            uri = from_fs_path(str(engine.workspace / where.path)) or where.path
            by_uri.setdefault(uri, []).append(types.Diagnostic(
                range=types.Range(start=types.Position(line=line, character=0), end=types.Position(line=line, character=10_000)),
                message=f"{failure.message} (run {record.id}, {failure.kind})", severity=_severity(failure.kind), source=SOURCE,
                code=failure.kind, data={"run_id": record.id, "index": index},
            ))
        for uri in set(self.published) - set(by_uri):
            self._send(uri, [])
        for uri, diagnostics in by_uri.items():
            self._send(uri, diagnostics)
        self.published = by_uri

    def clear(self, uri: str) -> None:
        if self.published.pop(uri, None) is not None:
            self._send(uri, [])

    def dismiss(self, uri: str, data: Any) -> int:
        """Drop the diagnostic whose `data` (run and failure index) matches, republishing the
        file's others; how many were dropped."""
        published = self.published.get(uri, [])
        kept = [diagnostic for diagnostic in published if diagnostic.data != data]
        if len(kept) == len(published):
            return 0
        if kept:
            self.published[uri] = kept
            self._send(uri, kept)
        else:
            self.clear(uri)
        return len(published) - len(kept)

    def _send(self, uri: str, diagnostics: list[types.Diagnostic]) -> None:
        self.server.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics))

    @command("mlrCopilot.dismiss", "Dismiss diagnostic")
    async def dismiss_command(self, *args: Any) -> dict[str, Any]:
        uri = arg(args, 0, "", str, "the URI")
        data = arg(args, 1, {}, dict, "the diagnostic").get("data")
        return DismissResult(uri=uri, dismissed=self.dismiss(uri, data)).model_dump(mode="json")

    def document_changed(self, params: types.DidChangeTextDocumentParams) -> None:
        self.clear(params.text_document.uri)

    def code_actions(self, params: types.CodeActionParams) -> list[types.CodeAction]:
        actions = []
        # a run publishes a few diagnostics per file; the client may send any number back
        ours = [diagnostic for diagnostic in params.context.diagnostics if diagnostic.source == SOURCE]
        for diagnostic in ours[:MAX_QUICK_FIXES]:
            payload = [params.text_document.uri, {"data": diagnostic.data, "message": diagnostic.message}]
            actions.append(types.CodeAction(
                title="Fix with MLR-Copilot", kind=types.CodeActionKind.QuickFix, diagnostics=[diagnostic],
                is_preferred=True, command=types.Command(title="Fix with MLR-Copilot", command="mlrCopilot.fix", arguments=payload)))
            actions.append(types.CodeAction(
                title="Dismiss", kind=types.CodeActionKind.QuickFix, diagnostics=[diagnostic],
                command=types.Command(title="Dismiss", command="mlrCopilot.dismiss", arguments=payload)))
        return actions
