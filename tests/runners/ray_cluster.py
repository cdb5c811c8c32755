"""A real two-node Ray cluster on this machine, bound to 127.0.0.1: the engine's own loopback
head (`LocalRayHead`, custom resource `head`) and a second raylet joined to it (custom resource
`node2`, and `NODE2_GPUS` declared GPUs), 1 CPU each, in a temporary folder and on free ports, so it never meets another Ray
instance of this machine; stopped by killing the processes of its two sessions only.

The second node needs a trick. Ray on Linux rewrites a 127.0.0.1 address to the machine's
network address unless told it is a single-machine instance (`ray_local.LOOPBACK_ENV`), and
`ray start --address` refuses to join as a worker node when told so. `_JOIN` runs `ray start`
with that refusal's check reading the multi-node flag as on, while every address it resolves
stays on loopback. Where this machine lets us (root, `unshare`), the second node runs in a UTS
namespace of its own with host name `NODE2_HOST`, so what a run records of its node's host
tells the two nodes apart.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from types import ModuleType

from mlr_copilot.runners.base import RunnerError
from mlr_copilot.runners.ray_local import LOOPBACK_ENV, LocalRayHead, RayNodeProcess, port_options

START_TIMEOUT_S = 90.0
# The GCS declares a silent node dead after period x threshold: 1 s x 3 instead of Ray's
# default 5 s x 5, so a killed node's runs end within seconds.
HEALTH_ENV = {
    "RAY_health_check_period_ms": "1000",
    "RAY_health_check_timeout_ms": "1000",
    "RAY_health_check_failure_threshold": "3",
}
_JOIN = """
import sys, types
import ray._private.ray_constants as constants
import ray.scripts.scripts as scripts
view = types.ModuleType("ray_constants")
view.__dict__.update(vars(constants))
view.ENABLE_RAY_CLUSTER = True
scripts.ray_constants = view
sys.argv = ["ray", *sys.argv[1:]]
scripts.main()
"""


NODE2_HOST = "mlr-node2"
# GPUs the second node declares: Ray gives tasks ids 0 and 1 whether or not the machine has
# any, so a run's GPUs can be followed from Ray's assignment to its container's request
NODE2_GPUS = 2


class RayUnavailable(Exception):
    """Ray is not installed or a node would not start on this machine."""


@dataclass
class RayCluster:
    head: LocalRayHead
    node2: RayNodeProcess
    began: float
    node2_host: str
    started_in_s: float = 0.0

    @property
    def address(self) -> str:
        return self.head.address

    def wait_for_nodes(self, ray: ModuleType, count: int) -> None:
        end = time.monotonic() + START_TIMEOUT_S
        while sum(1 for node in ray.nodes() if node["Alive"]) < count:
            if time.monotonic() > end:
                raise RayUnavailable(f"the Ray cluster did not report {count} live nodes within {START_TIMEOUT_S:g} s")
            time.sleep(0.2)
        self.started_in_s = time.monotonic() - self.began

    def node_id_with(self, ray: ModuleType, resource: str) -> str:
        return next(node["NodeID"] for node in ray.nodes() if node["Alive"] and resource in node["Resources"])

    def all_pids(self) -> set[int]:
        return self.head.node.pids() | self.node2.pids()

    def stop(self) -> None:
        self.node2.stop()
        self.head.stop()


def _own_host_name() -> list[str]:
    """A command prefix giving what follows a host name of its own (`NODE2_HOST`), if we may."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return []
    prefix = [unshare, "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', NODE2_HOST]
    done = subprocess.run([*prefix, "hostname"], capture_output=True, text=True, timeout=10)
    return prefix if done.returncode == 0 and done.stdout.strip() == NODE2_HOST else []


def _join_node(head: LocalRayHead) -> tuple[RayNodeProcess, str]:
    args = [f"--address=127.0.0.1:{head.gcs_port}", "--num-cpus=1", f"--num-gpus={NODE2_GPUS}", "--disable-usage-stats",
            "--resources", json.dumps({"node2": 1}), *port_options()]
    prefix = _own_host_name()
    node = RayNodeProcess.start(args, head.root / "node2.log", {**LOOPBACK_ENV, **HEALTH_ENV}, head.root,
                                ray_cli=[*prefix, sys.executable, "-c", _JOIN])
    return node, NODE2_HOST if prefix else socket.gethostname()


def start_cluster() -> RayCluster:
    """Head plus one more node, 1 CPU each; raises RayUnavailable when Ray cannot start."""
    try:
        import ray  # noqa: F401  (only whether it is installed)
    except ImportError as exc:
        raise RayUnavailable(f"Ray is not installed ({exc}): pip install 'mlr-copilot[ray]'") from exc
    began = time.monotonic()
    try:
        head = LocalRayHead.start(num_cpus=1, resources={"head": 1}, env=HEALTH_ENV)
    except RunnerError as exc:
        raise RayUnavailable(str(exc)) from exc
    try:
        node2, host = _join_node(head)
    except BaseException:
        head.stop()
        raise
    return RayCluster(head, node2, began, host)
