"""A hostile workspace or command argument through a real LSP client: `mlrCopilot.history`
with a branch that is an option, and a cloned repository's `.env`."""

from __future__ import annotations

import pytest
from pygls.exceptions import JsonRpcException

from tests.workspace.gitutil import make_repo

from .conftest import execute, start


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
