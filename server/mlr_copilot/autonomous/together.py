"""Jobs of the autonomous mode that go on at once (the hypotheses of a session, the attempts
of an evaluation), and how one that fails stops the others: as a cancel would, through the
cancel event their `Work` watches, so each ends cleanly (its runs stopped and recorded, its
state saved) instead of being cut off mid-step by `asyncio` cancellation."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Awaitable, Iterable
from typing import TypeVar

T = TypeVar("T")
# how often a relay looks for a cancel (Ctrl-C, `mlr-copilot queue cancel`)
RELAY_POLL_S = 0.2


async def together(jobs: Iterable[Awaitable[T]], halt: threading.Event) -> list[T]:
    """Every job's result, in order. The first job to fail sets `halt`, which the others
    watch as a cancel; once every job has ended, that first failure is raised."""
    failures: list[BaseException] = []

    async def watched(job: Awaitable[T]) -> T:
        try:
            return await job
        except BaseException as exc:
            failures.append(exc)
            halt.set()
            raise

    done = await asyncio.gather(*(watched(job) for job in jobs), return_exceptions=True)
    if failures:
        raise failures[0]
    return [result for result in done if not isinstance(result, BaseException)]


@contextlib.asynccontextmanager
async def relaying(target: threading.Event, *sources: threading.Event | asyncio.Event) -> AsyncIterator[None]:
    """While the block runs, set `target` once any of `sources` is set: a job's own cancel
    follows the whole operation's, its queue lease's, a sibling's failure."""

    async def relay() -> None:
        while not any(source.is_set() for source in sources):
            await asyncio.sleep(RELAY_POLL_S)
        target.set()

    task = asyncio.ensure_future(relay())
    try:
        yield
    finally:
        task.cancel()
