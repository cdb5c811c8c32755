"""The run queue: a run waits here until a slot (`slots.py`) is free, then holds it while it
executes.

Policy:

* First come, first served: a waiting run takes the first free slot with enough GPUs, in the
  order the runs arrived. A run asking for more GPUs than any slot has fails at once
  (`NoSlotError`), before it waits: it would wait forever.
* Each entry is saved as `.mlr/queue/<run-id>.json` (state, slot, GPUs, node, times, owner)
  when it changes, so another process (`mlr-copilot queue`) sees the queue: `queue_status`.
  An entry left pending or running by a process that is gone shows as `interrupted`.
* `cancel(workspace, run_id)`, from any process, leaves a request `.mlr/queue/<run-id>.cancel`;
  the queue that owns the run polls for requests. A waiting run then leaves the queue with
  `RunCancelledError`; a running one has its lease's `cancelled` event set, which the caller
  wires to the runner's cancel (it stops the process tree or container). In the same process,
  `SlotQueue.cancel` does the same without the round trip.
* The files written are small and written whole (write, then rename); the polling reads them
  off the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from mlr_copilot.errors import MlrError
from mlr_copilot.plain import jsonable
from mlr_copilot.runners.owner import run_owner
from mlr_copilot.runners.proctree import start_ticks
from mlr_copilot.runners.queue_records import (
    CANCEL_SUFFIX,
    ENDED,
    KEEP_ENDED,
    RECENT_ENDED,
    QueuedRun,
    QueueEntry,
    QueueError,
    QueueState,
    cancel,
    entry_path,
    forget_ended,
    queue_dir,
    queue_status,
    queue_view,
)
from mlr_copilot.runners.slots import Slot, SlotPlan
from mlr_copilot.state import write_json

# The entries as the files hold them have their home in queue_records.py (the light commands
# read them without this module's event loop); the queue's users find them here too.
__all__ = ["ENDED", "KEEP_ENDED", "RECENT_ENDED", "Lease", "QueueEntry", "QueueError", "QueuedRun",
           "RunCancelledError", "SlotQueue", "cancel", "cancelled_by", "forget_ended", "queue_status", "queue_view",
           "relay_cancel"]

log = logging.getLogger(__name__)

POLL_S = 0.5
# how often an operation's cancel is looked for, to pass on to its run in the queue
RELAY_S = 0.1


class RunCancelledError(MlrError):
    """The run was cancelled while it waited for a slot."""


@dataclass(frozen=True)
class Lease:
    """A slot held by one run: the GPUs it may use, and the event set when it is cancelled."""

    run_id: str
    slot: Slot
    gpu_ids: tuple[str, ...]
    cancelled: asyncio.Event = field(default_factory=asyncio.Event, compare=False)


def _cancel_requests(folder: Path, run_ids: list[str]) -> list[str]:
    return [run_id for run_id in run_ids if (folder / f"{run_id}{CANCEL_SUFFIX}").exists()]


@dataclass
class _Waiter:
    run_id: str
    gpus: int
    granted: asyncio.Future[Slot]


class SlotQueue:
    """The slots of one machine and the runs waiting for them (one per engine process)."""

    def __init__(self, workspace: Path | str, plan: SlotPlan, *, poll_s: float = POLL_S):
        self.workspace = Path(workspace).resolve()
        self.plan = plan
        self._poll_s = poll_s
        self._free: list[Slot] = list(plan.slots)
        self._waiting: list[_Waiter] = []
        self._leases: dict[str, Lease] = {}
        self._entries: dict[str, QueueEntry] = {}
        self._watcher: asyncio.Task[None] | None = None

    @property
    def running(self) -> int:
        return len(self._leases)

    @property
    def idle(self) -> bool:
        """No run holds a slot or waits for one."""
        return not self._leases and not self._waiting

    @contextlib.asynccontextmanager
    async def lease(self, run_id: str, *, gpus: int | None = None, node: str | None = None) -> AsyncIterator[Lease]:
        """Wait for a free slot with `gpus` GPUs (default: `run.gpusPerRun`) and hold it while
        the block runs; `node` is what the queue shows for it (the search node, say). NoSlotError
        at once when no slot ever could; RunCancelledError when cancelled while waiting."""
        gpus = self.plan.gpus_per_run if gpus is None else gpus
        self.plan.check_request(gpus)
        if run_id in self._entries:
            raise QueueError(f"run {run_id} is already in the queue")
        host, pid = run_owner()
        self._save(QueueEntry(run_id=run_id, state="pending", gpus=gpus, node=node, host=host, pid=pid,
                              owner_started=start_ticks(pid), enqueued_at=time.time()))
        slot = await self._wait(run_id, gpus)
        lease = Lease(run_id, slot, slot.gpu_ids[:gpus])
        self._leases[run_id] = lease
        self._update(run_id, state="running", slot=slot.index, gpu_ids=list(lease.gpu_ids), started_at=time.time())
        state: QueueState = "finished"
        reason = None
        try:
            yield lease
        except BaseException as exc:
            state = "cancelled" if isinstance(exc, asyncio.CancelledError) or lease.cancelled.is_set() else "failed"
            reason = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
            raise
        finally:
            if lease.cancelled.is_set():
                state = "cancelled"
            del self._leases[run_id]
            self._free.append(slot)
            self._end(run_id, state, reason)
            self._dispatch()

    async def _wait(self, run_id: str, gpus: int) -> Slot:
        waiter = _Waiter(run_id, gpus, asyncio.get_running_loop().create_future())
        self._waiting.append(waiter)
        self._dispatch()
        self._watch()
        try:
            return await waiter.granted
        except BaseException as exc:
            if waiter in self._waiting:
                self._waiting.remove(waiter)
            if waiter.granted.done() and not waiter.granted.cancelled() and waiter.granted.exception() is None:
                # granted in the same instant it was cancelled: give the slot back
                self._free.append(waiter.granted.result())
            self._end(run_id, "cancelled", str(exc) or "cancelled while waiting for a slot")
            self._dispatch()
            raise

    def _dispatch(self) -> None:
        """Give free slots to waiting runs, first come first served."""
        for waiter in list(self._waiting):
            if waiter.granted.done():
                continue
            fitting = sorted((s for s in self._free if len(s.gpu_ids) >= waiter.gpus), key=lambda s: len(s.gpu_ids))
            if fitting:
                self._free.remove(fitting[0])
                self._waiting.remove(waiter)
                waiter.granted.set_result(fitting[0])

    def cancel(self, run_id: str) -> bool:
        """Cancel a run of this queue: a waiting one leaves with RunCancelledError, a running
        one has its lease's `cancelled` event set. False when it is not here."""
        for waiter in self._waiting:
            if waiter.run_id == run_id and not waiter.granted.done():
                waiter.granted.set_exception(RunCancelledError(f"run {run_id} was cancelled while it waited for a slot"))
                return True
        lease = self._leases.get(run_id)
        if lease is None:
            return False
        lease.cancelled.set()
        return True

    def _watch(self) -> None:
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.get_running_loop().create_task(self._poll_cancels())

    async def _poll_cancels(self) -> None:
        """Act on the cancel requests other processes leave, while this queue has runs."""
        folder = queue_dir(self.workspace)
        while self._entries:
            requested = await asyncio.to_thread(_cancel_requests, folder, list(self._entries))
            for run_id in requested:
                self.cancel(run_id)
            await asyncio.sleep(self._poll_s)

    def _save(self, entry: QueueEntry) -> None:
        self._entries[entry.run_id] = entry
        write_json(entry_path(self.workspace, entry.run_id), jsonable(entry))

    def _update(self, run_id: str, **changes: object) -> None:
        self._save(self._entries[run_id]._replace(**changes))  # type: ignore[arg-type]

    def _end(self, run_id: str, state: QueueState, reason: str | None) -> None:
        self._update(run_id, state=state, reason=reason, finished_at=time.time())
        del self._entries[run_id]
        (queue_dir(self.workspace) / f"{run_id}{CANCEL_SUFFIX}").unlink(missing_ok=True)


@contextlib.asynccontextmanager
async def cancelled_by(queue: SlotQueue, run_id: str, event: threading.Event) -> AsyncIterator[None]:
    """While the block runs, cancel `run_id` in `queue` once `event` (an operation's cancel,
    set from any thread) is set: a waiting run leaves the queue, a running one's lease is
    cancelled."""

    async def watch() -> None:
        while not (event.is_set() and queue.cancel(run_id)):
            await asyncio.sleep(RELAY_S)

    task = asyncio.get_running_loop().create_task(watch())
    try:
        yield
    finally:
        task.cancel()


@contextlib.asynccontextmanager
async def relay_cancel(lease: Lease) -> AsyncIterator[threading.Event]:
    """The event a runner watches (it runs in a thread) for the run holding `lease`: set once
    the lease is cancelled, or when the block is left. Only this run stops: the operation may
    hold other runs."""
    stop = threading.Event()

    async def relay() -> None:
        await lease.cancelled.wait()
        stop.set()

    task = asyncio.get_running_loop().create_task(relay())
    try:
        yield stop
    finally:
        task.cancel()
        # the block ended: its run has returned, or the task awaiting it was cancelled (an
        # editor's cancel, a shutdown) while the run goes on in its thread; it must not outlive it
        stop.set()
