"""A Ray instance on this machine only (`run.rayAddress` empty): one head node, bound to
127.0.0.1, on free ports, in a temporary folder of its own, owned by this process.

Ray on Linux takes a loopback `--node-ip-address` for "this machine" and binds to its network
address instead, unless told it is a single-machine instance (`RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`
in the head's environment, and only there: this process's environment is left alone). Drivers
reach it through its GCS address, kept on loopback the same way (`ray_connect._keep_loopback`).

The head is a `ray start --block` process in a session of its own; `stop()` signals every
process of that session (Ray's workers run in process groups of their own), never any other
Ray instance of the user, as `ray stop` would. That session's leader is a watchdog
(`ray_watchdog`) which starts `ray start` and, should its owner die without stopping the node
(SIGKILL, a crash), stops the session and removes the node's folder itself.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .base import RunnerError
from .proctree import session_members

START_TIMEOUT_S = 60.0
LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
_PORT_OPTIONS = ("--node-manager-port", "--object-manager-port", "--dashboard-agent-listen-port",
                 "--dashboard-agent-grpc-port", "--runtime-env-agent-port", "--metrics-export-port")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_options() -> list[str]:
    """Every single port a node listens on, chosen free: two instances on one machine never meet."""
    return [f"{name}={free_port()}" for name in _PORT_OPTIONS]


def ray_command() -> str:
    found = shutil.which("ray") or str(Path(sys.executable).with_name("ray"))
    if not Path(found).exists():
        raise RunnerError("the `ray` command is missing: pip install 'mlr-copilot[ray]'")
    return found


@dataclass
class RayNodeProcess:
    """One `ray start --block` node and the session its processes share."""

    process: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def start(cls, args: list[str], log: Path, env: Mapping[str, str], folder: Path,
              ray_cli: list[str] | None = None) -> RayNodeProcess:
        """`ray start --block ARGS` (`ray_cli`: another way to run the `ray` command), under a
        watchdog that stops it and removes `folder` once this process is gone."""
        watchdog = [sys.executable, "-I", str(Path(__file__).with_name("ray_watchdog.py")), str(os.getpid()),
                    str(folder), "--"]
        with log.open("wb") as out:
            process = subprocess.Popen([*watchdog, *(ray_cli or [ray_command()]), "start", "--block", *args],
                                       stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       env={**os.environ, **env}, start_new_session=True)
        return cls(process, log)

    def pids(self) -> set[int]:
        return session_members(self.process.pid)

    def exited(self) -> str | None:
        """The end of the node's log if it has exited."""
        if self.process.poll() is None:
            return None
        return self.log.read_text(errors="replace")[-600:]

    def stop(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in self.pids():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            end = time.monotonic() + 5
            while time.monotonic() < end and self.pids():
                time.sleep(0.1)
            if not self.pids():
                break
        self.process.wait(timeout=10)


@dataclass
class LocalRayHead:
    node: RayNodeProcess
    root: Path
    gcs_port: int
    client_port: int

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.gcs_port}"

    @classmethod
    def start(cls, *, num_cpus: float | None = None, resources: Mapping[str, float] | None = None,
              env: Mapping[str, str] | None = None) -> LocalRayHead:
        """Start the head and wait until it answers."""
        # Ray's socket paths must stay under 108 bytes: a short folder
        root = Path(tempfile.mkdtemp(prefix="mlray-", dir="/tmp"))
        gcs_port, client_port = free_port(), free_port()
        args = ["--head", "--node-ip-address=127.0.0.1", f"--port={gcs_port}", f"--ray-client-server-port={client_port}",
                "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={root}", *port_options()]
        if num_cpus is not None:
            args.append(f"--num-cpus={num_cpus:g}")
        if resources:
            args += ["--resources", json.dumps(dict(resources))]
        node = RayNodeProcess.start(args, root / "head.log", {**LOOPBACK_ENV, **(env or {})}, root)
        head = cls(node, root, gcs_port, client_port)
        try:
            head.wait_ready()
        except BaseException:
            head.stop()
            raise
        return head

    def wait_ready(self) -> None:
        end = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < end:
            tail = self.node.exited()
            if tail is not None:
                raise RunnerError(f"the local Ray head exited at start: {' '.join(tail.split())[-300:]}")
            try:
                # the client server is the last process a head starts
                socket.create_connection(("127.0.0.1", self.client_port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        raise RunnerError(f"the local Ray head did not start within {START_TIMEOUT_S:g} s (log: {self.node.log})")

    def stop(self) -> None:
        self.node.stop()
        shutil.rmtree(self.root, ignore_errors=True)
