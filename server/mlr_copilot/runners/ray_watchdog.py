"""The leader of a local Ray node's session (`ray_local`): it starts `ray start --block` as its
child and stops the whole session when the process that owns the node is gone, so a head
whose owner was killed (SIGKILL leaves no `atexit`) does not outlive it.

    python ray_watchdog.py OWNER_PID FOLDER -- ray start --block ...

Run by path with the standard library only (`proctree` is read from beside it): it must start
fast and never depend on what the owner had imported. It waits on the owner through a pidfd
(polled where the kernel has none), and ends with the node's exit code when `ray start` ends
first. On the owner's end it signals every other process of its session (SIGTERM, then
SIGKILL after `GRACE_S`), removes FOLDER (the node's temporary folder) and exits.
"""

from __future__ import annotations

import importlib.util
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

GRACE_S = 5.0
POLL_S = 0.5


def _session_members(session: int) -> set[int]:
    spec = importlib.util.spec_from_file_location("_mlr_proctree", Path(__file__).with_name("proctree.py"))
    assert spec is not None and spec.loader is not None
    proctree = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(proctree)
    members: set[int] = proctree.session_members(session)
    return members


def stop_session(grace_s: float = GRACE_S) -> None:
    """SIGTERM, then SIGKILL, every other process of this process's session, until none is left."""
    me = os.getpid()
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, grace_s)):
        others = _session_members(os.getsid(0)) - {me}
        for pid in others:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        end = time.monotonic() + wait_s
        while others and time.monotonic() < end:
            time.sleep(0.1)
            others = _session_members(os.getsid(0)) - {me}
        if not others:
            return


def _owner_gone(owner: int, node: subprocess.Popen[bytes]) -> bool:
    """Blocks until the owner ends (True) or the node does (False)."""
    try:
        pidfd: int | None = os.pidfd_open(owner)
    except ProcessLookupError:
        return True
    except (AttributeError, OSError):
        pidfd = None  # no pidfd here: poll the pid
    while node.poll() is None:
        if pidfd is not None:
            if select.select([pidfd], [], [], POLL_S)[0]:
                return True
        else:
            try:
                os.kill(owner, 0)
            except ProcessLookupError:
                return True
            time.sleep(POLL_S)
    return False


def main(argv: list[str]) -> int:
    owner, folder, separator, *command = argv
    if separator != "--" or not command:
        print("usage: ray_watchdog.py OWNER_PID FOLDER -- COMMAND...", file=sys.stderr)
        return 2
    # ours: the owner's pid now, so a pid reused after its end is not taken for it
    if os.getppid() != int(owner):
        return 3
    node = subprocess.Popen(command, stdin=subprocess.DEVNULL)
    if not _owner_gone(int(owner), node):
        return node.returncode
    stop_session()
    shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
