"""Implementation in the editor: implement an accepted hypothesis with reviewed changes, and
undo the last agent commit."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from .arguments import arg
from .feature import Feature, command
from .progress import progress
from .results import UndoResult, implement_result

if TYPE_CHECKING:
    from .review import ReviewFeature
    from .server import MlrServer


class ImplementFeature(Feature):
    """Uses the review feature's reviewer for each proposed change; no state of its own."""

    def __init__(self, server: MlrServer, review: ReviewFeature) -> None:
        super().__init__(server)
        self.review = review

    @command("mlrCopilot.implement", "Implement hypothesis")
    async def implement(self, *args: Any) -> dict[str, Any]:
        hypothesis_id = arg(args, 0, "", str, "the hypothesis id")
        ls = self.server
        async with progress(ls, f"MLR-Copilot: implementing {hypothesis_id}") as work:
            state = await ls.jobs.run(
                f"Implement {hypothesis_id}",
                ls.engine.implement(hypothesis_id, self.review.reviewer, work, self.confirm_init),
            )
        return implement_result(state).model_dump(mode="json")

    @command("mlrCopilot.undo", "Undo last change")
    async def undo(self, *args: Any) -> dict[str, Any]:
        sha = await asyncio.to_thread(self.server.engine.undo)
        return UndoResult(reverted=True, commit=sha).model_dump(mode="json")

    async def confirm_init(self, problem: str) -> bool:
        """Ask before creating a git repository; a client that cannot ask gets a clear error."""
        ls = self.server
        window = getattr(ls.client_capabilities, "window", None)
        if not (window and window.show_message):
            return False
        answer = await ls.window_show_message_request_async(types.ShowMessageRequestParams(
            type=types.MessageType.Warning,
            message=f"MLR-Copilot: {problem}. Initialise a git repository here, with a first commit of the starter code?",
            actions=[types.MessageActionItem(title="Initialise"), types.MessageActionItem(title="Cancel")],
        ))
        return bool(answer and answer.title == "Initialise")
