"""The autonomous mode's hypotheses at once: their runs overlap as the run queue's slots
allow (run.parallel), while the steps that check a branch out, ask the LLM and commit take
one turn at a time. Real git, local runs, the scripted LLM behind a wrapper that times each
call and holds it a moment, so calls that could overlap would.

The task: train.py scores by its MODE. Hypothesis 1 sets MODE "a" (it passes); hypothesis 2
sets MODE "b", which has no score yet (its run fails) until the fix gives it one. A run of
"a" lasts until a run of the fixed "b" has ended, or WAIT seconds: on two slots it ends as
soon as the other hypothesis has been implemented, run, fixed and run again beside it."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from pathlib import Path

from mlr_copilot.autonomous.bundled import paper_from_task
from mlr_copilot.autonomous.demo import demo_files
from mlr_copilot.autonomous.pipeline import Ask, AutoPipeline
from mlr_copilot.autonomous.session import AutoState, render_report
from mlr_copilot.engine import Engine
from mlr_copilot.history.store import load_runs
from mlr_copilot.runners.proctree import marked_processes
from mlr_copilot.taskfile import load_task
from mlr_copilot.work import Work
from tests.gitutil import git, make_repo

TASK = """\
name = "parallel-probe"
title = "Score a mode"
kind = "offline"
description = "Raise the score that train.py writes to results.json."
command = "python train.py"

[metric]
name = "score"
direction = "maximize"
"""

TRAIN = """\
import json, time
MODE = "base"
SCORES = {{"base": 0.5, "a": 0.6}}
SPANS = {spans!r}


def spans():
    try:
        with open(SPANS) as found:
            return [json.loads(line) for line in found if line.strip()]
    except FileNotFoundError:
        return []


started = time.time()
if MODE == "a":
    while time.time() < started + {wait} and not any(s["mode"] == "b" and s["score"] for s in spans()):
        time.sleep(0.05)
else:
    time.sleep(0.3)
with open(SPANS, "a") as out:
    out.write(json.dumps({{"mode": MODE, "start": started, "end": time.time(), "score": SCORES.get(MODE)}}) + "\\n")
with open("results.json", "w") as out:
    json.dump({{"score": SCORES[MODE]}}, out)
"""


def step(mode: str) -> str:
    return (f"SUMMARY: Score with mode {mode}\nWHY: The plan asks for it.\n\ntrain.py\n<<<<<<< SEARCH\nMODE = \"base\"\n"
            f"=======\nMODE = \"{mode}\"\n>>>>>>> REPLACE\n")


FIX = ("SUMMARY: Give mode b its score\nWHY: SCORES has no entry for it, hence the KeyError.\n\ntrain.py\n"
       "<<<<<<< SEARCH\nSCORES = {\"base\": 0.5, \"a\": 0.6}\n=======\nSCORES = {\"base\": 0.5, \"a\": 0.6, \"b\": 0.8}\n"
       ">>>>>>> REPLACE\n")
DONE = "DONE: the plan is implemented."


def write_script(path: Path, *, ideas: bool = True, steps: bool = True, fix: bool = True) -> Path:
    """The demo's ideas (three hypotheses; without their checks of the demo paper's text),
    then the first hypothesis's implementation (mode a), the second's (mode b) and b's fix."""
    records = []
    for line in demo_files()[1].read_text().splitlines():
        record = json.loads(line)
        if ideas and record["call"].startswith("ideas."):
            record.pop("expect", None)
            records.append(record)
    texts = [step("a"), DONE, step("b"), DONE] if steps else []
    records += [{"call": "implement.step", "response": text} for text in texts]
    records += [{"call": "debug.fix", "response": FIX}] if fix else []
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


class Timed:
    """A provider whose calls are held a moment and timed, with how many were under way at once."""

    def __init__(self, inner):
        self.inner, self.name, self.model = inner, inner.name, inner.model
        self.calls: list[tuple[str, float, float]] = []
        self.under_way = 0
        self.most_at_once = 0

    async def complete(self, messages, **kwargs):
        self.under_way += 1
        self.most_at_once = max(self.most_at_once, self.under_way)
        started = time.time()
        try:
            await asyncio.sleep(0.1)
            return await self.inner.complete(messages, **kwargs)
        finally:
            self.under_way -= 1
            self.calls.append((kwargs["call"], started, time.time()))


def workspace(tmp_path: Path, wait: float) -> tuple[Path, Path]:
    spans = tmp_path / "spans.jsonl"
    ws = make_repo(tmp_path / "ws", {"task.toml": TASK, "train.py": TRAIN.format(spans=str(spans), wait=wait),
                                     ".gitignore": "results.json\n"})
    return ws, spans


def session(ws: Path, script: Path, parallel: int, work: Work, *, resume: bool = False,
            ask: Ask | None = None, budget_tokens: int | None = None) -> tuple[AutoState, Timed]:
    llm = {"provider": "scripted", "script": str(script), "budget_tokens": budget_tokens}
    engine = Engine.load(ws, {"llm": llm, "ideas": {"online": False}, "run": {"runner": "local", "parallel": parallel}})
    timed = Timed(engine.llm.provider)
    engine.llm.provider = timed
    source = None if resume else paper_from_task(load_task(ws))
    state = asyncio.run(AutoPipeline(engine, ask=ask).run(source, work, wanted=None if resume else 2, resume=resume))
    return state, timed


def read_spans(spans: Path) -> list[dict]:
    return [json.loads(line) for line in spans.read_text().splitlines()] if spans.is_file() else []


def overlap(one: dict, other: dict) -> bool:
    return one["start"] < other["end"] and other["start"] < one["end"]


def assert_llm_calls_one_at_a_time(timed: Timed) -> None:
    calls = sorted(timed.calls, key=lambda c: c[1])
    assert timed.most_at_once == 1, calls
    assert all(earlier[2] <= later[1] for earlier, later in itertools.pairwise(calls)), calls


def test_two_slots_run_the_hypotheses_at_once_and_fix_one_while_the_other_runs(tmp_path):
    ws, spans = workspace(tmp_path, wait=60)
    percentages: list[int] = []
    work = Work(report=lambda message, percentage=None: percentages.append(percentage) if percentage is not None else None)
    started = time.monotonic()
    state, timed = session(ws, write_script(tmp_path / "script.jsonl"), 2, work)
    took = time.monotonic() - started

    assert state.status == "done", state.message
    assert [h.status for h in state.hypotheses] == ["done", "done"]
    assert sorted(h.best.value for h in state.hypotheses if h.best) == [0.6, 0.8]
    seen = read_spans(spans)
    [a] = [s for s in seen if s["mode"] == "a"]
    failing, fixed = [s for s in seen if s["mode"] == "b"]
    assert failing["score"] is None and fixed["score"] == 0.8
    # a's run lasted until b was implemented, run, fixed and run again beside it: never its WAIT
    assert overlap(a, failing) and overlap(a, fixed) and a["end"] - a["start"] < 50 and took < 50
    [fix] = [c for c in timed.calls if c[0] == "debug.fix"]
    assert a["start"] < fix[1] and fix[2] < a["end"], "the fix was not asked for while the other hypothesis ran"
    assert_llm_calls_one_at_a_time(timed)
    assert git(ws, "branch", "--show-current").strip() == "main"
    assert git(ws, "status", "--porcelain", "--untracked-files=no") == ""
    assert percentages == sorted(percentages) and percentages[-1] == 100
    # each run is of the commit its branch had, and is its hypothesis's
    records = [r for r in load_runs(ws) if not r.baseline]
    by_hypothesis = {h.id: {r.run for r in h.runs} for h in state.hypotheses}
    assert {r.id for r in records} == set().union(*by_hypothesis.values()) and len(records) == 3
    for result in state.hypotheses:
        assert {r.hypothesis for r in records if r.id in by_hypothesis[result.id]} == {result.id}
        assert {r.commit for r in records if r.id in by_hypothesis[result.id]} <= set(result.commits)


def test_one_slot_runs_the_hypotheses_one_after_another(tmp_path):
    ws, spans = workspace(tmp_path, wait=1.0)
    state, timed = session(ws, write_script(tmp_path / "script.jsonl"), 1, Work())

    assert state.status == "done", state.message
    assert [h.status for h in state.hypotheses] == ["done", "done"]
    seen = sorted(read_spans(spans), key=lambda s: s["start"])
    assert [s["mode"] for s in seen] == ["base", "a", "b", "b"]
    assert all(earlier["end"] <= later["start"] for earlier, later in itertools.pairwise(seen)), seen
    assert_llm_calls_one_at_a_time(timed)
    assert git(ws, "branch", "--show-current").strip() == "main"


def live(ws: Path) -> set[int]:
    return set().union(*(marked_processes(r.id) for r in load_runs(ws)))


def test_a_cancel_stops_every_run_and_resume_runs_nothing_twice(tmp_path):
    parallel = 2
    ws, spans = workspace(tmp_path, wait=60)
    work = Work()

    def cancel_once_b_failed() -> None:
        # b's failing run is recorded while a's run waits for the fixed b: cancel then
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not work.cancel.is_set():
            if any(r.status == "failed" for r in load_runs(ws)) and any(r.status == "running" for r in load_runs(ws)):
                work.cancel.set()
            time.sleep(0.02)

    watcher = threading.Thread(target=cancel_once_b_failed, daemon=True)
    watcher.start()
    state, _ = session(ws, write_script(tmp_path / "script.jsonl"), parallel, work)
    watcher.join()

    assert state.status == "cancelled" and "auto --resume" in state.message
    assert {h.status for h in state.hypotheses} == {"implemented"}
    assert [r for r in load_runs(ws) if r.status == "running"] == []
    assert live(ws) == set(), "an experiment outlived its cancelled session"
    assert git(ws, "branch", "--show-current").strip() == "main"
    finished = {r.id for r in load_runs(ws) if r.status in ("passed", "failed")}
    assert len(finished) == 2  # the baseline and b's failing run

    rest = write_script(tmp_path / "rest.jsonl", ideas=False, steps=False)
    resumed, timed = session(ws, rest, parallel, Work(), resume=True)

    assert resumed.status == "done", resumed.message
    assert sorted(h.best.value for h in resumed.hypotheses if h.best) == [0.6, 0.8]
    # the baseline and b's failing run were not made again: b's fix was asked from the recorded one
    seen = read_spans(spans)
    assert sum(s["mode"] == "base" for s in seen) == 1 and sum(s["mode"] == "b" and s["score"] is None for s in seen) == 1
    assert [c[0] for c in timed.calls] in (["debug.fix"], [])  # none when the fix was committed before the cancel
    after = load_runs(ws)
    assert finished <= {r.id for r in after}
    assert sum(r.status == "passed" and r.baseline for r in after) == 1
    failed = [r for r in after if r.status == "failed"]
    assert len(failed) == 1 and any(failed[0].id in {r.run for r in h.runs} for h in resumed.hypotheses)
    assert live(ws) == set() and git(ws, "branch", "--show-current").strip() == "main"


def test_a_hypothesis_that_fails_stops_the_others_as_a_cancel_would(tmp_path):
    ws, _spans = workspace(tmp_path, wait=60)
    script = write_script(tmp_path / "script.jsonl", fix=False)
    # the replies run out at the second hypothesis's implementation, while the first's run waits
    script.write_text("".join(line + "\n" for line in script.read_text().splitlines()[:-2]))
    started = time.monotonic()
    state, _ = session(ws, script, 2, Work())

    assert state.status == "failed" and "no reply left for call 'implement.step'" in state.message
    assert time.monotonic() - started < 40, "the first hypothesis's run went on to its end"
    assert [r.status for r in load_runs(ws) if not r.baseline] == ["cancelled"]
    assert live(ws) == set() and git(ws, "branch", "--show-current").strip() == "main"
    assert state.hypotheses[0].status == "implemented"  # resumable


def test_asked_after_each_step_the_hypotheses_go_one_after_another_even_on_two_slots(tmp_path):
    ws, spans = workspace(tmp_path, wait=1.0)
    asked: list[str] = []

    async def ask(phase: str, summary: str) -> str:
        asked.append(f"{phase} {summary.split(':')[0]}")
        return ""

    state, timed = session(ws, write_script(tmp_path / "script.jsonl"), 2, Work(), ask=ask)

    assert state.status == "done", state.message
    first, second = (h.id for h in state.hypotheses)
    assert asked == [f"ideas {first}", f"implement {first}", f"run {first}", f"implement {second}", f"run {second}"]
    seen = sorted(read_spans(spans), key=lambda s: s["start"])
    assert [s["mode"] for s in seen] == ["base", "a", "b", "b"]
    assert all(earlier["end"] <= later["start"] for earlier, later in itertools.pairwise(seen)), seen
    assert_llm_calls_one_at_a_time(timed)
    assert git(ws, "branch", "--show-current").strip() == "main"


def test_the_budget_spent_stops_the_llm_steps_and_lets_the_runs_end(tmp_path):
    ws, spans = workspace(tmp_path, wait=2.0)
    script = write_script(tmp_path / "script.jsonl")
    # every reply costs 100 tokens: the ideas (3 calls) and the first implementation (2) spend the 500
    script.write_text("".join(json.dumps({**json.loads(line), "usage": {"input_tokens": 90, "output_tokens": 10}}) + "\n"
                              for line in script.read_text().splitlines()))
    state, timed = session(ws, script, 2, Work(), budget_tokens=500)

    assert state.status == "budget" and "500-token budget" in state.message
    first, second = state.hypotheses
    assert first.status == "done" and first.best is not None and first.best.value == 0.6  # its run went on to its end
    assert second.status == "pending" and not second.runs
    assert [c[0] for c in timed.calls].count("implement.step") == 2
    assert "Not done: " + f"{second.id} implementation and runs" in render_report(state)
    assert [s["mode"] for s in read_spans(spans)] == ["base", "a"]
    assert git(ws, "branch", "--show-current").strip() == "main"
