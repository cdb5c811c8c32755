"""This process's connection to a Ray cluster (`run.rayAddress`), and what the cluster can hold.

- `auto`: the cluster `ray start` last started on this machine (or RAY_ADDRESS);
- `ray://host:10001`: a cluster's Ray Client server (a remote cluster, KubeRay's head service);
- `host:6379`: a cluster's GCS, from a machine that is one of its nodes' network peers;
- empty: a Ray head of our own on this machine, bound to 127.0.0.1 (`ray_local`).
A Ray Client connection (`ray://`) goes through the head's proxy, which starts one more server
per client (on ports from 23000: two Ray instances on one machine can collide there); a GCS
address does not, so our own head is reached through its GCS address.

Ray allows one connection per process: a second address replaces the first. Every way in fails
in one line: Ray not installed, an address that does not answer within the connect timeout
(checked with a plain TCP connect first: Ray itself retries for a minute), a Ray or Python
version that differs from the cluster's. A request no live node can hold is refused before it
is queued (`check_fits`): Ray would otherwise wait for such a node forever.
"""

from __future__ import annotations

import atexit
import ipaddress
import logging
import socket
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import ModuleType

from .base import RunnerError
from .ray_local import LocalRayHead

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0
INSTALL_HINT = "Ray is not installed: pip install 'mlr-copilot[ray]'"
_lock = threading.Lock()


class RayUnavailableError(RunnerError):
    """Ray is missing, the cluster does not answer, or its versions differ from ours."""


class RayResourceError(RunnerError):
    """No live node of the cluster can ever hold the run's request."""


@dataclass(frozen=True)
class RayResources:
    """What one run asks of the node that runs it (Ray's own units: CPUs, GPUs, bytes)."""

    num_cpus: float = 1.0
    num_gpus: float = 0.0
    memory_mb: int | None = None
    custom: Mapping[str, float] = field(default_factory=dict)

    def as_ray(self) -> dict[str, float]:
        """As a node's resource table names them."""
        wanted = {"CPU": self.num_cpus, "GPU": self.num_gpus, **self.custom}
        if self.memory_mb:
            wanted["memory"] = self.memory_mb * 1024 * 1024
        return {name: amount for name, amount in wanted.items() if amount}

    def task_options(self) -> dict[str, object]:
        options: dict[str, object] = {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus}
        if self.memory_mb:
            options["memory"] = self.memory_mb * 1024 * 1024
        if self.custom:
            options["resources"] = dict(self.custom)
        return options


@dataclass
class _Connection:
    address: str
    head: LocalRayHead | None = None


_current: _Connection | None = None
_multi_node_default: bool | None = None


def ray_module() -> ModuleType:
    """Ray, imported on first use (an optional extra, and a second or more of start-up)."""
    try:
        import ray
    except ImportError as exc:
        raise RayUnavailableError(INSTALL_HINT) from exc
    return ray


def connect(address: str, *, timeout_s: float = CONNECT_TIMEOUT_S) -> ModuleType:
    """Ray, connected to the cluster at `address` (see the module's docstring); an existing
    connection to the same address is reused."""
    global _current
    ray = ray_module()
    address = address.strip()
    with _lock:
        if _current is not None and _current.address == address and ray.is_initialized():
            return ray
        if address:
            _probe(address, timeout_s)  # before leaving the current cluster: a typo keeps it
        _disconnect(ray)
        head = LocalRayHead.start() if not address else None
        target = head.address if head is not None else address
        try:
            _keep_loopback(target)
            _init(ray, target)
        except BaseException:
            if head is not None:
                head.stop()
            raise
        _current = _Connection(address, head)
    return ray


def disconnect() -> None:
    """Leave the cluster, and stop the local head if this process started one."""
    ray = ray_module()
    with _lock:
        _disconnect(ray)


def _disconnect(ray: ModuleType) -> None:
    global _current
    if ray.is_initialized():
        ray.shutdown()
    if _current is not None and _current.head is not None:
        _current.head.stop()
    _current = None


@atexit.register
def _stop_local_head() -> None:
    if _current is not None and _current.head is not None:
        _current.head.stop()


def _probe(address: str, timeout_s: float) -> None:
    """A TCP connect to the address's host and port, so a dead address fails in seconds."""
    if address == "auto":
        return  # Ray finds the address itself, and says at once when there is none
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise RayUnavailableError(f"Ray address {address!r} is not auto, ray://host:port or host:port")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise RayUnavailableError(f"no Ray cluster answers at {address} ({reason} within {timeout_s:g} s)") from exc


def _keep_loopback(address: str) -> None:
    """Ray on Linux rewrites a loopback address to this machine's network address, as a node of
    a multi-node cluster would need; a GCS address given as 127.0.0.1 (our own head, a cluster
    bound to loopback) means this machine as given. Ray reads the switch at each resolution."""
    import ray._private.ray_constants as constants  # the only switch Ray has for this

    global _multi_node_default
    if _multi_node_default is None:
        _multi_node_default = bool(constants.ENABLE_RAY_CLUSTER)
    host = address.rpartition(":")[0].strip("[]")
    loopback = not address.startswith("ray://") and (host == "localhost" or _is_loopback(host))
    constants.ENABLE_RAY_CLUSTER = _multi_node_default and not loopback


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _init(ray: ModuleType, address: str) -> None:
    try:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    except (ConnectionError, TimeoutError) as exc:
        raise RayUnavailableError(f"could not connect to the Ray cluster at {address}: {_one_line(exc)}") from exc
    except RuntimeError as exc:
        if "version" in str(exc).lower():
            ours = f"Ray {ray.__version__}, Python {'.'.join(map(str, sys.version_info[:3]))}"
            raise RayUnavailableError(
                f"the Ray cluster at {address} runs other versions than this machine ({ours}): {_one_line(exc)}; "
                "install the cluster's Ray and Python versions here"
            ) from exc
        raise RayUnavailableError(f"could not connect to the Ray cluster at {address}: {_one_line(exc)}") from exc


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:400]


def fitting_nodes(ray: ModuleType, resources: RayResources) -> list[str]:
    """The ids of the live nodes that could hold the request when idle."""
    wanted = resources.as_ray()
    return [node["NodeID"] for node in ray.nodes() if node.get("Alive")
            and all(node.get("Resources", {}).get(name, 0) >= amount for name, amount in wanted.items())]


def check_fits(ray: ModuleType, resources: RayResources) -> None:
    """Refuse a request that no live node could hold even when idle."""
    if fitting_nodes(ray, resources):
        return
    wanted = resources.as_ray()
    nodes = [node.get("Resources", {}) for node in ray.nodes() if node.get("Alive")]
    asked = ", ".join(f"{name} {_amount(name, amount)}" for name, amount in wanted.items())
    largest = "; ".join(", ".join(f"{name} {_amount(name, node.get(name, 0))}" for name in wanted) for node in nodes)
    raise RayResourceError(
        f"no node of the Ray cluster can hold a run asking {asked} (its {len(nodes)} live node(s) have: {largest or 'none'})"
    )


def _amount(name: str, amount: float) -> str:
    return f"{amount / 2**20:.0f} MB" if name == "memory" else f"{amount:g}"
