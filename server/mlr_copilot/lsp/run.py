"""Execution in the editor: run the experiment with live log lines, failures as diagnostics
with quick fixes, autonomous debugging, and the run history."""

from __future__ import annotations

import asyncio
import math
import time

from lsprotocol import types
from pygls.uris import from_fs_path

from ..experiment.debug import command_file
from .progress import progress
from .server import MlrServer, arg, command, option

SOURCE = "mlr-copilot"
MAX_QUICK_FIXES = 50


def _severity(kind: str) -> types.DiagnosticSeverity:
    return types.DiagnosticSeverity.Warning if kind in ("no-metric", "nan") else types.DiagnosticSeverity.Error


def publish_failures(ls: MlrServer, record) -> None:
    """Replace the diagnostics of the last run with those of `record` (none when it passed)."""
    workspace = ls.engine.workspace
    by_uri: dict[str, list[types.Diagnostic]] = {}
    fallback = command_file(record.command) or ls.engine.settings.run.results_file
    for index, failure in enumerate(record.failures):
        rel = failure.path or fallback
        line = max((failure.line or 1) - 1, 0)
        uri = from_fs_path(str(workspace / rel))
        by_uri.setdefault(uri, []).append(types.Diagnostic(
            range=types.Range(start=types.Position(line=line, character=0), end=types.Position(line=line, character=10_000)),
            message=f"{failure.message} (run {record.id}, {failure.kind})", severity=_severity(failure.kind), source=SOURCE,
            code=failure.kind, data={"run_id": record.id, "index": index},
        ))
    for uri in set(ls.diagnosed) - set(by_uri):
        ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))
    for uri, diagnostics in by_uri.items():
        ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics))
    ls.diagnosed = by_uri


def clear_diagnostics(ls: MlrServer, uri: str) -> None:
    if ls.diagnosed.pop(uri, None) is not None:
        ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))


def dismiss_diagnostic(ls: MlrServer, uri: str, data) -> int:
    """Drop the diagnostic whose `data` (run and failure index) matches, republishing the
    file's others; how many were dropped."""
    published = ls.diagnosed.get(uri, [])
    kept = [diagnostic for diagnostic in published if diagnostic.data != data]
    if len(kept) == len(published):
        return 0
    if kept:
        ls.diagnosed[uri] = kept
        ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=kept))
    else:
        clear_diagnostics(ls, uri)
    return len(published) - len(kept)


def live_lines(ls: MlrServer, work):
    """An `on_line` callback for runner threads: log lines to the client's output, the latest
    line and the elapsed time into the progress."""
    loop = asyncio.get_running_loop()
    started = time.monotonic()

    def on_line(line: str) -> None:
        loop.call_soon_threadsafe(ls.log_line, line)
        elapsed = int(time.monotonic() - started)
        work.report(f"{elapsed // 60}:{elapsed % 60:02d} {line[:200]}", None)

    return on_line


def json_safe(data):
    """NaN and infinities become null: a diverged run's metric must not make the message
    invalid JSON for the client."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: json_safe(v) for k, v in data.items()}
    if isinstance(data, list):
        return [json_safe(v) for v in data]
    return data


def record_summary(record) -> dict:
    data = record.model_dump(mode="json")
    data["value"] = record.primary_value
    return json_safe(data)


def setup(server: MlrServer) -> None:
    # the diagnostics last published, by URI, so one can be dismissed and the others kept
    server.diagnosed = {}

    async def run_once(ls: MlrServer, work, options: dict) -> object:
        record = await ls.engine.run(work, command=option(options, "command", (str, list[str])),
                                     runner=option(options, "runner", str),
                                     timeout=option(options, "timeout", (int, float)), on_line=live_lines(ls, work))
        publish_failures(ls, record)
        return record

    @command(server, "mlrCopilot.run", "Run experiment")
    async def run(ls: MlrServer, *args) -> dict:
        options = arg(args, 0, {}, dict, "the run options")
        async with progress(ls, "MLR-Copilot: running the experiment") as work:
            record = await ls.tasks.run("Run experiment", run_once(ls, work, options))
        return record_summary(record)

    @command(server, "mlrCopilot.fix", "Fix with MLR-Copilot")
    async def fix(ls: MlrServer, *args) -> dict:
        data = option(arg(args, 1, {}, dict, "the diagnostic"), "data", dict) or {}
        run_id = option(data, "run_id", str) or arg(args, 0, "", str, "the run id")
        async with progress(ls, "MLR-Copilot: fixing the failed run") as work:
            result = await ls.tasks.run("Fix", ls.engine.fix(run_id, ls.reviewer, work, on_line=live_lines(ls, work)))
        if result.run:
            publish_failures(ls, result.run)
        return json_safe(result.model_dump(mode="json"))

    @command(server, "mlrCopilot.dismiss", "Dismiss diagnostic")
    async def dismiss(ls: MlrServer, *args) -> dict:
        uri = arg(args, 0, "", str, "the URI")
        data = arg(args, 1, {}, dict, "the diagnostic").get("data")
        return {"uri": uri, "dismissed": dismiss_diagnostic(ls, uri, data)}

    @command(server, "mlrCopilot.debug", "Debug automatically")
    async def debug(ls: MlrServer, *args) -> dict:
        async with progress(ls, "MLR-Copilot: debugging automatically") as work:
            report = await ls.tasks.run("Debug", ls.engine.debug(ls.reviewer, work, on_line=live_lines(ls, work)))
        if report.final_run:
            publish_failures(ls, report.final_run)
        return json_safe(report.model_dump(mode="json"))

    @command(server, "mlrCopilot.history", "Show history")
    async def history(ls: MlrServer, *args) -> dict:
        options = arg(args, 0, {}, (dict, str), "the history options")
        # a bare string is the branch, as a client may send it
        branch = options if isinstance(options, str) else option(options, "branch", str)
        table = await asyncio.to_thread(ls.engine.history, branch)
        return json_safe(table.model_dump(mode="json"))

    @command(server, "mlrCopilot.listRuns", "List runs")
    async def list_runs(ls: MlrServer, *args) -> list:
        runs = await asyncio.to_thread(ls.engine.runs)
        return [record_summary(r) for r in runs]

    @server.feature(types.TEXT_DOCUMENT_CODE_ACTION,
                    types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]))
    def code_actions(ls: MlrServer, params: types.CodeActionParams) -> list[types.CodeAction]:
        actions = []
        # a run publishes a few diagnostics per file; the client may send any number back
        ours = [diagnostic for diagnostic in params.context.diagnostics if diagnostic.source == SOURCE]
        for diagnostic in ours[:MAX_QUICK_FIXES]:
            uri = params.text_document.uri
            payload = [uri, {"data": diagnostic.data, "message": diagnostic.message}]
            actions.append(types.CodeAction(
                title="Fix with MLR-Copilot", kind=types.CodeActionKind.QuickFix, diagnostics=[diagnostic],
                is_preferred=True, command=types.Command(title="Fix with MLR-Copilot", command="mlrCopilot.fix", arguments=payload)))
            actions.append(types.CodeAction(
                title="Dismiss", kind=types.CodeActionKind.QuickFix, diagnostics=[diagnostic],
                command=types.Command(title="Dismiss", command="mlrCopilot.dismiss", arguments=payload)))
        return actions

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def on_change(ls: MlrServer, params: types.DidChangeTextDocumentParams) -> None:
        clear_diagnostics(ls, params.text_document.uri)
