"""kill -9 in the middle of a search, then `search --resume`: no node is lost and no finished
run is repeated. A node killed while running is run once more; a node whose run finished before
the journal was saved takes that run instead of running again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlr_copilot.cli import main
from mlr_copilot.engine import Engine
from mlr_copilot.search import store

from .helpers import draft, engine_for, improve, search, settings, workspace, write_script

SERVER = Path(__file__).resolve().parents[2] / "server"


@pytest.fixture(autouse=True)
def no_hf_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    for name in [n for n in os.environ if n.startswith("MLR_")]:
        monkeypatch.delenv(name)


def runs_of(ws: Path, commit: str) -> list[str]:
    """The ids of the unseeded runs of `commit` (a node's runs, not the seeded re-measurements)."""
    return [r.id for r in Engine.load(ws).runs() if r.commit == commit and "--seed" not in r.command and not r.baseline]


def wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def journal_says(ws: Path, node: str, status: str) -> bool:
    try:
        journal = store.load(ws, store.latest_session(ws))
        return any(n.id == node and n.status == status for n in journal.nodes)
    except Exception:  # not written yet, or being replaced
        return False


def cli_args(ws: Path, script: Path) -> list[str]:
    return ["search", "-w", str(ws), "--script", str(script), "--provider", "scripted", "--offline",
            "--runner", "local", "--nodes", "3", "--seeds", "1", "--drafts", "2"]


def test_kill_9_while_a_node_runs_then_resume_loses_no_node_and_repeats_no_run(tmp_path, capsys):
    ws = workspace(tmp_path)
    engine_for(tmp_path, ws, [])  # the hypotheses
    (ws / "sleep.flag").write_text("")
    first = write_script(tmp_path, [*draft("SCORE = 0.5", "SCORE = 0.6", "Raise to 0.6"),
                                    *draft("SLEEP = 0", "SLEEP = 60", "Sleep a minute")])
    env = {**os.environ, "PYTHONPATH": str(SERVER)}
    process = subprocess.Popen([sys.executable, "-m", "mlr_copilot.cli", *cli_args(ws, first)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for(lambda: journal_says(ws, "n002", "running") and journal_says(ws, "n001", "passed"))
        time.sleep(1.0)  # the run of n002 has started and sleeps
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    (ws / "sleep.flag").unlink()
    killed = store.load(ws, store.latest_session(ws))
    n001_runs = runs_of(ws, killed.nodes[0].commit)
    assert [n.id for n in killed.nodes] == ["n001", "n002"] and len(n001_runs) == 1

    second = write_script(tmp_path, [improve("SCORE = 0.6", "SCORE = 0.7", "Raise to 0.7")])
    assert main([*cli_args(ws, second)[:-6], "--resume", "--nodes", "3", "--seeds", "1"]) == 0
    journal = store.load(ws, killed.session)
    printed = capsys.readouterr().out
    assert "Best path: n001 (draft) -> n003 (improve)" in printed and "Status: nodes" in printed
    assert "best (node n003 at " in printed and "Spent: " in printed
    assert [(n.id, n.status) for n in journal.nodes] == [("n001", "passed"), ("n002", "passed"), ("n003", "passed")]
    assert runs_of(ws, journal.nodes[0].commit) == n001_runs  # never run again
    n002 = journal.nodes[1]
    assert n002.attempts == 2 and len(n002.runs) == 1 and n002.value == pytest.approx(0.5)
    assert len(runs_of(ws, n002.commit)) == 2  # the interrupted run, and the one run after it
    assert sum(r.baseline for r in Engine.load(ws).runs()) == 1  # the baseline neither


def test_runs_that_finished_before_the_journal_was_saved_are_taken_not_run_again(tmp_path):
    ws = workspace(tmp_path)
    engine = engine_for(tmp_path, ws, draft("SCORE = 0.5", "SCORE = 0.6", "Raise to 0.6"), maxNodes=1, seeds=1)
    journal = search(engine)
    node = journal.nodes[0]
    (run,) = runs_of(ws, node.commit)
    # as if killed between the end of the run and the save of its result
    saved = store.load(ws, journal.session)
    saved.nodes[0] = saved.nodes[0].model_copy(update={"status": "running", "runs": [], "value": None})
    baseline = saved.baseline_run
    saved.baseline_run = saved.baseline_value = None  # and the baseline's too
    store.save(ws, saved)
    resumed = search(Engine.load(ws, settings(write_script(tmp_path, []), maxNodes=1, seeds=1)), resume=True)
    assert resumed.nodes[0].status == "passed" and resumed.nodes[0].runs == [run]
    assert runs_of(ws, node.commit) == [run]
    assert resumed.baseline_run == baseline and [r.id for r in Engine.load(ws).runs() if r.baseline] == [baseline]


def test_a_second_search_is_refused_while_the_first_runs(tmp_path):
    from mlr_copilot.errors import MlrError
    from mlr_copilot.runners.base import run_owner
    from mlr_copilot.runners.proctree import start_ticks

    ws = workspace(tmp_path)
    engine = engine_for(tmp_path, ws, draft("SCORE = 0.5", "SCORE = 0.6", "Raise to 0.6"), maxNodes=1, seeds=1)
    journal = search(engine)
    assert journal.status == "nodes"
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        saved = store.load(ws, journal.session)
        saved.status, saved.owner_host, saved.owner_pid = "running", run_owner()[0], other.pid
        saved.owner_started = start_ticks(other.pid)
        store.save(ws, saved)
        for resume in (False, True):
            with pytest.raises(MlrError, match=f"search {journal.session} is still running in this workspace"):
                search(Engine.load(ws, settings(write_script(tmp_path, []))), resume=resume)
    finally:
        other.kill()
        other.wait()
    # once the first is gone, it resumes (nothing is left to do within its node budget)
    resumed = search(Engine.load(ws, settings(write_script(tmp_path, []), maxNodes=1, seeds=1)), resume=True)
    assert (resumed.session, resumed.status, len(resumed.nodes)) == (journal.session, "nodes", 1)
