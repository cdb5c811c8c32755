"""Implementation in the editor: implement an accepted hypothesis with reviewed changes, and
undo the last agent commit."""

from __future__ import annotations

from lsprotocol import types

from ..experiment.change import Review
from .progress import progress
from .review import EditorReviewer
from .server import MlrServer, arg, command


async def confirm_init(ls: MlrServer, problem: str) -> bool:
    """Ask before creating a git repository; a client that cannot ask gets a clear error."""
    window = getattr(ls.client_capabilities, "window", None)
    if not (window and window.show_message):
        return False
    answer = await ls.window_show_message_request_async(types.ShowMessageRequestParams(
        type=types.MessageType.Warning,
        message=f"MLR-Copilot: {problem}. Initialise a git repository here, with a first commit of the starter code?",
        actions=[types.MessageActionItem(title="Initialise"), types.MessageActionItem(title="Cancel")],
    ))
    return bool(answer and answer.title == "Initialise")


def setup(server: MlrServer) -> None:
    server.reviewer = EditorReviewer(server)

    @command(server, "mlrCopilot.implement", "Implement hypothesis")
    async def implement(ls: MlrServer, *args) -> dict:
        hypothesis_id = arg(args, 0, "", str, "the hypothesis id")
        async with progress(ls, f"MLR-Copilot: implementing {hypothesis_id}") as work:
            state = await ls.tasks.run(
                f"Implement {hypothesis_id}",
                ls.engine.implement(hypothesis_id, ls.reviewer, work, lambda problem: confirm_init(ls, problem)),
            )
        return {"hypothesis": state.hypothesis, "branch": state.branch, "status": state.status,
                "message": state.message, "commits": state.commits,
                "steps": [s.model_dump(mode="json") for s in state.steps]}

    @command(server, "mlrCopilot.acceptEdit", "Accept proposed change")
    async def accept_edit(ls: MlrServer, *args) -> dict:
        ls.reviewer.decide(arg(args, 0, "", str, "the proposal id"), Review(True))
        return {"accepted": True}

    @command(server, "mlrCopilot.rejectEdit", "Reject proposed change")
    async def reject_edit(ls: MlrServer, *args) -> dict:
        ls.reviewer.decide(arg(args, 0, "", str, "the proposal id"),
                           Review(False, reason=arg(args, 1, "", str, "the reason")))
        return {"accepted": False}

    @command(server, "mlrCopilot.undo", "Undo last change")
    async def undo(ls: MlrServer, *args) -> dict:
        import asyncio

        sha = await asyncio.to_thread(ls.engine.undo)
        return {"reverted": True, "commit": sha}
