"""The run queue in the editor: `mlrCopilot.queue` lists the runs waiting for a slot, running
and lately ended (the MLR Experiments view shows them); `mlrCopilot.cancelQueued RUN_ID`
cancels one, whichever process owns it (the CLI's `queue cancel`)."""

from __future__ import annotations

import asyncio
from typing import Any

from .arguments import arg, option
from .feature import Feature, command
from .results import to_json


class QueueFeature(Feature):
    """No state of its own: the queue lives in `.mlr/queue/`, read afresh at each call."""

    @command("mlrCopilot.queue", "Show the run queue")
    async def queue(self, *args: Any) -> list[Any]:
        options = arg(args, 0, {}, dict, "the queue options")
        all_ended = bool(option(options, "all", bool))
        entries = await asyncio.to_thread(self.server.engine.queue, all_ended=all_ended)
        return [to_json(entry) for entry in entries]

    @command("mlrCopilot.cancelQueued", "Cancel a queued run")
    async def cancel_queued(self, *args: Any) -> Any:
        run_id = arg(args, 0, "", str, "the run id")
        return to_json(await asyncio.to_thread(self.server.engine.cancel_queued, run_id))
