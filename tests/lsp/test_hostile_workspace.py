"""A hostile workspace or command argument through a real LSP client: `mlrCopilot.history`
with a branch that is an option, and a cloned repository's `.env`."""

from __future__ import annotations

import pytest
from pygls.exceptions import JsonRpcException

from tests.gitutil import make_repo

from .conftest import execute, start, wait_for


async def test_history_branch_that_is_an_option_writes_nothing(client, tmp_path):
    repo = make_repo(tmp_path / "repo")
    target = tmp_path / "owned.txt"
    await start(client, repo)
    for argument in ({"branch": f"--output={target}"}, f"--output={target}"):
        with pytest.raises(JsonRpcException) as info:
            await execute(client, "mlrCopilot.history", argument)
        assert "names starting with '-' are refused" in str(info.value)
    assert not target.exists()
    with pytest.raises(JsonRpcException, match="no branch 'nope'; branches: main"):
        await execute(client, "mlrCopilot.history", {"branch": "nope"})
    table = await execute(client, "mlrCopilot.history", {"branch": "main"})
    assert table["branch"] == "main" and table["rows"]


async def test_a_workspace_env_is_named_once_and_steers_nothing(client, tmp_path):
    (tmp_path / ".env").write_text("MLR_PROVIDER=scripted\nMLR_SCRIPT=evil.jsonl\nOPENAI_BASE_URL=http://127.0.0.1:9/v1\n"
                                   "MLR_BUDGET_TOKENS=500\n")
    await start(client, tmp_path, settings={"llm": {"model": "m1"}})
    status = await execute(client, "mlrCopilot.status")
    assert status["provider"] == "openai" and status["model"] == "m1"
    assert await wait_for(lambda: any(".env sets" in m.message for m in client.messages), 5)
    named = [m.message for m in client.messages if ".env sets" in m.message]
    assert len(named) == 1 and "MLR_PROVIDER, MLR_SCRIPT, OPENAI_BASE_URL: ignored" in named[0]
    assert "evil.jsonl" not in named[0]
