"""The honest measurement runs on the run queue's slots: the seeded re-runs of the winner and
the baseline and the final evaluation go at once (two slots: two at a time, one slot: never two),
with the same mean ± SE either way; each run names its search node in its record and its queue
entry. A kill -9 while measuring, then a resume, repeats no finished seeded run, and a run that
ended before the journal was saved is taken, not run again."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlr_copilot.engine import Engine
from mlr_copilot.runners.model import RunRecord
from mlr_copilot.runners.queue_records import queue_status
from mlr_copilot.search import store
from mlr_copilot.search.model import Journal
from tests.gitutil import make_repo

from .helpers import (
    TASK,
    TRAIN,
    draft,
    engine_for,
    search,
    search_process_code,
    settings,
    write_script,
)
from .test_parallel import overlap, span
from .test_resume import SERVER, wait_for

FINAL = 'final_command = "python train.py --final"\n'


@pytest.fixture(autouse=True)
def clean_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    for name in [n for n in os.environ if n.startswith("MLR_")]:
        monkeypatch.delenv(name)


def sleepy_workspace(root: Path, train: str) -> Path:
    ws = make_repo(root, {"train.py": train, "task.toml": TASK.format(extra=FINAL),
                          ".gitignore": "results.json\nsleep.flag\n"})
    (ws / "sleep.flag").write_text("")
    return ws


def measuring(runs: list[RunRecord]) -> list[RunRecord]:
    """The runs of the measurement: the seeded re-runs and the final evaluation."""
    return [r for r in runs if "--seed" in r.command or "--final" in r.command]


def most_at_once(runs: list[RunRecord]) -> int:
    edges = sorted([(span(r)[0], 1) for r in runs] + [(span(r)[1], -1) for r in runs], key=lambda e: (e[0], e[1]))
    now = most = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


def figures(journal: Journal) -> list[tuple[str, list[int], float | None, float | None]]:
    return [(m.label, [r.seed for r in m.runs], m.mean, m.se) for m in journal.measured]


def measured_search(root: Path, parallel: int) -> tuple[Engine, Journal]:
    # every run sleeps a second: the baseline, the node, 3 seeds of each, the final evaluation
    ws = sleepy_workspace(root / "ws", TRAIN.replace("SLEEP = 0", "SLEEP = 1"))
    engine = engine_for(root, ws, draft("SCORE = 0.5", "SCORE = 0.6", "Raise to 0.6"), hypotheses=1,
                        initialDrafts=1, maxNodes=1, seeds=3)
    engine.configure(engine.settings.model_copy(update={"run": engine.settings.run.model_copy(
        update={"parallel": parallel})}))
    return engine, search(engine)


@pytest.fixture(scope="module")
def searched(tmp_path_factory) -> dict[int, tuple[Engine, Journal]]:
    """The same search with one slot and with two (each search takes ~20 s: shared by the tests)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_CACHE", str(tmp_path_factory.mktemp("hf")))
        for name in [n for n in os.environ if n.startswith("MLR_")]:
            patch.delenv(name)
        return {parallel: measured_search(tmp_path_factory.mktemp(f"parallel{parallel}"), parallel)
                for parallel in (1, 2)}


def test_seeded_runs_and_the_final_evaluation_share_the_slots_with_the_same_mean_and_se(searched):
    (one_engine, one), (two_engine, two) = searched[1], searched[2]
    for journal in (one, two):
        assert journal.status == "nodes" and journal.final is not None, journal.message
    one_runs, two_runs = measuring(one_engine.runs()), measuring(two_engine.runs())
    assert len(one_runs) == len(two_runs) == 7  # 3 seeds of the baseline, 3 of the node, the final evaluation
    assert all(r.status == "passed" for r in one_runs + two_runs)
    # one slot: never two at once; two slots: two at a time, never three, and each slot used
    assert most_at_once(one_runs) == 1 and not any(overlap(a, b) for a in one_runs for b in one_runs if a.id < b.id)
    assert most_at_once(two_runs) == 2 and {r.slot for r in two_runs} == {0, 1}
    # the same measurement however the runs overlapped
    assert figures(one) == figures(two)
    (_, _, base_mean, base_se), (_, seeds, best_mean, best_se) = figures(two)
    assert seeds == [0, 1, 2] and base_mean == pytest.approx(0.51) and best_mean == pytest.approx(0.61)
    assert base_se == pytest.approx(best_se) == pytest.approx(0.01 / 3 ** 0.5)
    assert two.final.value == pytest.approx(0.55) and two.final_node == "n001"


def test_each_run_names_its_search_node_in_its_record_and_its_queue_entry(searched):
    engine, journal = searched[2]
    node = journal.nodes[0]
    by_id = {r.id: r for r in engine.runs()}
    best = next(m for m in journal.measured if m.label == "best")
    baseline = next(m for m in journal.measured if m.label == "baseline")
    assert journal.final is not None
    of_node = [*node.runs, *(r.run for r in best.runs), journal.final.run]
    assert {by_id[run].search_node for run in of_node} == {"n001"}
    # the baseline is no node of the tree: its runs name none
    assert {by_id[run].search_node for run in [journal.baseline_run, *(r.run for r in baseline.runs)]} == {None}
    # the machine that ran it is another field, left as it was
    assert {by_id[run].environment.node for run in of_node if by_id[run].environment} <= {socket.gethostname()}
    entries = {e.run_id: e for e in queue_status(engine.workspace)}
    assert {entries[run].node for run in of_node} == {"n001"} and entries[journal.baseline_run].node is None


def test_a_run_that_ended_before_the_journal_was_saved_is_taken_not_run_again(tmp_path):
    ws = sleepy_workspace(tmp_path / "ws", TRAIN)
    engine = engine_for(tmp_path, ws, draft("SCORE = 0.5", "SCORE = 0.6", "Raise to 0.6"), hypotheses=1,
                        initialDrafts=1, maxNodes=1, seeds=2)
    journal = search(engine)
    runs = {r.id for r in engine.runs()}
    assert len(measuring(engine.runs())) == 5
    # as if killed after these runs ended and before the journal held them
    best = next(m for m in journal.measured if m.label == "best")
    lost, final = best.runs.pop(), journal.final
    best.mean = best.se = journal.final = journal.final_node = None
    store.save(ws, journal)
    resumed = search(Engine.load(ws, settings(write_script(tmp_path, []), maxNodes=1, seeds=2, initialDrafts=1)),
                     resume=True)
    assert {r.id for r in Engine.load(ws).runs()} == runs  # nothing ran again
    again = next(m for m in resumed.measured if m.label == "best")
    assert again.runs[-1] == lost and again.mean == pytest.approx(0.605) and again.se == pytest.approx(0.005)
    assert resumed.final == final and resumed.final_node == "n001"


SEARCH = search_process_code(initialDrafts=1, reflectEvery=0, seeds=3, maxNodes=1)


def test_kill_9_while_measuring_then_resume_repeats_no_finished_seeded_run(tmp_path):
    # seed 2 sleeps while sleep.flag exists: seeds 0 and 1 and the final evaluation end, seed 2 is in flight
    ws = sleepy_workspace(tmp_path / "ws", TRAIN.replace("SLEEP = 0", "SLEEP = 30").replace(
        'if SLEEP and os.path.exists("sleep.flag"):', 'if SLEEP and os.path.exists("sleep.flag") and SEED == 2:'))
    engine_for(tmp_path, ws, [], hypotheses=1)  # the hypothesis
    script = write_script(tmp_path, draft("SCORE = 0.5", "SCORE = 0.6", "Raise to 0.6"))
    process = subprocess.Popen([sys.executable, "-c", SEARCH, str(ws), str(script)],
                               env={**os.environ, "PYTHONPATH": str(SERVER)}, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)

    def two_seed_2_runs_in_flight() -> bool:
        assert process.poll() is None, "the search ended before it was killed"
        return len([r for r in Engine.load(ws).runs() if r.command.endswith("--seed 2") and r.status == "running"]) == 2

    try:
        wait_for(two_seed_2_runs_in_flight, 120)
        time.sleep(1)  # both have started and sleep
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    (ws / "sleep.flag").unlink()
    killed = store.load(ws, store.latest_session(ws))
    assert [(m.label, [r.seed for r in m.runs]) for m in killed.measured] == [("baseline", [0, 1]), ("best", [0, 1])]
    before = {r.id: r.command for r in measuring(Engine.load(ws).runs())}

    resumed = search(Engine.load(ws, settings(write_script(tmp_path, []), maxNodes=1, seeds=3, initialDrafts=1)),
                     resume=True)
    after = measuring(Engine.load(ws).runs())
    new = [r for r in after if r.id not in before]
    # only seed 2 of the baseline and of the node ran again, once each; the final evaluation only if
    # it had not ended (the runs enter the queue in the order their threads reach it)
    owed = [(m.commit, "python train.py --seed 2") for m in resumed.measured]
    if killed.final is None:
        owed.append((resumed.nodes[0].commit, "python train.py --final"))
    assert sorted((r.commit, r.command) for r in new) == sorted(owed)
    assert all(r.status == "passed" for r in new)
    for before_run, m in zip(killed.measured, resumed.measured, strict=True):
        assert m.runs[:2] == before_run.runs and m.runs[2].run in {r.id for r in new}
    assert resumed.final is not None and resumed.final.value == pytest.approx(0.55)
    assert killed.final is None or resumed.final == killed.final
    (_, _, base_mean, _), (_, _, best_mean, best_se) = figures(resumed)
    assert base_mean == pytest.approx(0.51) and best_mean == pytest.approx(0.61)
    assert best_se == pytest.approx(0.01 / 3 ** 0.5)
