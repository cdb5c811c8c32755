"""Finding, counting, measuring and killing every process a local run started.

Three nets catch a run's processes, so none outlives it:
- a pids cgroup (when this machine lets us make one): the kernel caps the process count and
  lists every member, even those that started a new session;
- the session the run was started in (`start_new_session=True`);
- an environment marker `MLR_RUN_ID=<id>`, inherited by descendants that escape the first two.
A run whose owner died is found again by its cgroup, its marker, and its session, whose leader
the run record names with its start time (`Sandbox`).
"""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path

log = logging.getLogger(__name__)

RUN_ID_VAR = "MLR_RUN_ID"
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _own_cgroup_path(controller: str) -> str | None:
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(",") or (controllers == "" and controller == ""):
            return path
    return None


def cgroup_hierarchy(controller: str) -> Path | None:
    """Where this process may create a child cgroup with `controller` (cgroup v1 or v2), if
    anywhere: its own cgroup of that controller, when writable."""
    try:
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    for line in mounts:
        left, _, right = line.partition(" - ")
        fields, fstype_fields = left.split(), right.split()
        if len(fields) < 5 or len(fstype_fields) < 3:
            continue
        mount_point, fstype, options = fields[4], fstype_fields[0], fstype_fields[2]
        if fstype == "cgroup" and controller in options.split(","):
            own = _own_cgroup_path(controller)
        elif fstype == "cgroup2":
            own = _own_cgroup_path("")
            controllers = Path(mount_point, (own or "/").lstrip("/"), "cgroup.subtree_control")
            try:
                if controller not in controllers.read_text().split():
                    continue
            except OSError:
                continue
        else:
            continue
        if own is None:
            continue
        base = Path(mount_point, own.lstrip("/"))
        if os.access(base, os.W_OK):
            return base
    return None


class Cgroup:
    """One run's cgroup folder: its members, joined by the child before it runs any user code."""

    def __init__(self, path: Path):
        self.path = path
        self._procs_file = str(path / "cgroup.procs")

    def join_self(self) -> None:
        """Called in the child between fork and exec: only async-signal-safe work."""
        fd = os.open(self._procs_file, os.O_WRONLY)
        try:
            os.write(fd, b"0")
        finally:
            os.close(fd)

    def pids(self) -> set[int]:
        try:
            return {int(p) for p in Path(self._procs_file).read_text().split()}
        except OSError:
            return set()

    def remove(self) -> None:
        """Remove the cgroup once its last member is gone (the kernel frees it a moment after
        the last process is reaped)."""
        for _ in range(50):
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.02)
        log.warning("could not remove cgroup %s", self.path)


class PidsCgroup(Cgroup):
    """A pids cgroup for one run."""

    def __init__(self, path: Path, limit: int):
        super().__init__(path)
        self.limit = limit

    @classmethod
    def create(cls, run_id: str, limit: int) -> PidsCgroup | None:
        base = cgroup_hierarchy("pids")
        if base is None:
            return None
        path = base / "mlr-copilot" / run_id
        try:
            path.mkdir(parents=True)
            (path / "pids.max").write_text(str(limit))
        except OSError as exc:
            log.info("no pids cgroup (%s); counting processes by polling instead", exc)
            try:
                path.rmdir()
            except OSError:
                pass
            return None
        return cls(path, limit)

    def limit_hit(self) -> bool:
        try:
            for line in (self.path / "pids.events").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "max" and int(value) > 0:
                    return True
        except (OSError, ValueError):
            pass
        return False


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, process group, session) of `pid`, or None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    rest = raw[raw.rfind(b")") + 2 :].split()
    return rest[0].decode(), int(rest[2]), int(rest[3])


def start_ticks(pid: int) -> int | None:
    """When `pid` started, in clock ticks since boot: with the pid, it names one process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    return int(raw[raw.rfind(b")") + 2 :].split()[19])


def _run_session(run_id: str, leader: int | None, started: int | None) -> int | None:
    """The session of the run's leader `leader`, started at `started`, while that process still
    runs and carries the run's marker. A run record is workspace content, so the pid alone is
    not believed: a later process given the same pid, or any process a planted record names,
    fails the check. Members that cleared their environment are then found by their session."""
    if leader is None or started is None or start_ticks(leader) != started:
        return None
    try:
        environ = Path(f"/proc/{leader}/environ").read_bytes()
    except OSError:
        return None
    return leader if f"{RUN_ID_VAR}={run_id}".encode() in environ.split(b"\0") else None


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def session_members(session: int) -> set[int]:
    members = set()
    for pid in _all_pids():
        info = _stat(pid)
        if info is not None and info[2] == session and info[0] != "Z":
            members.add(pid)
    return members


def marked_processes(run_id: str) -> set[int]:
    """Processes whose environment carries this run's marker."""
    needle = f"{RUN_ID_VAR}={run_id}".encode()
    found = set()
    me = os.getpid()
    for pid in _all_pids():
        if pid == me:
            continue
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            info = _stat(pid)
            if info is not None and info[0] != "Z":
                found.add(pid)
    return found


def rss_mb(pids: set[int]) -> float:
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total * _PAGE / (1024 * 1024)


class ProcessTree:
    """Every live process of one run."""

    def __init__(self, leader: int, run_id: str, cgroup: PidsCgroup | None):
        self.leader = leader
        self.run_id = run_id
        self.cgroup = cgroup

    def members(self, *, deep: bool = False) -> set[int]:
        """Live processes of the run. With a cgroup the kernel's list is complete and cheap;
        `deep` adds the slow scans (session, environment marker) that catch escapees."""
        found: set[int] = set()
        if self.cgroup is not None:
            found = {pid for pid in self.cgroup.pids() if (_stat(pid) or ("Z",))[0] != "Z"}
        if deep or self.cgroup is None:
            found |= session_members(self.leader)
        if deep:
            found |= marked_processes(self.run_id)
        return found

    def count(self) -> int:
        if self.cgroup is not None:
            return len(self.cgroup.pids())
        return len(session_members(self.leader))

    def signal_all(self, sig: int, *, deep: bool = False) -> set[int]:
        try:
            os.killpg(self.leader, sig)
        except (ProcessLookupError, PermissionError):
            pass
        targets = self.members(deep=deep)
        for pid in targets:
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        return targets

    def kill(self, *, grace: float, deep: bool = True) -> None:
        """SIGTERM everything, give it `grace` seconds, then SIGKILL until nothing is left."""
        if grace > 0 and self.signal_all(signal.SIGTERM, deep=deep):
            end = time.monotonic() + grace
            while time.monotonic() < end and self.members(deep=False):
                time.sleep(0.02)
        self.kill_now(deep=deep)

    def kill_now(self, *, deep: bool = True) -> None:
        end = time.monotonic() + 10.0
        while time.monotonic() < end:
            if not self.signal_all(signal.SIGKILL, deep=deep):
                return
            time.sleep(0.01)
        log.warning("processes of run %s survived SIGKILL for 10 s", self.run_id)


def kill_leftovers(run_id: str, leader: int | None = None, started: int | None = None) -> int:
    """Kill the leftovers of a run whose server died (found by the run's cgroups, by their
    environment marker, and by the session of `leader` while it is still the run's, see
    `_run_session`) and remove the cgroups."""
    from .memcgroup import run_cgroup

    base = cgroup_hierarchy("pids")
    cgroup = PidsCgroup(base / "mlr-copilot" / run_id, 0) if base is not None else None
    if cgroup is not None and not cgroup.path.is_dir():
        cgroup = None
    memory = run_cgroup(run_id)
    # checked once, while the leader lives: afterwards its pid is not reused while any
    # member of its session lives, and every member is killed
    session = _run_session(run_id, leader, started)
    killed = 0
    for _ in range(50):
        pids = marked_processes(run_id) | (cgroup.pids() if cgroup is not None else set())
        pids |= memory.pids() if memory is not None else set()
        pids |= session_members(session) if session is not None else set()
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.02)
    if cgroup is not None:
        cgroup.remove()
    if memory is not None:
        memory.remove()
    return killed
