"""Execution in the editor: run the experiment with live log lines, fix a failed run, debug
automatically, and the run history. Failures go to the diagnostics feature."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .arguments import arg, option
from .feature import Feature, command
from .progress import progress
from .results import batch_result, debug_result, fix_result, record_summary, to_json

if TYPE_CHECKING:
    from ..runners.batch import BatchItem
    from ..runners.model import RunRecord
    from ..work import Work
    from .diagnostics import DiagnosticsFeature
    from .review import ReviewFeature
    from .server import MlrServer


class RunFeature(Feature):
    """No state of its own: fixes and debugging are reviewed by the review feature's reviewer,
    and every run's failures are published by the diagnostics feature."""

    def __init__(self, server: MlrServer, review: ReviewFeature, diagnostics: DiagnosticsFeature) -> None:
        super().__init__(server)
        self.review = review
        self.diagnostics = diagnostics

    @command("mlrCopilot.run", "Run experiment")
    async def run(self, *args: Any) -> dict[str, Any]:
        options = arg(args, 0, {}, dict, "the run options")
        async with progress(self.server, "MLR-Copilot: running the experiment") as work:
            record = await self.server.jobs.run("Run experiment", self.run_once(work, options))
        return record_summary(record)

    async def run_once(self, work: Work, options: dict[str, Any]) -> RunRecord:
        record: RunRecord = await self.server.engine.run(
            work, command=option(options, "command", (str, list[str])), runner=option(options, "runner", str),
            timeout=option(options, "timeout", (int, float)), on_line=self.live_lines(work),
            rev=option(options, "rev", str))
        self.diagnostics.publish(record)
        return record

    @command("mlrCopilot.runAllAccepted", "Run on all accepted hypotheses")
    async def run_all_accepted(self, *args: Any) -> list[dict[str, Any]]:
        """Options: `ids` (only these hypotheses), `baseline` (the base branch's head too),
        `runner`, `timeout`. Each run is answered with its record or the line saying why it has
        none; the queue view shows them while they wait and run. Their failures are not
        published as diagnostics: they are pinned in other commits' files than the open ones."""
        options = arg(args, 0, {}, dict, "the run options")
        ls = self.server
        async with progress(ls, "MLR-Copilot: running the accepted hypotheses") as work:
            def ended(item: BatchItem) -> None:
                outcome = item.error or (f"run {item.run.id} {item.run.status}" if item.run else "no run")
                work.report(f"{item.target}: {outcome}", None)

            items = await ls.jobs.run("Run on all accepted hypotheses", ls.engine.run_hypotheses(
                work, option(options, "ids", list[str]), baseline=option(options, "baseline", bool) is True,
                runner=option(options, "runner", str), timeout=option(options, "timeout", (int, float)),
                on_line=self.live_lines(work), on_end=ended))
        return batch_result(items)

    @command("mlrCopilot.checkoutRun", "Check out a run's commit in a worktree")
    async def checkout_run(self, *args: Any) -> Any:
        run_id = arg(args, 0, "", str, "the run id")
        path = arg(args, 1, None, str, "the folder")
        return to_json(await asyncio.to_thread(self.server.engine.checkout_run, run_id, path))

    @command("mlrCopilot.fix", "Fix with MLR-Copilot")
    async def fix(self, *args: Any) -> Any:
        data = option(arg(args, 1, {}, dict, "the diagnostic"), "data", dict) or {}
        run_id = option(data, "run_id", str) or arg(args, 0, "", str, "the run id")
        ls = self.server
        async with progress(ls, "MLR-Copilot: fixing the failed run") as work:
            result = await ls.jobs.run("Fix", ls.engine.fix(run_id, self.review.reviewer, work, on_line=self.live_lines(work)))
        answer, record = fix_result(result)
        if record is not None:
            self.diagnostics.publish(record)
        return answer

    @command("mlrCopilot.debug", "Debug automatically")
    async def debug(self, *args: Any) -> Any:
        ls = self.server
        async with progress(ls, "MLR-Copilot: debugging automatically") as work:
            report = await ls.jobs.run("Debug", ls.engine.debug(self.review.reviewer, work, on_line=self.live_lines(work)))
        answer, record = debug_result(report)
        if record is not None:
            self.diagnostics.publish(record)
        return answer

    @command("mlrCopilot.history", "Show history")
    async def history(self, *args: Any) -> Any:
        options = arg(args, 0, {}, (dict, str), "the history options")
        # a bare string is the branch, as a client may send it
        branch = options if isinstance(options, str) else option(options, "branch", str)
        every = isinstance(options, dict) and option(options, "all_branches", bool) is True
        return to_json(await asyncio.to_thread(self.server.engine.history, branch, all_branches=every))

    @command("mlrCopilot.compare", "Compare two runs")
    async def compare(self, *args: Any) -> Any:
        run_a = arg(args, 0, "", str, "the first run id")
        run_b = arg(args, 1, "", str, "the second run id")
        return to_json(await asyncio.to_thread(self.server.engine.compare, run_a, run_b))

    @command("mlrCopilot.listRuns", "List runs")
    async def list_runs(self, *args: Any) -> list[dict[str, Any]]:
        runs = await asyncio.to_thread(self.server.engine.runs)
        return [record_summary(r) for r in runs]

    def live_lines(self, work: Work) -> Callable[[str], None]:
        """An `on_line` callback for runner threads: log lines to the client's output, the latest
        line and the elapsed time into the progress."""
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        log_line = self.server.log_line

        def on_line(line: str) -> None:
            loop.call_soon_threadsafe(log_line, line)
            elapsed = int(time.monotonic() - started)
            work.report(f"{elapsed // 60}:{elapsed % 60:02d} {line[:200]}", None)

        return on_line
