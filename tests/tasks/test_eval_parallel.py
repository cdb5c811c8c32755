"""`eval --runs K` runs its attempts concurrently, at most `run.parallel` at once: a bundled
offline task, the scripted LLM, real local runs."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from mlr_copilot.autonomous.demo import demo_files
from mlr_copilot.autonomous.evaluation import Evaluation, evaluate, pick_tasks, render
from mlr_copilot.runners.queue import queue_status
from mlr_copilot.work import Work

# what may differ between two attempts replaying the same script: which, where and when
PLACE_AND_TIME = {"attempt", "workspace", "best_run", "best_commit", "seconds", "compute_seconds", "slot", "started_at",
                  "finished_at"}
# four attempts of a real task (about a minute each on a loaded 2-core machine)
pytestmark = pytest.mark.tasks
# run ids, commits and figures (timings) differ from attempt to attempt; the story does not
VARYING = re.compile(r"[0-9a-f]{6,}|\d+(\.\d+)?")


def evaluation(workdir: Path, parallel: int, runs: int = 3) -> tuple[Evaluation, list[str]]:
    layer = {"llm": {"provider": "scripted", "script": str(demo_files()[1])},
             "run": {"runner": "local", "parallel": parallel}, "ideas": {"online": False}}
    said: list[str] = []
    work = Work(report=lambda message, percentage=None: said.append(message))
    return asyncio.run(evaluate(pick_tasks(["review-sentiment"]), runs, workdir, layer, work)), said


def test_attempts_overlap_on_two_slots_and_score_as_they_do_one_at_a_time(tmp_path: Path):
    together, said = evaluation(tmp_path / "two", parallel=2)
    alone, _ = evaluation(tmp_path / "one", parallel=1, runs=1)

    assert [a.attempt for a in together.attempts] == [1, 2, 3]  # the report's order, however they ran
    spans = sorted((a.started_at, a.finished_at) for a in together.attempts)
    assert all(start is not None and end is not None for start, end in spans)
    assert spans[1][0] < spans[0][1], f"attempts 1 and 2 did not overlap: {spans}"
    # never more than two at once: the third began only after one of the first two ended
    assert spans[2][0] >= min(spans[0][1], spans[1][1])
    assert {a.slot for a in together.attempts} == {0, 1}
    assert [a.slot for a in alone.attempts] == [0]

    # the same script replayed: each overlapping attempt scores as the one alone did
    [single] = [a.model_dump(exclude=PLACE_AND_TIME) for a in alone.attempts]
    assert [a.model_dump(exclude=PLACE_AND_TIME) for a in together.attempts] == [single] * 3
    summary, single_summary = together.tasks[0], alone.tasks[0]
    assert (summary.successes, summary.success_rate, summary.mean_tokens) == (3, 1.0, single_summary.mean_tokens)
    assert summary.mean_improvement == pytest.approx(single_summary.mean_improvement)
    assert len({a.workspace for a in together.attempts}) == 3

    # each line says which attempt it is from; each attempt tells the same story
    for number in (1, 2, 3):
        assert f"review-sentiment #{number}: attempt {number} of 3 in slot" in "\n".join(said)
    mine = [[VARYING.sub("#", line.split(": ", 1)[1]) for line in said if line.startswith(f"review-sentiment #{n}: ")]
            for n in (1, 2, 3)]
    assert len(mine[0]) > 5 and mine[0] == mine[1] == mine[2]
    reported = [line.split(":")[0] for line in render(together).splitlines() if line.startswith("  review-sentiment #")]
    assert reported == ["  review-sentiment #1", "  review-sentiment #2", "  review-sentiment #3"]
    assert {e.run_id: e.state for e in queue_status(tmp_path / "two")} == {
        f"review-sentiment-attempt-{n}": "finished" for n in (1, 2, 3)}
