"""The machine cut into slots, and the queue runs wait in: real processes, a faked GPU list."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlr_copilot.config import load_settings
from mlr_copilot.plain import jsonable
from mlr_copilot.runners.queue import (
    QueuedRun,
    QueueEntry,
    QueueError,
    RunCancelledError,
    SlotQueue,
    cancel,
    forget_ended,
    queue_dir,
    queue_status,
    queue_view,
)
from mlr_copilot.runners.slots import (
    NoSlotError,
    cuda_env,
    docker_device_requests,
    machine_gpus,
    plan_from_settings,
    plan_slots,
)
from mlr_copilot.state import write_json
from tests.lightshape import assert_extends

GPUS = ["0", "1", "2", "3"]


def test_a_cpu_only_machine_has_one_slot_without_gpus():
    plan = plan_slots(parallel=None, gpus_per_run=None, gpu_ids=[], cpu_ids=[0, 1], memory_mb=8000)
    assert [(s.cpus, s.cpu_ids, s.memory_mb, s.gpu_ids) for s in plan.slots] == [(2.0, (0, 1), 8000, ())]


def test_by_default_each_gpu_makes_a_slot_and_no_two_slots_share_one():
    plan = plan_slots(parallel=None, gpus_per_run=None, gpu_ids=GPUS, cpu_ids=[0, 1, 2, 3], memory_mb=8000)
    assert [s.gpu_ids for s in plan.slots] == [("0",), ("1",), ("2",), ("3",)]
    assert [s.cpu_ids for s in plan.slots] == [(0,), (1,), (2,), (3,)]
    assert {s.memory_mb for s in plan.slots} == {2000}


def test_more_slots_than_the_gpus_allow_are_cut_with_a_warning():
    plan = plan_slots(parallel=3, gpus_per_run=2, gpu_ids=GPUS, cpu_ids=[0, 1], memory_mb=8000)
    assert [s.gpu_ids for s in plan.slots] == [("0", "1"), ("2", "3")]
    assert plan.warnings == ("run.parallel is 3 but 4 GPU(s) at 2 per run make 2 slot(s)",)


def test_the_gpu_list_comes_from_the_setting_or_the_variable_so_no_gpu_is_needed():
    settings, warnings = load_settings({"run": {"parallel": 2, "gpusPerRun": 1, "gpuIds": [5, 7]}}, environ={})
    assert not warnings
    assert [s.gpu_ids for s in plan_from_settings(settings.run).slots] == [("5",), ("7",)]
    from_env, _ = load_settings(environ={"MLR_GPU_IDS": "2, 3"})
    assert from_env.run.gpu_ids == ["2", "3"]
    assert machine_gpus(None, {"MLR_GPU_IDS": "1,4"}) == ["1", "4"]
    assert machine_gpus([], {"MLR_GPU_IDS": "1,4"}) == []


def test_a_run_sees_only_its_own_gpus_locally_and_in_docker():
    assert cuda_env(("2", "3")) == {"CUDA_VISIBLE_DEVICES": "2,3"}
    assert cuda_env(()) == {"CUDA_VISIBLE_DEVICES": ""}
    [request] = docker_device_requests(("2", "3"))
    assert request["DeviceIDs"] == ["2", "3"] and request["Capabilities"] == [["gpu"]]
    assert docker_device_requests(()) == []


async def _sleeper(seconds: float) -> None:
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", f"import time; time.sleep({seconds})")
    assert await process.wait() == 0


def test_n_runs_on_k_slots_never_exceed_k_at_once(tmp_path):
    plan = plan_slots(parallel=2, gpus_per_run=0, gpu_ids=[], cpu_ids=[0, 1], memory_mb=4000)
    queue = SlotQueue(tmp_path, plan)
    held: set[int] = set()
    most = 0

    async def one(i: int) -> None:
        nonlocal most
        async with queue.lease(f"run-{i}", node=f"node-{i}") as lease:
            assert lease.slot.index not in held
            held.add(lease.slot.index)
            most = max(most, len(held))
            await _sleeper(0.3)
            held.discard(lease.slot.index)

    async def main() -> None:
        await asyncio.gather(*(one(i) for i in range(6)))

    asyncio.run(main())
    assert most == 2
    entries = queue_status(tmp_path)
    assert [e.state for e in entries] == ["finished"] * 6
    assert {e.slot for e in entries} == {0, 1} and entries[0].node == "node-0"
    assert all(e.elapsed() >= 0.3 for e in entries)


def test_gpu_ids_are_handed_out_without_overlap(tmp_path):
    queue = SlotQueue(tmp_path, plan_slots(parallel=None, gpus_per_run=2, gpu_ids=GPUS, cpu_ids=[0, 1]))
    in_use: list[str] = []
    seen = []

    async def one(i: int) -> None:
        async with queue.lease(f"run-{i}") as lease:  # run.gpusPerRun by default
            assert not set(lease.gpu_ids) & set(in_use)
            in_use.extend(lease.gpu_ids)
            seen.append(lease.gpu_ids)
            await asyncio.sleep(0.05)
            for gpu in lease.gpu_ids:
                in_use.remove(gpu)

    async def main() -> None:
        await asyncio.gather(*(one(i) for i in range(6)))

    asyncio.run(main())
    assert set(seen) == {("0", "1"), ("2", "3")} and len(seen) == 6


def test_asking_more_gpus_than_exist_fails_at_once_with_one_line(tmp_path):
    queue = SlotQueue(tmp_path, plan_slots(parallel=None, gpus_per_run=1, gpu_ids=["0", "1"], cpu_ids=[0]))
    cpu_only = SlotQueue(tmp_path, plan_slots(parallel=None, gpus_per_run=2, gpu_ids=[], cpu_ids=[0]))

    async def ask(where: SlotQueue, gpus: int | None) -> None:
        async with where.lease("greedy", gpus=gpus):
            raise AssertionError("never runs")

    started = time.monotonic()
    with pytest.raises(NoSlotError) as caught:
        asyncio.run(asyncio.wait_for(ask(queue, 3), 5))
    with pytest.raises(NoSlotError) as none_here:
        asyncio.run(asyncio.wait_for(ask(cpu_only, None), 5))
    assert time.monotonic() - started < 1
    assert str(caught.value).startswith("the run asks for 3 GPU(s) but a slot has at most 1")
    assert str(none_here.value).startswith("the run asks for 2 GPU(s) but no slot has any (GPUs on this machine: none")
    assert "\n" not in str(caught.value) + str(none_here.value)
    assert queue_status(tmp_path) == []


CANCEL = "import sys; from mlr_copilot.runners.queue import cancel; print(cancel(sys.argv[1], sys.argv[2]).state)"


def cancel_from_another_process(workspace: Path, run_id: str) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-c", CANCEL, str(workspace), run_id], capture_output=True,
                          text=True, env=env, check=True)
    return done.stdout.strip()


def test_another_process_sees_the_queue_and_cancels_a_waiting_and_a_running_run(tmp_path):
    queue = SlotQueue(tmp_path, plan_slots(parallel=1, gpus_per_run=0, gpu_ids=[], cpu_ids=[0]), poll_s=0.05)
    outcome: dict[str, str] = {}

    async def run(run_id: str) -> None:
        try:
            async with queue.lease(run_id) as lease:
                process = await asyncio.create_subprocess_exec(sys.executable, "-c", "import time; time.sleep(30)")
                waiting = asyncio.create_task(process.wait())
                await asyncio.wait([waiting, asyncio.create_task(lease.cancelled.wait())],
                                   return_when=asyncio.FIRST_COMPLETED)
                process.kill()  # what the runner's cancel does with the whole tree
                await waiting
                outcome[run_id] = "stopped"
        except RunCancelledError as exc:
            outcome[run_id] = str(exc)

    async def main() -> None:
        tasks = [asyncio.create_task(run("first")), asyncio.create_task(run("second"))]
        await asyncio.sleep(0.3)
        states = {e.run_id: (e.state, e.slot) for e in await asyncio.to_thread(queue_status, tmp_path)}
        assert states == {"first": ("running", 0), "second": ("pending", None)}
        assert await asyncio.to_thread(cancel_from_another_process, tmp_path, "second") == "pending"
        assert await asyncio.to_thread(cancel_from_another_process, tmp_path, "first") == "running"
        await asyncio.wait_for(asyncio.gather(*tasks), 10)

    asyncio.run(main())
    assert outcome == {"first": "stopped", "second": "run second was cancelled while it waited for a slot"}
    assert {e.run_id: e.state for e in queue_status(tmp_path)} == {"first": "cancelled", "second": "cancelled"}
    with pytest.raises(QueueError, match="already ended"):
        cancel(tmp_path, "first")


def test_a_run_left_by_a_dead_process_shows_interrupted_and_cancel_closes_it(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    entry = QueueEntry(run_id="orphan", state="running", slot=0, host=socket.gethostname(),
                                pid=dead.pid, enqueued_at=time.time() - 5, started_at=time.time() - 4)
    write_json(queue_dir(tmp_path) / "orphan.json", jsonable(entry))
    [shown] = queue_status(tmp_path)
    assert shown.state == "interrupted"
    assert cancel(tmp_path, "orphan").state == "cancelled"
    with pytest.raises(QueueError, match="no run 'nope' in the queue; waiting or running: none"):
        cancel(tmp_path, "nope")


def test_only_the_latest_ended_runs_are_kept_and_running_ones_never_forgotten(tmp_path):
    queue = SlotQueue(tmp_path, plan_slots(parallel=1, gpus_per_run=0, gpu_ids=[], cpu_ids=[0]))

    async def main() -> None:
        for i in range(4):
            async with queue.lease(f"done-{i}"):
                pass
        async with queue.lease("running"):
            assert forget_ended(tmp_path, keep=2) == 2

    asyncio.run(main())
    assert [e.run_id for e in queue_status(tmp_path)] == ["done-2", "done-3", "running"]


def test_a_queued_run_is_its_entry_with_the_time_it_has_run(tmp_path):
    """`QueuedRun` repeats `QueueEntry`'s fields (a NamedTuple has no base class): the same, in
    the same order, so the faces show every field the queue's file holds."""
    assert_extends(QueuedRun, QueueEntry)
    assert QueuedRun._fields == (*QueueEntry._fields, "elapsed_s")
    entry = QueueEntry(run_id="r1", state="pending", host=socket.gethostname(), pid=os.getpid(),
                       enqueued_at=time.time() - 3, gpu_ids=["0"])
    write_json(queue_dir(tmp_path) / "r1.json", jsonable(entry))
    [shown] = queue_view(tmp_path)
    assert shown[:len(entry)] == entry and 2.5 < shown.elapsed_s < 60
