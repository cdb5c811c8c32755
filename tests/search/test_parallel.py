"""Nodes run in parallel on the run queue's slots: with two slots two nodes' runs overlap in
time, with one they never do; a kill -9 with two nodes in flight, then a resume, repeats no
finished run and loses no node."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta

import pytest

from mlr_copilot.engine import Engine
from mlr_copilot.runners.model import RunRecord
from mlr_copilot.search import store
from mlr_copilot.search.loop import Search
from mlr_copilot.search.report import render
from mlr_copilot.work import Work

from .helpers import (
    draft,
    engine_for,
    improve,
    search,
    search_process_code,
    settings,
    workspace,
    write_script,
)
from .test_resume import SERVER, journal_says, runs_of, wait_for

HEAD = "SCORE = 0.5\nBROKEN = False\nSLEEP = 0"


def sleeper(score: str, seconds: int) -> str:
    return f"SCORE = {score}\nBROKEN = False\nSLEEP = {seconds}"


@pytest.fixture(autouse=True)
def clean_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    for name in [n for n in os.environ if n.startswith("MLR_")]:
        monkeypatch.delenv(name)


def span(record: RunRecord) -> tuple[datetime, datetime]:
    start = datetime.fromisoformat(record.started_at)
    return start, start + timedelta(seconds=record.duration_s or 0.0)


def overlap(a: RunRecord, b: RunRecord) -> bool:
    (a0, a1), (b0, b1) = span(a), span(b)
    return a0 < b1 and b0 < a1


@pytest.mark.parametrize("parallel", [1, 2])
def test_nodes_run_at_once_up_to_the_slots_of_the_run_queue(tmp_path, parallel):
    ws = workspace(tmp_path)
    (ws / "sleep.flag").write_text("")
    records = [*draft(HEAD, sleeper("0.6", 3), "Raise to 0.6"), *draft(HEAD, sleeper("0.55", 3), "Raise to 0.55")]
    engine = engine_for(tmp_path, ws, records, maxNodes=2, seeds=1)
    engine.configure(engine.settings.model_copy(update={"run": engine.settings.run.model_copy(
        update={"parallel": parallel})}))
    journal = search(engine)
    assert journal.status == "nodes" and [n.status for n in journal.nodes] == ["passed", "passed"]
    first, second = (engine.run_record(n.runs[0]) for n in journal.nodes)
    assert overlap(first, second) is (parallel == 2)
    if parallel == 1:  # not one pair of runs (baseline, nodes, seeded re-runs) at once
        runs = engine.runs()
        assert len(runs) == 5 and not any(overlap(a, b) for a in runs for b in runs if a.id < b.id)
    assert [m.label for m in journal.measured] == ["baseline", "best"]


SEARCH = search_process_code(initialDrafts=2, reflectEvery=0, seeds=1, maxNodes=3)


def test_kill_9_with_two_nodes_in_flight_then_resume_repeats_no_finished_run(tmp_path):
    ws = workspace(tmp_path)
    engine_for(tmp_path, ws, [])  # the hypotheses
    (ws / "sleep.flag").write_text("")
    # n001 ends soon and is improved (n003) while n002 runs: then two nodes are in flight
    script = write_script(tmp_path, [*draft(HEAD, sleeper("0.6", 2), "Raise to 0.6"),
                                     *draft(HEAD, sleeper("0.5", 60), "Sleep a minute"),
                                     improve(sleeper("0.6", 2), sleeper("0.7", 60), "Raise to 0.7, slowly")])
    process = subprocess.Popen([sys.executable, "-c", SEARCH, str(ws), str(script)],
                               env={**os.environ, "PYTHONPATH": str(SERVER)}, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for(lambda: journal_says(ws, "n003", "running") and journal_says(ws, "n002", "running"), 120)
        time.sleep(1.5)  # both runs have started and sleep
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    (ws / "sleep.flag").unlink()
    killed = store.load(ws, store.latest_session(ws))
    assert [(n.id, n.status) for n in killed.nodes] == [("n001", "passed"), ("n002", "running"), ("n003", "running")]
    n001_runs = runs_of(ws, killed.nodes[0].commit)
    assert len(n001_runs) == 1

    resumed = search(Engine.load(ws, settings(write_script(tmp_path, []), maxNodes=3, seeds=1)), resume=True)
    assert [(n.id, n.status) for n in resumed.nodes] == [("n001", "passed"), ("n002", "passed"), ("n003", "passed")]
    assert runs_of(ws, resumed.nodes[0].commit) == n001_runs  # never run again
    for node in resumed.nodes[1:]:  # the interrupted run, and the one run after it
        assert node.attempts == 2 and len(node.runs) == 1 and len(runs_of(ws, node.commit)) == 2
    assert resumed.best() is resumed.nodes[2] and resumed.nodes[2].value == pytest.approx(0.7)
    assert sum(r.baseline for r in Engine.load(ws).runs()) == 1


def test_an_llm_budget_spent_while_a_node_runs_waits_for_its_run(tmp_path):
    ws = workspace(tmp_path)
    (ws / "sleep.flag").write_text("")
    records = [*draft(HEAD, sleeper("0.6", 3), "Raise to 0.6"), *draft(HEAD, sleeper("0.55", 3), "Raise to 0.55")]
    engine = engine_for(tmp_path, ws, records, maxNodes=4, seeds=1)
    engine.configure(engine.settings.model_copy(update={
        "run": engine.settings.run.model_copy(update={"parallel": 2}),
        "llm": engine.settings.llm.model_copy(update={"budget_tokens": 1500})}))
    journal = search(engine)
    assert journal.status == "budget" and len(journal.nodes) == 1, (journal.status, journal.message)
    (node,) = journal.nodes
    assert node.status == "passed" and len(node.runs) == 1  # the run in flight was waited for, and saved
    assert [m.label for m in journal.measured] == ["baseline", "best"]
    assert "Status: budget (" in render(journal) and "Seeded means: " in render(journal)


def test_a_cancel_with_two_nodes_in_flight_cancels_both_runs_and_resume_runs_them(tmp_path):
    ws = workspace(tmp_path)
    (ws / "sleep.flag").write_text("")
    records = [*draft(HEAD, sleeper("0.6", 60), "Raise to 0.6"), *draft(HEAD, sleeper("0.55", 60), "Raise to 0.55")]
    engine = engine_for(tmp_path, ws, records, maxNodes=2, seeds=1)
    engine.configure(engine.settings.model_copy(update={"run": engine.settings.run.model_copy(update={"parallel": 2})}))
    work = Work()

    async def scenario():
        running = asyncio.create_task(Search(engine, work).run())
        while not all(journal_says(ws, node, "running") for node in ("n001", "n002")):
            assert not running.done(), running
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.5)  # both runs have started
        cancelled_at = time.monotonic()
        work.cancel.set()
        journal = await running
        return journal, time.monotonic() - cancelled_at

    journal, took = asyncio.run(scenario())
    assert journal.status == "cancelled" and took < 30, (journal.status, took)
    assert [n.status for n in journal.nodes] == ["running", "running"]  # owed a run: a resume runs them
    assert {r.status for r in engine.runs() if not r.baseline} == {"cancelled"}
    (ws / "sleep.flag").unlink()
    resumed = search(Engine.load(ws, settings(write_script(tmp_path, []), maxNodes=2, seeds=1)), resume=True)
    assert [(n.status, n.attempts, len(n.runs)) for n in resumed.nodes] == [("passed", 2, 1), ("passed", 2, 1)]
