"""Run on all accepted hypotheses and check out a run's commit, from a real client against the
real server: the runs of two implemented hypotheses overlap on two slots, the one without a
branch is one line, and progress names each run as it ends."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from tests.gitutil import git
from tests.runners.test_batch import implemented_hypotheses

from .conftest import execute, start


def settings(seconds: float) -> dict:
    return {"run": {"runner": "local", "parallel": 2, "command": f"{sys.executable} probe.py {seconds}"}}


async def test_run_all_accepted_answers_each_run_or_why_not(client, tmp_path: Path):
    repo, heads = implemented_hypotheses(tmp_path / "repo")
    result = await start(client, repo, settings=settings(1.0))
    assert "mlrCopilot.runAllAccepted" in result.capabilities.execute_command_provider.commands

    items = {item["target"]: item for item in await execute(client, "mlrCopilot.runAllAccepted")}
    assert list(items) == ["h1", "h2", "h3"]
    runs = {name: items[name]["run"] for name in ("h1", "h2")}
    for name, run in runs.items():
        assert run["status"] == "passed" and run["commit"] == heads[name] == items[name]["commit"]
        assert run["hypothesis"] == name and run["value"] == run["metrics"]["score"]
    assert runs["h1"]["metrics"]["start"] < runs["h2"]["metrics"]["end"] and runs["h2"]["metrics"]["start"] < runs["h1"]["metrics"]["end"]
    assert items["h3"] == {"target": "h3", "branch": "mlr/h3-idea-3", "commit": None, "run": None,
                           "error": "h3 has no branch mlr/h3-idea-3: implement it first"}
    reports = [v.message for values in client.progress_reports.values() for v in values
               if isinstance(v, types.WorkDoneProgressReport) and v.message]
    assert f"h1: run {runs['h1']['id']} passed" in reports and "h3: h3 has no branch mlr/h3-idea-3: implement it first" in reports
    # the queue view lists them as ended
    ended = {e["run_id"]: e["state"] for e in await execute(client, "mlrCopilot.queue", {"all": True})}
    assert ended == {runs["h1"]["id"]: "finished", runs["h2"]["id"]: "finished"}

    folder = tmp_path / "h1-copy"
    done = await execute(client, "mlrCopilot.checkoutRun", runs["h1"]["id"], str(folder))
    assert done == {"run_id": runs["h1"]["id"], "commit": heads["h1"], "path": str(folder)}
    assert git(folder, "rev-parse", "HEAD").strip() == heads["h1"] and (folder / "version.txt").read_text() == "2\n"
    with pytest.raises(JsonRpcException, match="already exists"):
        await execute(client, "mlrCopilot.checkoutRun", runs["h1"]["id"], str(folder))


async def test_bad_arguments_are_named(client, tmp_path: Path):
    repo, _heads = implemented_hypotheses(tmp_path / "repo")
    await start(client, repo, settings=settings(0))
    with pytest.raises(JsonRpcException, match="ids must be a list of strings"):
        await execute(client, "mlrCopilot.runAllAccepted", {"ids": "h1"})
    with pytest.raises(JsonRpcException, match="the run id must be a string"):
        await execute(client, "mlrCopilot.checkoutRun", 3)
    [only] = await execute(client, "mlrCopilot.runAllAccepted", {"ids": ["h4"]})
    assert only["error"] == "h4 is proposed: only accepted hypotheses run"
