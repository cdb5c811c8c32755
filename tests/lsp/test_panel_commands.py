"""What the editor's Experiments panel asks the server: the runs of every branch in one table,
and two runs side by side (metrics, environment, code diff)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pygls.exceptions import JsonRpcException

from ..gitutil import commit, git, make_repo
from .conftest import execute, start

SETTINGS = {"run": {"runner": "local", "metric": "accuracy", "direction": "maximize"}}


async def two_branches_with_runs(client, root: Path) -> tuple[dict, dict]:
    make_repo(root, {"train.py": "print('METRIC accuracy=0.5')\n", ".gitignore": ".mlr/\n"})
    await start(client, root, settings=SETTINGS)
    base = await execute(client, "mlrCopilot.run")
    git(root, "switch", "-q", "-c", "mlr/h1-wider")
    commit(root, {"train.py": "print('METRIC accuracy=0.75')\n"}, "wider layer")
    other = await execute(client, "mlrCopilot.run")
    git(root, "switch", "-q", "-")
    return base, other


async def test_history_of_every_branch_lists_the_runs_of_each(client, tmp_path):
    base, other = await two_branches_with_runs(client, tmp_path)
    current_only = await execute(client, "mlrCopilot.history")
    assert other["id"] not in {r["run_id"] for r in current_only["rows"]}
    table = await execute(client, "mlrCopilot.history", {"all_branches": True})
    runs = {r["run_id"]: r for r in table["rows"] if r["run_id"]}
    assert set(runs) == {base["id"], other["id"]}
    assert runs[other["id"]]["branch"] == "mlr/h1-wider"
    assert runs[other["id"]]["delta"] == pytest.approx(0.5)
    assert runs[other["id"]]["node"], "the machine that ran it"
    assert "mlr/h1-wider" in table["branches"]


async def test_compare_gives_metrics_side_by_side_and_the_code_diff(client, tmp_path):
    base, other = await two_branches_with_runs(client, tmp_path)
    result = await execute(client, "mlrCopilot.compare", base["id"], other["id"])
    assert (result["run_a"], result["run_b"]) == (base["id"], other["id"])
    [accuracy] = [m for m in result["metrics"] if m["name"] == "accuracy"]
    assert (accuracy["a"], accuracy["b"]) == (0.5, 0.75)
    assert "-print('METRIC accuracy=0.5')" in result["diff"] and "+print('METRIC accuracy=0.75')" in result["diff"]


async def test_a_diverged_runs_metric_reaches_the_editor_as_null(client, tmp_path):
    """The comparison is plain data (history/compare.py): its NaN must not make the message
    invalid JSON, as it never did when it was a pydantic model."""
    base, other = await two_branches_with_runs(client, tmp_path)
    path = tmp_path / ".mlr" / "runs" / f"{other['id']}.json"
    record = json.loads(path.read_text())
    record["metrics"]["accuracy"] = float("nan")
    path.write_text(json.dumps(record))
    result = await execute(client, "mlrCopilot.compare", base["id"], other["id"])
    [accuracy] = [m for m in result["metrics"] if m["name"] == "accuracy"]
    assert (accuracy["a"], accuracy["b"], accuracy["delta"]) == (0.5, None, None)


async def test_compare_with_an_unknown_run_is_a_clear_error(client, tmp_path):
    base, _ = await two_branches_with_runs(client, tmp_path)
    with pytest.raises(JsonRpcException, match="no-such-run|not found|unknown|no run"):
        await execute(client, "mlrCopilot.compare", base["id"], "20990101-000000-1")
