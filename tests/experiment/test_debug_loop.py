"""The debug loop (run → fix → run) on a real git repository with a scripted LLM and the
local runner: it stops at the attempt cap, stops at the first passing run, and reports the
attempts and the last run either way."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from mlr_copilot.config import validate_settings
from mlr_copilot.engine import Engine
from mlr_copilot.experiment.change import Review
from mlr_copilot.experiment.debug import DebugReport
from mlr_copilot.work import Work

from ..gitutil import git, make_repo

BROKEN = "import json\n\nSCORE = 0.5\nraise RuntimeError('broken on purpose')\njson.dump({'accuracy': SCORE}, open('results.json', 'w'))\n"


def fix_reply(search: str, replace: str, summary: str) -> dict:
    return {"call": "debug.fix", "response": (f"SUMMARY: {summary}\nWHY: the run failed.\n\ntrain.py\n<<<<<<< SEARCH\n"
                                              f"{search}\n=======\n{replace}\n>>>>>>> REPLACE\n")}


def engine_for(workspace: Path, replies: list[dict]) -> Engine:
    script = workspace.parent / "script.jsonl"
    script.write_text("".join(json.dumps(r) + "\n" for r in replies))
    settings, warnings = validate_settings({"llm": {"provider": "scripted", "script": str(script)},
                                           "run": {"runner": "local", "metric": "accuracy", "timeout": 60}})
    assert warnings == []
    return Engine(workspace, settings)


async def accept(proposal: object) -> Review:
    return Review(True)


def debug(engine: Engine, attempts: int) -> DebugReport:
    return asyncio.run(engine.debug(accept, Work(), max_attempts=attempts))


def test_the_loop_stops_at_the_cap_with_every_attempt_reported(tmp_path):
    workspace = make_repo(tmp_path / "ws", {"train.py": BROKEN})
    # two fixes that change the score but leave the failure in place
    engine = engine_for(workspace, [fix_reply("SCORE = 0.5", "SCORE = 0.6", "Raise the score"),
                                    fix_reply("SCORE = 0.6", "SCORE = 0.7", "Raise it more")])
    report = debug(engine, attempts=2)
    assert report.status == "gave-up" and report.message == "the run still fails after 2 fix attempt(s)"
    assert [a.accepted for a in report.attempts] == [True, True, None]
    assert all(a.status == "failed" for a in report.attempts)
    assert report.final_run is not None and report.final_run.id == report.attempts[-1].run_id
    assert len(engine.runs()) == 3  # the first run and one after each committed fix, no more
    assert git(workspace, "log", "--format=%s").splitlines() == ["Raise it more", "Raise the score", "initial"]
    assert engine.llm.provider.remaining() == {}


def test_the_loop_stops_at_the_first_passing_run_and_keeps_it(tmp_path):
    workspace = make_repo(tmp_path / "ws", {"train.py": BROKEN})
    engine = engine_for(workspace, [fix_reply("SCORE = 0.5\nraise RuntimeError('broken on purpose')", "SCORE = 0.5", "Remove the raise")])
    report = debug(engine, attempts=3)
    assert report.status == "passed" and len(report.attempts) == 1 and report.attempts[0].accepted
    assert report.final_run is not None and report.final_run.status == "passed"
    assert report.final_run.metrics == {"accuracy": 0.5} and report.final_run.primary_value == 0.5
    assert report.final_run.commit == git(workspace, "rev-parse", "HEAD").strip()


def test_a_rejected_fix_ends_the_loop_with_its_reason_and_commits_nothing(tmp_path):
    workspace = make_repo(tmp_path / "ws", {"train.py": BROKEN})
    engine = engine_for(workspace, [fix_reply("SCORE = 0.5", "SCORE = 0.6", "Raise the score")])

    async def refuse(proposal: object) -> Review:
        return Review(False, "not that")

    report = asyncio.run(engine.debug(refuse, Work(), max_attempts=3))
    assert report.status == "rejected" and report.message == "the fix was rejected: not that"
    assert git(workspace, "log", "--format=%s").splitlines() == ["initial"]
    assert len(engine.runs()) == 1
