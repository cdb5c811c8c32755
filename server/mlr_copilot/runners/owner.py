"""Which process owns a run, a queue entry or a session, and whether it still lives: read by
the light commands (`queue`, `history`) too, so it imports none of the run machinery."""

from __future__ import annotations

import os


def _host() -> str:
    # what gethostname() answers on POSIX (the kernel's node name), without importing socket
    # (several ms of every `queue` and `history`); elsewhere socket's own
    if hasattr(os, "uname"):
        return os.uname().nodename
    import socket

    return socket.gethostname()


def run_owner() -> tuple[str, int]:
    """(host name, pid) of the process running this code: it owns the runs it starts."""
    return _host(), os.getpid()


def owner_alive(host: str | None, pid: int | None, started: int | None = None) -> bool:
    """Whether the process that started a run may still be running it. A run without a known
    owner counts as abandoned; one started on another machine sharing this workspace or engine
    is not ours to judge, so it counts as alive. With the owner's start time (`started`), a
    later process that was given the dead owner's pid is not taken for it."""
    if not host or pid is None:
        return False
    if host != _host():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if started is None:
        return True
    # the process-tree module (logging, signals) only to tell a live owner from a reused pid
    from .proctree import start_ticks

    return start_ticks(pid) in (None, started)
