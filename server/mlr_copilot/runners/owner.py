"""Which process owns a run, a queue entry or a session, and whether it still lives: read by
the light commands (`queue`, `history`) too, so it imports none of the run machinery."""

from __future__ import annotations

import os
import socket

from .proctree import start_ticks


def run_owner() -> tuple[str, int]:
    """(host name, pid) of the process running this code: it owns the runs it starts."""
    return socket.gethostname(), os.getpid()


def owner_alive(host: str | None, pid: int | None, started: int | None = None) -> bool:
    """Whether the process that started a run may still be running it. A run without a known
    owner counts as abandoned; one started on another machine sharing this workspace or engine
    is not ours to judge, so it counts as alive. With the owner's start time (`started`), a
    later process that was given the dead owner's pid is not taken for it."""
    if not host or pid is None:
        return False
    if host != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return started is None or start_ticks(pid) in (None, started)
