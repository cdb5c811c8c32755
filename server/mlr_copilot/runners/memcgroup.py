"""`run.memoryMb` for a local run's whole process tree: a memory cgroup the experiment joins
before it runs any code, so three children of 400 MB cannot pass a 1024 MB limit that each of
them alone would pass.

Where this process may create one (cgroup v2 with the memory controller delegated to it, or a
writable cgroup v1 memory hierarchy, as root usually is), the cgroup caps memory and swap
together, and the kernel's OOM kill of any member shows in the cgroup's event count: the runner
then stops the whole tree and records the run as `oom`, as Docker does. Elsewhere (an
unprivileged account without a delegated cgroup) only the per-process address-space limit
holds, and the run's log says so.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from .proctree import Cgroup, cgroup_hierarchy

log = logging.getLogger(__name__)

GROUP = "mlr-copilot"
# An empty run cgroup older than this was left by a process that died before cleaning up; a
# younger one may belong to a run starting now in another session.
STALE_AFTER_S = 300


@dataclass(frozen=True)
class _Files:
    """The names of one cgroup version's files. v1's swap file caps memory and swap together,
    v2's caps swap alone."""

    limit: str
    swap: str
    events: str


_V1 = _Files("memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.oom_control")
_V2 = _Files("memory.max", "memory.swap.max", "memory.events")


def _files(path: Path) -> _Files:
    return _V1 if (path / _V1.limit).exists() else _V2


def _write(path: Path, text: str) -> bool:
    try:
        path.write_text(text)
        return True
    except OSError as exc:
        log.debug("could not write %s: %s", path, exc)
        return False


class MemoryCgroup(Cgroup):
    """The memory cgroup of one run."""

    @classmethod
    def create(cls, run_id: str, limit_mb: int) -> tuple[MemoryCgroup | None, str]:
        """The run's cgroup limited to `limit_mb`, or None and the reason there is none."""
        base = cgroup_hierarchy("memory")
        if base is None:
            return None, "no memory cgroup this process may create here"
        remove_stale(base / GROUP)
        path = base / GROUP / run_id
        # on cgroup v2 the pids cgroup of the same run is this same folder: never remove theirs
        created = not path.exists()
        try:
            path.mkdir(parents=True, exist_ok=True)
            files = _files(path)
            if files is _V2:
                # v2 hands a controller to a child only when its parent enables it for children
                _write(base / GROUP / "cgroup.subtree_control", "+memory")
            limit = str(limit_mb * 1024 * 1024)
            (path / files.limit).write_text(limit)
        except OSError as exc:
            if created:
                MemoryCgroup(path).remove()
            return None, f"could not make a memory cgroup ({exc.strerror or exc})"
        # without swap accounting the memory limit still holds; swapping is only slower
        _write(path / files.swap, limit if files is _V1 else "0")
        if files is _V2:
            _write(path / "memory.oom.group", "1")  # the kernel kills the whole tree at once
        return cls(path), ""

    def oom_kills(self) -> int:
        """How many members the kernel has killed for the limit."""
        try:
            text = (self.path / _files(self.path).events).read_text()
        except OSError:
            return 0
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit():
                return int(value)
        return 0


def run_cgroup(run_id: str) -> MemoryCgroup | None:
    """The memory cgroup a run left behind, if it exists (for a run whose server died)."""
    base = cgroup_hierarchy("memory")
    path = base / GROUP / run_id if base is not None else None
    return MemoryCgroup(path) if path is not None and path.is_dir() else None


def remove_stale(group: Path) -> None:
    """Remove the empty run cgroups under `group` that no starting run can still be about to join."""
    try:
        entries = list(os.scandir(group))
    except OSError:
        return
    now = time.time()
    for entry in entries:
        if not entry.is_dir(follow_symlinks=False):
            continue
        try:
            young = now - entry.stat(follow_symlinks=False).st_mtime < STALE_AFTER_S
            if young or Path(entry.path, "cgroup.procs").read_text().strip():
                continue
            os.rmdir(entry.path)
            log.info("removed the stale run cgroup %s", entry.path)
        except OSError:
            continue
