"""The run queue in the editor: a real client asks the real server for the runs another
process holds in a real queue, and cancels them."""

from __future__ import annotations

import pytest
from pygls.exceptions import JsonRpcException

from tests.cli.test_queue import Holder

from .conftest import execute, start


@pytest.fixture
def holder(tmp_path):
    held = Holder(tmp_path)
    yield held
    held.kill()


async def test_the_editor_lists_the_queue_and_cancels_a_waiting_and_a_running_run(client, holder):
    result = await start(client, holder.workspace)
    assert {"mlrCopilot.queue", "mlrCopilot.cancelQueued"} <= set(result.capabilities.execute_command_provider.commands)

    entries = {e["run_id"]: e for e in await execute(client, "mlrCopilot.queue")}
    assert (entries["held"]["state"], entries["held"]["slot"], entries["held"]["gpu_ids"]) == ("running", 0, ["3"])
    assert (entries["waiting"]["state"], entries["waiting"]["node"]) == ("pending", "node-b")
    assert entries["held"]["elapsed_s"] >= 0 and entries["held"]["cancel_requested"] is False

    answer = await execute(client, "mlrCopilot.cancelQueued", "waiting")
    assert (answer["run_id"], answer["state"], answer["cancel_requested"]) == ("waiting", "pending", True)
    assert (await execute(client, "mlrCopilot.cancelQueued", "held"))["cancel_requested"] is True
    out = holder.finish()
    assert "waiting: run waiting was cancelled" in out and "held: stopped" in out
    ended = {e["run_id"]: e["state"] for e in await execute(client, "mlrCopilot.queue", {"all": True})}
    assert ended == {"held": "cancelled", "waiting": "cancelled"}

    with pytest.raises(JsonRpcException) as info:
        await execute(client, "mlrCopilot.cancelQueued", "held")
    assert "run held has already ended (cancelled)" in str(info.value)


async def test_bad_queue_arguments_are_named(client, tmp_path):
    await start(client, tmp_path)
    assert await execute(client, "mlrCopilot.queue") == []
    with pytest.raises(JsonRpcException, match="no run 'nope' in the queue; waiting or running: none"):
        await execute(client, "mlrCopilot.cancelQueued", "nope")
    with pytest.raises(JsonRpcException, match="the run id must be a string"):
        await execute(client, "mlrCopilot.cancelQueued", 7)
    with pytest.raises(JsonRpcException, match="all must be"):
        await execute(client, "mlrCopilot.queue", {"all": "yes"})
