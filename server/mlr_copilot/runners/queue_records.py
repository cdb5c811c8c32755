"""The run queue as its files hold it: `.mlr/queue/<run-id>.json` per run (and a `.cancel`
request beside it), read and cancelled from any process. `mlr-copilot queue` and the editor's
view need only this module, not the event loop of the queue that owns the runs
(`queue.SlotQueue`, which writes the entries), so `queue` starts as fast as `history`. The
entries are plain records (`plain.py`): `queue` starts without pydantic.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal, NamedTuple

from mlr_copilot.errors import MlrError
from mlr_copilot.plain import EMPTY_LIST, from_json, jsonable
from mlr_copilot.runners.owner import owner_alive
from mlr_copilot.state import StateDir, read_json, write_json

QueueState = Literal["pending", "running", "finished", "failed", "cancelled", "interrupted"]
ENDED: frozenset[str] = frozenset({"finished", "failed", "cancelled", "interrupted"})
# how many ended runs the queue folder keeps
KEEP_ENDED = 200
# how many ended runs `queue` shows unless asked for all it keeps
RECENT_ENDED = 10
CANCEL_SUFFIX = ".cancel"


class QueueError(MlrError):
    """A queue command that cannot be done (no such run, already ended)."""


class QueueEntry(NamedTuple):
    """One run in the queue, as `.mlr/queue/<run-id>.json` holds it (`plain.jsonable`)."""

    run_id: str
    state: QueueState
    host: str
    pid: int
    enqueued_at: float
    gpus: int = 0
    # what the run is of: the search node (`n004`), the eval task; never the machine (`host`)
    node: str | None = None
    slot: int | None = None
    gpu_ids: list[str] = EMPTY_LIST
    owner_started: int | None = None
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


def queue_dir(workspace: Path | str) -> Path:
    return StateDir(workspace).folder("queue")


def entry_path(workspace: Path | str, run_id: str) -> Path:
    return queue_dir(workspace) / f"{run_id}.json"


def _read(path: Path) -> QueueEntry | None:
    try:
        return from_json(QueueEntry, read_json(path))
    except (OSError, ValueError):
        return None


def _shown(entry: QueueEntry) -> QueueEntry:
    """The entry as it stands: one whose owner process is gone is interrupted."""
    if entry.state in ENDED or owner_alive(entry.host, entry.pid, entry.owner_started):
        return entry
    return entry._replace(state="interrupted", reason=entry.reason or "its process ended")


def queue_status(workspace: Path | str, *, recent: int | None = None) -> list[QueueEntry]:
    """Every run in the queue, pending, running and ended, in the order they arrived; with
    `recent`, only that many of the ended ones (those that ended last)."""
    folder = StateDir(workspace).root / "queue"
    entries = [_read(path) for path in folder.glob("*.json")] if folder.is_dir() else []
    found = [_shown(entry)._replace(cancel_requested=(folder / f"{entry.run_id}{CANCEL_SUFFIX}").exists())
             for entry in entries if entry is not None]
    if recent is not None:
        ended = sorted((e for e in found if e.state in ENDED), key=lambda e: e.finished_at or e.enqueued_at)
        dropped = {e.run_id for e in ended[:max(0, len(ended) - recent)]}
        found = [e for e in found if e.run_id not in dropped]
    return sorted(found, key=lambda entry: (entry.enqueued_at, entry.run_id))


class QueuedRun(NamedTuple):
    """An entry as the faces show it: with the seconds it has run (or waited) until now. Its
    fields are the entry's, in their order, then `elapsed_s` (a NamedTuple has no base to take
    them from; tests/runners/test_slots.py holds them to `QueueEntry`'s)."""

    run_id: str
    state: QueueState
    host: str
    pid: int
    enqueued_at: float
    gpus: int = 0
    node: str | None = None
    slot: int | None = None
    gpu_ids: list[str] = EMPTY_LIST
    owner_started: int | None = None
    started_at: float | None = None
    finished_at: float | None = None
    reason: str | None = None
    cancel_requested: bool = False
    elapsed_s: float = 0.0


def queue_view(workspace: Path | str, *, all_ended: bool = False) -> list[QueuedRun]:
    """`queue_status` for the faces (`mlr-copilot queue`, the editor): each entry with its
    elapsed time; of the ended runs, the `RECENT_ENDED` that ended last unless `all_ended`."""
    now = time.time()
    return [QueuedRun(*entry, elapsed_s=round(entry.elapsed(now), 1))
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
        closed = stored._replace(state="cancelled", finished_at=time.time(), reason="cancelled after its process ended")
        write_json(path, jsonable(closed))
        return closed
    (path.parent / f"{run_id}{CANCEL_SUFFIX}").touch()
    return entry._replace(cancel_requested=True)
