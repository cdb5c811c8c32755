"""Work-done progress: a fresh token each time, cancellable from the client, and a no-op
where the client cannot show progress (python-lsp-server's habit)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import Future
from contextlib import asynccontextmanager
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from ..work import Work

log = logging.getLogger(__name__)


def client_supports_progress(server: LanguageServer) -> bool:
    window = getattr(server.client_capabilities, "window", None)
    return bool(window and window.work_done_progress)


@asynccontextmanager
async def progress(server: LanguageServer, title: str, *, cancellable: bool = True) -> AsyncIterator[Work]:
    """Yield a `Work` whose reports become progress notifications and whose `cancel` event is
    set when the client cancels; the task running the block is cancelled too, so awaits stop."""
    work = Work()
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    token: str | None = None
    if client_supports_progress(server):
        token = f"mlr-{uuid.uuid4()}"
        try:
            await server.work_done_progress.create_async(token)
        except Exception as exc:  # a client may refuse the token; work still goes on
            log.warning("progress token refused: %s", exc)
            token = None
    if token is not None:
        server.work_done_progress.begin(
            token, types.WorkDoneProgressBegin(title=title, cancellable=cancellable, percentage=0)
        )
        future = server.work_done_progress.tokens.get(token)

        def cancelled(fut: Future[Any]) -> None:
            if fut.cancelled():
                loop.call_soon_threadsafe(work.cancel.set)
                if task is not None:
                    loop.call_soon_threadsafe(task.cancel)

        if future is not None:
            future.add_done_callback(cancelled)

        def report(message: str, percentage: int | None = None) -> None:
            value = types.WorkDoneProgressReport(message=message[:300], percentage=percentage)
            # engine threads report too: hop onto the loop that owns the transport
            loop.call_soon_threadsafe(server.work_done_progress.report, token, value)

        work.report = report
    try:
        yield work
    except asyncio.CancelledError:
        # however the task was cancelled (client, shutdown), threads doing the work must stop too
        work.cancel.set()
        raise
    finally:
        if token is not None:
            message = "cancelled" if work.cancel.is_set() else "done"
            server.work_done_progress.end(token, types.WorkDoneProgressEnd(message=message))
            server.work_done_progress.tokens.pop(token, None)
