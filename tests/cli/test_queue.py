"""`mlr-copilot queue`: the runs of a real queue, leased by another process, listed and
cancelled from this one."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlr_copilot.runners.queue import RECENT_ENDED, SlotQueue, queue_status
from mlr_copilot.runners.slots import plan_slots
from tests.cli.test_cli import ENV, cli, no_traceback

# One slot holding GPU "3" (faked: no GPU is needed): "held" takes it, "waiting" waits for it.
HOLDER = """
import asyncio, sys
from mlr_copilot.runners.queue import RunCancelledError, SlotQueue
from mlr_copilot.runners.slots import plan_slots

async def main(workspace):
    queue = SlotQueue(workspace, plan_slots(parallel=1, gpus_per_run=1, gpu_ids=["3"], cpu_ids=[0]), poll_s=0.05)

    async def hold():
        async with queue.lease("held", node="node-a") as lease:
            await lease.cancelled.wait()
        print("held: stopped", flush=True)

    async def wait():
        try:
            async with queue.lease("waiting", node="node-b"):
                print("waiting: ran", flush=True)
        except RunCancelledError as exc:
            print("waiting:", exc, flush=True)

    await asyncio.gather(hold(), wait())

asyncio.run(asyncio.wait_for(main(sys.argv[1]), 60))
"""


class Holder:
    """The holder above in its own process, once both of its runs are in the queue."""

    def __init__(self, workspace: Path):
        self.workspace = workspace
        self.process = subprocess.Popen([sys.executable, "-c", HOLDER, str(workspace)], env=ENV, text=True,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while {e.run_id for e in queue_status(workspace)} != {"held", "waiting"}:
            assert self.process.poll() is None, self.process.communicate()
            assert time.monotonic() < deadline, "the holder's runs never showed in the queue"
            time.sleep(0.05)

    def finish(self) -> str:
        out, err = self.process.communicate(timeout=30)
        assert self.process.returncode == 0, err
        return out

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


@pytest.fixture
def holder(tmp_path: Path):
    held = Holder(tmp_path)
    yield held
    held.kill()


def queue_json(workspace: Path, *more: str) -> dict[str, dict]:
    result = cli("queue", "--json", "-w", str(workspace), *more)
    assert result.returncode == 0, result.stderr
    return {entry["run_id"]: entry for entry in json.loads(result.stdout)}


def test_queue_lists_the_runs_another_process_holds_and_cancels_them(holder):
    ws = holder.workspace
    entries = queue_json(ws)
    held, waiting = entries["held"], entries["waiting"]
    assert (held["state"], held["slot"], held["gpu_ids"], held["node"]) == ("running", 0, ["3"], "node-a")
    assert (waiting["state"], waiting["slot"], waiting["gpu_ids"], waiting["node"]) == ("pending", None, [], "node-b")
    assert held["elapsed_s"] >= 0 and waiting["elapsed_s"] >= 0

    table = cli("queue", "-w", str(ws))
    rows = {line.split()[0]: line for line in table.stdout.splitlines() if "held" in line or "waiting" in line}
    assert "running" in rows["held"] and "node-a" in rows["held"] and " 3 " in rows["held"]
    assert "pending" in rows["waiting"]

    cancelled = cli("queue", "cancel", "waiting", "-w", str(ws))
    assert cancelled.returncode == 0 and "run waiting (pending): cancel requested" in cancelled.stdout
    cancelled = cli("queue", "--cancel", "held", "-w", str(ws))
    assert cancelled.returncode == 0 and "run held (running): cancel requested" in cancelled.stdout
    out = holder.finish()
    assert "waiting: run waiting was cancelled while it waited for a slot" in out and "held: stopped" in out
    assert "waiting: ran" not in out
    assert {run_id: e["state"] for run_id, e in queue_json(ws).items()} == {"held": "cancelled", "waiting": "cancelled"}


def test_cancelling_an_unknown_or_ended_run_is_one_clear_line(holder):
    ws = holder.workspace
    unknown = cli("queue", "cancel", "nope", "-w", str(ws))
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == "mlr-copilot queue: no run 'nope' in the queue; waiting or running: held, waiting"
    assert cli("queue", "cancel", "waiting", "-w", str(ws)).returncode == 0
    assert cli("queue", "cancel", "held", "-w", str(ws)).returncode == 0
    holder.finish()
    again = cli("queue", "cancel", "held", "-w", str(ws))
    assert again.returncode == 2 and again.stderr.strip() == "mlr-copilot queue: run held has already ended (cancelled)"
    for bad in (["queue", "cancel"], ["queue", "--cancel", "../x"]):
        result = cli(*bad, "-w", str(ws))
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
        no_traceback(result)


def test_an_empty_queue_says_so_and_makes_no_state_folder(tmp_path: Path):
    result = cli("queue", "-w", str(tmp_path))
    assert result.returncode == 0 and "the queue is empty" in result.stdout
    assert cli("queue", "--json", "-w", str(tmp_path)).stdout.strip() == "[]"
    assert cli("queue", "cancel", "r1", "-w", str(tmp_path)).returncode == 2
    assert not (tmp_path / ".mlr").exists()


def test_only_the_latest_ended_runs_show_unless_all_are_asked_for(tmp_path: Path):
    queue = SlotQueue(tmp_path, plan_slots(parallel=1, gpus_per_run=0, gpu_ids=[], cpu_ids=[0]))

    async def run_all() -> None:
        for i in range(RECENT_ENDED + 2):
            async with queue.lease(f"r{i:02d}"):
                await asyncio.sleep(0.01)

    asyncio.run(run_all())
    latest = queue_json(tmp_path)
    assert sorted(latest) == [f"r{i:02d}" for i in range(2, RECENT_ENDED + 2)]
    assert {e["state"] for e in latest.values()} == {"finished"}
    assert len(queue_json(tmp_path, "--all")) == RECENT_ENDED + 2
