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
from typing import Literal

from pydantic import BaseModel

from mlr_copilot.errors import MlrError
from mlr_copilot.runners.base import owner_alive, run_owner
from mlr_copilot.runners.proctree import start_ticks
from mlr_copilot.runners.slots import Slot, SlotPlan
from mlr_copilot.state import StateDir, read_json, write_json

log = logging.getLogger(__name__)

QueueState = Literal["pending", "running", "finished", "failed", "cancelled", "interrupted"]
ENDED: frozenset[str] = frozenset({"finished", "failed", "cancelled", "interrupted"})
POLL_S = 0.5
# how often an operation's cancel is looked for, to pass on to its run in the queue
RELAY_S = 0.1
# how many ended runs the queue folder keeps
KEEP_ENDED = 200
# how many ended runs `queue` shows unless asked for all it keeps
RECENT_ENDED = 10
_CANCEL_SUFFIX = ".cancel"


class QueueError(MlrError):
    """A queue command that cannot be done (no such run, already ended)."""


class RunCancelledError(MlrError):
    """The run was cancelled while it waited for a slot."""


class QueueEntry(BaseModel):
    """One run in the queue, as `.mlr/queue/<run-id>.json` holds it."""

    run_id: str
    state: QueueState
    gpus: int = 0
    node: str | None = None
    slot: int | None = None
    gpu_ids: list[str] = []
    host: str
    pid: int
    owner_started: int | None = None
    enqueued_at: float
    started_at: float | None = None
    finished_at: float | None = None
    reason: str | None = None
    cancel_requested: bool = False

    def elapsed(self, now: float | None = None) -> float:
        """Seconds running (or ran); for a waiting run, seconds waiting."""
        now = time.time() if now is None else now
        if self.started_at is None:
            return (self.finished_at or now) - self.enqueued_at
        return (self.finished_at or now) - self.started_at


@dataclass(frozen=True)
class Lease:
    """A slot held by one run: the GPUs it may use, and the event set when it is cancelled."""

    run_id: str
    slot: Slot
    gpu_ids: tuple[str, ...]
    cancelled: asyncio.Event = field(default_factory=asyncio.Event, compare=False)


def queue_dir(workspace: Path | str) -> Path:
    return StateDir(workspace).folder("queue")


def _entry_path(workspace: Path | str, run_id: str) -> Path:
    return queue_dir(workspace) / f"{run_id}.json"


def _read(path: Path) -> QueueEntry | None:
    try:
        return QueueEntry.model_validate(read_json(path))
    except (OSError, ValueError):
        return None


def _shown(entry: QueueEntry) -> QueueEntry:
    """The entry as it stands: one whose owner process is gone is interrupted."""
    if entry.state in ENDED or owner_alive(entry.host, entry.pid, entry.owner_started):
        return entry
    return entry.model_copy(update={"state": "interrupted", "reason": entry.reason or "its process ended"})


def queue_status(workspace: Path | str, *, recent: int | None = None) -> list[QueueEntry]:
    """Every run in the queue, pending, running and ended, in the order they arrived; with
    `recent`, only that many of the ended ones (those that ended last)."""
    folder = StateDir(workspace).root / "queue"
    entries = [_read(path) for path in folder.glob("*.json")] if folder.is_dir() else []
    found = [_shown(entry) for entry in entries if entry is not None]
    for entry in found:
        entry.cancel_requested = (folder / f"{entry.run_id}{_CANCEL_SUFFIX}").exists()
    if recent is not None:
        ended = sorted((e for e in found if e.state in ENDED), key=lambda e: e.finished_at or e.enqueued_at)
        dropped = {e.run_id for e in ended[:max(0, len(ended) - recent)]}
        found = [e for e in found if e.run_id not in dropped]
    return sorted(found, key=lambda entry: (entry.enqueued_at, entry.run_id))


class QueuedRun(QueueEntry):
    """An entry as the faces show it: with the seconds it has run (or waited) until now."""

    elapsed_s: float


def queue_view(workspace: Path | str, *, all_ended: bool = False) -> list[QueuedRun]:
    """`queue_status` for the faces (`mlr-copilot queue`, the editor): each entry with its
    elapsed time; of the ended runs, the `RECENT_ENDED` that ended last unless `all_ended`."""
    now = time.time()
    return [QueuedRun(**entry.model_dump(), elapsed_s=round(entry.elapsed(now), 1))
            for entry in queue_status(workspace, recent=None if all_ended else RECENT_ENDED)]


def forget_ended(workspace: Path | str, keep: int = KEEP_ENDED) -> int:
    """Delete all but the `keep` latest ended entries (the engine calls it on start, beside
    `worktrees.prune`); how many were deleted. Run records keep the history: this is the queue."""
    folder = StateDir(workspace).root / "queue"
    ended = [entry for entry in queue_status(workspace) if entry.state in ENDED and entry.state != "interrupted"]
    ended.sort(key=lambda entry: entry.finished_at or entry.enqueued_at)
    old = ended[:max(0, len(ended) - keep)]
    for entry in old:
        (folder / f"{entry.run_id}.json").unlink(missing_ok=True)
    return len(old)


def cancel(workspace: Path | str, run_id: str) -> QueueEntry:
    """Ask the queue that owns `run_id` to cancel it (waiting or running); an entry whose
    process is gone is closed here. QueueError when there is no such run or it has ended."""
    if not isinstance(run_id, str) or not run_id or "/" in run_id or run_id.startswith("."):
        raise QueueError(f"{run_id!r} is not a run id")
    # read where the entry would be, never making the folder: a cancel writes only a request
    path = StateDir(workspace).root / "queue" / f"{run_id}.json"
    stored = _read(path)
    if stored is None:
        known = [entry.run_id for entry in queue_status(workspace) if entry.state not in ENDED]
        raise QueueError(f"no run {run_id!r} in the queue; waiting or running: {', '.join(known) or 'none'}")
    if stored.state in ENDED:
        raise QueueError(f"run {run_id} has already ended ({stored.state})")
    entry = _shown(stored)
    if entry.state == "interrupted":
        closed = stored.model_copy(update={"state": "cancelled", "finished_at": time.time(),
                                           "reason": "cancelled after its process ended"})
        write_json(path, closed.model_dump())
        return closed
    (path.parent / f"{run_id}{_CANCEL_SUFFIX}").touch()
    return entry.model_copy(update={"cancel_requested": True})


def _cancel_requests(folder: Path, run_ids: list[str]) -> list[str]:
    return [run_id for run_id in run_ids if (folder / f"{run_id}{_CANCEL_SUFFIX}").exists()]


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
        write_json(_entry_path(self.workspace, entry.run_id), entry.model_dump())

    def _update(self, run_id: str, **changes: object) -> None:
        self._save(self._entries[run_id].model_copy(update=changes))

    def _end(self, run_id: str, state: QueueState, reason: str | None) -> None:
        self._update(run_id, state=state, reason=reason, finished_at=time.time())
        del self._entries[run_id]
        (queue_dir(self.workspace) / f"{run_id}{_CANCEL_SUFFIX}").unlink(missing_ok=True)


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
