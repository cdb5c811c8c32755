"""The machine cut into slots: how many runs execute at once, and which CPUs, memory and GPUs
each of them owns.

Policy:

* `run.parallel` slots (default: 1 on a CPU-only machine, else as many as the GPUs allow),
  each with `run.gpusPerRun` GPUs of its own (default: 0 on a CPU-only machine, else 1). No
  two slots share a GPU. Where `parallel * gpusPerRun` asks for more GPUs than there are, the
  slots are fewer, with a warning naming the settings.
* The GPUs are those `run.gpuIds` (or `MLR_GPU_IDS`, comma separated) states, else what
  `nvidia-smi -L` lists, else none. Stating them lets allocation be tested without a GPU, and
  lets the user keep some GPUs for themselves.
* The CPUs and memory are split evenly; each slot gets its own CPU ids where there are at
  least as many CPUs as slots (for pinning: `taskset`, Docker's `cpuset_cpus`).
* A run is given the first `gpus` GPUs of its slot: locally as `CUDA_VISIBLE_DEVICES`
  (`cuda_env`; empty for a run that asks none, so it cannot take a GPU another slot owns),
  in Docker as a `DeviceRequest` for exactly those ids (`docker_device_requests`).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlr_copilot.errors import MlrError

if TYPE_CHECKING:
    from mlr_copilot.config import RunSettings

GPU_IDS_ENV = "MLR_GPU_IDS"
_NVIDIA_SMI_TIMEOUT_S = 10.0
_GPU_LINE = re.compile(r"^GPU (\d+):", re.MULTILINE)


class NoSlotError(MlrError):
    """A run asks for more than any slot of this machine has: it would wait forever."""


@dataclass(frozen=True)
class Slot:
    """One share of the machine: a run at a time executes in it."""

    index: int
    cpus: float
    cpu_ids: tuple[int, ...]
    memory_mb: int
    gpu_ids: tuple[str, ...]


@dataclass(frozen=True)
class SlotPlan:
    """The slots of this machine, and what the user should know about how they were cut."""

    slots: tuple[Slot, ...]
    gpu_ids: tuple[str, ...]
    # what a run asks for unless it says otherwise (`run.gpusPerRun`, or its default)
    gpus_per_run: int = 0
    warnings: tuple[str, ...] = ()

    def check_request(self, gpus: int) -> None:
        """NoSlotError (one line) when no slot can ever hold a run asking `gpus` GPUs."""
        most = max((len(slot.gpu_ids) for slot in self.slots), default=0)
        if gpus < 0:
            raise NoSlotError(f"a run cannot ask for {gpus} GPUs")
        if gpus > most:
            raise NoSlotError(
                f"the run asks for {gpus} GPU(s) but {'no slot has any' if most == 0 else f'a slot has at most {most}'} "
                f"(GPUs on this machine: {', '.join(self.gpu_ids) or 'none'}; see run.gpuIds, run.gpusPerRun, run.parallel)"
            )


def detect_gpus() -> list[str]:
    """The GPU indices `nvidia-smi -L` lists; none when it is absent or fails."""
    program = shutil.which("nvidia-smi")
    if program is None:
        return []
    try:
        done = subprocess.run([program, "-L"], capture_output=True, text=True, timeout=_NVIDIA_SMI_TIMEOUT_S,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return []
    return _GPU_LINE.findall(done.stdout) if done.returncode == 0 else []


def machine_gpus(stated: Sequence[str] | None, environ: Mapping[str, str] | None = None) -> list[str]:
    """The GPUs runs may use: those stated (the setting, else `MLR_GPU_IDS`), else detected."""
    if stated is not None:
        return [str(gpu) for gpu in stated]
    text = (os.environ if environ is None else environ).get(GPU_IDS_ENV)
    if text is not None:
        return [part.strip() for part in text.split(",") if part.strip()]
    return detect_gpus()


def _machine_cpus() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return list(range(os.cpu_count() or 1))


def _machine_memory_mb() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // (1024 * 1024)
    except (ValueError, OSError, AttributeError):
        return 4096


def _slot_count(parallel: int | None, per_run: int, gpus: int) -> tuple[int, list[str]]:
    """How many slots, and why fewer than `parallel` asked."""
    if per_run == 0:
        return parallel or max(gpus, 1), []
    if per_run > gpus:
        return parallel or 1, [f"run.gpusPerRun is {per_run} but there are {gpus} GPU(s): "
                               "slots get none, and runs asking for GPUs fail"]
    fit = gpus // per_run
    if parallel is None or parallel <= fit:
        return parallel or fit, []
    return fit, [f"run.parallel is {parallel} but {gpus} GPU(s) at {per_run} per run make {fit} slot(s)"]


def plan_slots(*, parallel: int | None, gpus_per_run: int | None, gpu_ids: Sequence[str],
               cpu_ids: Sequence[int] | None = None, memory_mb: int | None = None) -> SlotPlan:
    """Cut the machine (`cpu_ids`, `memory_mb`: default this machine's) into slots."""
    gpus = tuple(gpu_ids)
    per_run = gpus_per_run if gpus_per_run is not None else (1 if gpus else 0)
    count, warnings = _slot_count(parallel, per_run, len(gpus))
    cpus = list(cpu_ids) if cpu_ids is not None else _machine_cpus()
    memory = memory_mb if memory_mb is not None else _machine_memory_mb()
    has_gpus = 0 < per_run <= len(gpus)
    slots = tuple(
        Slot(index=i, cpus=round(len(cpus) / count, 3),
             cpu_ids=tuple(cpus[i::count]) if len(cpus) >= count else tuple(cpus),
             memory_mb=max(1, memory // count),
             gpu_ids=gpus[i * per_run:(i + 1) * per_run] if has_gpus else ())
        for i in range(count)
    )
    return SlotPlan(slots=slots, gpu_ids=gpus, gpus_per_run=per_run, warnings=tuple(warnings))


def plan_from_settings(run: RunSettings, environ: Mapping[str, str] | None = None) -> SlotPlan:
    """The slots the `run` settings ask for on this machine."""
    return plan_slots(parallel=run.parallel, gpus_per_run=run.gpus_per_run,
                      gpu_ids=machine_gpus(run.gpu_ids, environ))


def cuda_env(gpu_ids: Sequence[str]) -> dict[str, str]:
    """The variable that shows a local run only its GPUs (none when `gpu_ids` is empty)."""
    return {"CUDA_VISIBLE_DEVICES": ",".join(gpu_ids)}


def docker_device_requests(gpu_ids: Sequence[str]) -> list[Any]:
    """`device_requests` for a container that sees exactly `gpu_ids` (none: no request)."""
    if not gpu_ids:
        return []
    # the docker SDK is heavy to import: only a Docker run with GPUs pays for it
    from docker.types import DeviceRequest

    return [DeviceRequest(device_ids=list(gpu_ids), capabilities=[["gpu"]])]
