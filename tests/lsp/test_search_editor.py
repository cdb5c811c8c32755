"""The tree search in the editor: a real client starts a search in the real server (progress,
live `mlrCopilot/searchChanged`, also for a search another process writes), reads its tree,
compares a node with its parent, and acts on a node (which leaves the objective of later runs
as the workspace sets it); every bad argument is named."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from pygls.exceptions import JsonRpcException

from mlr_copilot.engine import Engine
from mlr_copilot.search import store
from tests.cli.test_search_cli import RECORDS, searched
from tests.search.helpers import improve, save_hypotheses, settings, workspace, write_script

from .conftest import execute, start, wait_for


@pytest.fixture(autouse=True)
def no_hf_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))


def listen(client) -> list[dict]:
    heard: list[dict] = []

    @client.feature("mlrCopilot/searchChanged")
    def changed(params):
        heard.append(params)

    return heard


async def test_a_search_started_in_the_editor_reports_progress_and_each_change_of_its_journal(client, tmp_path):
    ws = workspace(tmp_path)
    chosen = settings(write_script(tmp_path, RECORDS), maxNodes=4, seeds=1)
    save_hypotheses(Engine.load(ws, chosen), 2)
    heard = listen(client)
    await start(client, ws, settings=chosen)
    assert await execute(client, "mlrCopilot.searchTree") is None  # no search yet
    with pytest.raises(JsonRpcException, match=r"no search session in .*/\.mlr/search yet"):
        await execute(client, "mlrCopilot.search", {"resume": True})
    with pytest.raises(JsonRpcException, match="no search session in this workspace yet"):
        await execute(client, "mlrCopilot.searchCompare", "n001")

    tree = await execute(client, "mlrCopilot.search", {})
    session = store.latest_session(ws)
    assert (tree["session"], tree["status"], tree["best"]) == (session, "nodes", "n004")
    assert [(n["id"], n["parent"], n["operator"], n["status"]) for n in tree["nodes"]] == [
        ("n001", None, "draft", "passed"), ("n002", None, "draft", "failed"), ("n003", "n002", "debug", "passed"),
        ("n004", "n001", "improve", "passed")]
    # told while it ran (each write of the journal the watch saw), not only at the end
    assert len(heard) >= 2 and {h.session for h in heard} == {session}
    titles = [v.title for values in client.progress_reports.values() for v in values if getattr(v, "title", None)]
    assert "MLR-Copilot: searching" in titles
    assert await execute(client, "mlrCopilot.searchTree") == tree
    assert (await execute(client, "mlrCopilot.searchTree", session))["session"] == session


async def test_the_tree_and_a_node_compared_with_its_parent(client, tmp_path):
    ws = await asyncio.to_thread(searched, tmp_path)  # the search helper runs its own event loop
    await start(client, ws, settings={"run": {"runner": "local"}})
    tree = await execute(client, "mlrCopilot.searchTree")
    nodes = {n["id"]: n for n in tree["nodes"]}
    assert nodes["n004"]["delta"] == pytest.approx(0.4) and nodes["n004"]["best"] is True
    assert (tree["baseline_value"], tree["metric"], tree["direction"]) == (0.5, "score", "maximize")
    assert all(n["cost_usd"] >= 0 and n["compute_s"] > 0 and n["runs"] for n in nodes.values())

    # both ran: their runs compared
    compared = await execute(client, "mlrCopilot.searchCompare", "n004")
    assert (compared["parent"], compared["parent_value"], compared["value"]) == ("n001", 0.6, 0.7)
    assert compared["delta"] == pytest.approx(0.1 / 0.6)
    assert compared["runs"]["run_b"] == nodes["n004"]["runs"][-1]
    assert "-SCORE = 0.6" in compared["runs"]["diff"] and "+SCORE = 0.7" in compared["runs"]["diff"]
    # a draft against the baseline
    draft = await execute(client, "mlrCopilot.searchCompare", "n001", tree["session"])
    assert (draft["parent"], draft["parent_commit"], draft["runs"]["run_a"]) == (None, tree["base_commit"], tree["baseline_run"])

    # a node a kill left before its run: the diff of the commits and the metric as recorded
    journal = store.load(ws, tree["session"])
    node = journal.node("n004")
    node.status, node.runs, node.value = "pending", [], None
    store.save(ws, journal)
    unrun = await execute(client, "mlrCopilot.searchCompare", "n004")
    assert unrun["runs"] is None and unrun["value"] is None and unrun["delta"] is None
    assert "+SCORE = 0.7" in unrun["diff"] and "node n004 has no run" in unrun["notes"][0]


async def test_bad_search_arguments_are_named(client, tmp_path):
    ws = await asyncio.to_thread(searched, tmp_path)
    await start(client, ws, settings={"run": {"runner": "local"}})
    with pytest.raises(JsonRpcException, match=r"no node 'n999' \(its nodes: n001, n002, n003, n004\)"):
        await execute(client, "mlrCopilot.searchCompare", "n999")
    with pytest.raises(JsonRpcException, match="no search session 20990101-000000"):
        await execute(client, "mlrCopilot.searchTree", "20990101-000000")
    with pytest.raises(JsonRpcException, match="is not a search session id"):
        await execute(client, "mlrCopilot.searchCompare", "n001", "../x")
    with pytest.raises(JsonRpcException, match="the action must be one of improve, debug, prune, promote, not 'grow'"):
        await execute(client, "mlrCopilot.searchAct", "n001", "grow")
    with pytest.raises(JsonRpcException, match="the node id is missing"):
        await execute(client, "mlrCopilot.searchAct", "", "prune")
    with pytest.raises(JsonRpcException, match="instruction must be a string"):
        await execute(client, "mlrCopilot.searchAct", "n001", "improve", {"instruction": 3})
    with pytest.raises(JsonRpcException, match="resume must be"):
        await execute(client, "mlrCopilot.search", {"resume": "yes"})
    with pytest.raises(JsonRpcException, match="hypotheses must be at least 1"):
        await execute(client, "mlrCopilot.search", {"hypotheses": 0})


async def test_improve_from_the_editor_adds_a_child_and_tells_the_client(client, tmp_path):
    ws = await asyncio.to_thread(searched, tmp_path)
    script = write_script(tmp_path, [improve("SCORE = 0.7", "SCORE = 0.75", "Raise to 0.75", "try 0.75")])
    heard = listen(client)
    await start(client, ws, settings=settings(script, seeds=1))
    answer = await execute(client, "mlrCopilot.searchAct", "n004", "improve", {"instruction": "try 0.75"})
    assert (answer["action"], answer["node"], answer["child"]) == ("improve", "n004", "n005")
    tree = await execute(client, "mlrCopilot.searchTree")
    child = next(n for n in tree["nodes"] if n["id"] == "n005")
    assert (child["parent"], child["operator"], child["summary"]) == ("n004", "improve", "Raise to 0.75")
    assert await wait_for(lambda: len(heard) >= 1)

    pruned = await execute(client, "mlrCopilot.searchAct", "n003", "prune")
    assert pruned["node"] == "n003"
    assert next(n for n in (await execute(client, "mlrCopilot.searchTree"))["nodes"] if n["id"] == "n003")["status"] == "pruned"
    with pytest.raises(JsonRpcException, match="node n003 is pruned: only a node whose run ended can be improved"):
        await execute(client, "mlrCopilot.searchAct", "n003", "improve")


# another process (a search in a terminal) writes the session through the store, as the loop does
ANOTHER_PROCESS = """
import sys
from pathlib import Path
from mlr_copilot.search import store
ws, new = Path(sys.argv[1]), sys.argv[2] == "new"
journal = store.load_session(ws, None)
if new:
    journal = journal.model_copy(update={"session": store.new_session_id(ws), "nodes": journal.nodes[:1]})
else:
    journal.nodes.append(journal.node("n004").model_copy(update={"id": "n005", "parent": "n004"}))
store.save(ws, journal)
"""


def in_another_process(ws: Path, what: str) -> None:
    subprocess.run([sys.executable, "-c", ANOTHER_PROCESS, str(ws), what], check=True, timeout=60)


async def test_a_search_written_by_another_process_is_told_to_the_editor(client, tmp_path):
    ws = await asyncio.to_thread(searched, tmp_path)
    session = store.latest_session(ws)
    heard = listen(client)
    await start(client, ws, settings={"run": {"runner": "local"}})
    await asyncio.sleep(1.5)  # a few looks at an unchanged session: nothing to tell
    assert heard == []

    await asyncio.to_thread(in_another_process, ws, "node")
    assert await wait_for(lambda: len(heard) == 1, timeout=10)
    assert (heard[0].session, heard[0].status, heard[0].nodes) == (session, "nodes", 5)
    assert "n005" in [n["id"] for n in (await execute(client, "mlrCopilot.searchTree"))["nodes"]]

    await asyncio.to_thread(in_another_process, ws, "new")  # a new session counts
    assert await wait_for(lambda: len(heard) == 2, timeout=10)
    assert heard[1].session == store.latest_session(ws) != session and heard[1].nodes == 1
    await asyncio.sleep(1.0)
    assert len(heard) == 2  # each change told once


async def test_a_node_action_from_the_editor_leaves_the_objective_of_later_runs_as_configured(client, tmp_path):
    ws = await asyncio.to_thread(searched, tmp_path)
    # a session judged by another metric than the workspace's task (started under other settings)
    journal = store.load(ws, store.latest_session(ws))
    journal.metric, journal.direction = "loss", "minimize"
    store.save(ws, journal)
    await start(client, ws, settings={"run": {"runner": "local"}})
    before = await execute(client, "mlrCopilot.run", {})
    assert (before["primary_metric"], before["direction"]) == ("score", "maximize")

    # the request is taken here: the session is opened with its own objective, as a resumed search is
    pruned = await execute(client, "mlrCopilot.searchAct", "n003", "prune")
    assert pruned["node"] == "n003" and "never expands it" in pruned["message"]
    after = await execute(client, "mlrCopilot.run", {})
    assert (after["primary_metric"], after["direction"], after["value"]) == ("score", "maximize", 0.5)
    with pytest.raises(JsonRpcException, match=r"^node n003 is already pruned"):
        await execute(client, "mlrCopilot.searchAct", "n003", "prune")
