"""Background tasks of the server: kept by id so `status` can list them, cancelled on
shutdown so no work outlives the session."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable
from typing import Any

log = logging.getLogger(__name__)


class TaskRunner:
    def __init__(self) -> None:
        self._tasks: dict[str, tuple[str, asyncio.Task]] = {}
        self._ids = itertools.count(1)

    def start(self, title: str, awaitable: Awaitable[Any]) -> asyncio.Task:
        task_id = f"t{next(self._ids)}"
        task = asyncio.ensure_future(awaitable)
        self._tasks[task_id] = (title, task)
        task.add_done_callback(lambda _t: self._tasks.pop(task_id, None))
        return task

    async def run(self, title: str, awaitable: Awaitable[Any]) -> Any:
        """Run `awaitable` as a kept task and wait for it; cancelling the waiter cancels it."""
        task = self.start(title, awaitable)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            task.cancel()
            raise

    def running(self) -> list[dict[str, str]]:
        return [{"id": task_id, "title": title} for task_id, (title, _t) in self._tasks.items()]

    async def cancel_all(self, timeout: float = 5.0) -> None:
        tasks = [task for _title, task in self._tasks.values()]
        for task in tasks:
            task.cancel()
        if tasks:
            done, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in pending:
                log.warning("a task did not stop within %.0f s of shutdown", timeout)
