"""The server's long operations (a run, an implementation, a proposal): kept by id so `status`
can list them, cancelled on shutdown so no work outlives the session."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class JobRunner:
    def __init__(self) -> None:
        self._jobs: dict[str, tuple[str, asyncio.Future[Any]]] = {}
        self._ids = itertools.count(1)

    def start(self, title: str, awaitable: Awaitable[T]) -> asyncio.Future[T]:
        job_id = f"t{next(self._ids)}"
        job = asyncio.ensure_future(awaitable)
        self._jobs[job_id] = (title, job)
        job.add_done_callback(lambda _j: self._jobs.pop(job_id, None))
        return job

    async def run(self, title: str, awaitable: Awaitable[T]) -> T:
        """Run `awaitable` as a kept job and wait for it; cancelling the waiter cancels it."""
        job = self.start(title, awaitable)
        try:
            return await asyncio.shield(job)
        except asyncio.CancelledError:
            job.cancel()
            raise

    def running(self) -> list[dict[str, str]]:
        return [{"id": job_id, "title": title} for job_id, (title, _j) in self._jobs.items()]

    async def cancel_all(self, timeout: float = 5.0) -> None:
        jobs = [job for _title, job in self._jobs.values()]
        for job in jobs:
            job.cancel()
        if jobs:
            _done, pending = await asyncio.wait(jobs, timeout=timeout)
            for _job in pending:
                log.warning("a job did not stop within %.0f s of shutdown", timeout)
