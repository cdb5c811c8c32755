"""A tiny task for the search: `train.py` reports `score = SCORE + SEED / 100` (so seeded
re-runs differ), fails while `BROKEN = True`, and sleeps while `SLEEP` is set and a file
`sleep.flag` exists; scripted replies change those constants. Hypotheses h1.. are saved
accepted, so no ideas call is needed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from mlr_copilot.engine import Engine
from mlr_copilot.ideas.model import Analysis, ExperimentPlan, Hypothesis, IdeasRun
from mlr_copilot.llm.scripted import ScriptedProvider
from mlr_copilot.search.loop import Search
from mlr_copilot.search.model import Journal
from mlr_copilot.work import Work
from tests.gitutil import make_repo

TRAIN = """\
import json
import os
import sys
import time

SCORE = 0.5
BROKEN = False
SLEEP = 0
SEED = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 0
FINAL = "--final" in sys.argv

if SLEEP and os.path.exists("sleep.flag"):
    time.sleep(SLEEP)
if BROKEN:
    raise RuntimeError("broken on purpose")
value = SCORE + SEED / 100 - (0.05 if FINAL else 0)
json.dump({"score": value}, open("results.json", "w"))
print(f"METRIC score={value}")
"""

TASK = """\
name = "toy"
title = "A toy score"
kind = "offline"
description = "Raise the score."
command = "python train.py"
{extra}
[metric]
name = "score"
direction = "maximize"
"""


def edit(search: str, replace: str, summary: str, path: str = "train.py") -> str:
    return (f"SUMMARY: {summary}\nWHY: it should help.\n\n{path}\n<<<<<<< SEARCH\n{search}\n=======\n"
            f"{replace}\n>>>>>>> REPLACE\n")


def draft(search: str, replace: str, summary: str) -> list[dict[str, Any]]:
    """One implementation: a committed edit, then DONE."""
    return [{"call": "implement.step", "response": edit(search, replace, summary)},
            {"call": "implement.step", "response": f"DONE: {summary}"}]


def improve(search: str, replace: str, summary: str, *expect: str) -> dict[str, Any]:
    return {"call": "search.improve", "response": edit(search, replace, summary), "expect": list(expect)}


def fix(search: str, replace: str, summary: str) -> dict[str, Any]:
    return {"call": "debug.fix", "response": edit(search, replace, summary)}


def reflect(text: str) -> dict[str, Any]:
    return {"call": "search.reflect", "response": text}


def workspace(tmp_path: Path, final_command: str | None = None) -> Path:
    extra = f'final_command = "{final_command}"\n' if final_command else ""
    return make_repo(tmp_path / "ws", {"train.py": TRAIN, "task.toml": TASK.format(extra=extra),
                                       ".gitignore": "results.json\nsleep.flag\n"})


def settings(script: Path, **search: Any) -> dict[str, Any]:
    return {"llm": {"provider": "scripted", "script": str(script)}, "ideas": {"online": False},
            "run": {"runner": "local", "timeout": 60},
            "search": {"initialDrafts": 2, "reflectEvery": 0, "seeds": 2, "maxNodes": 6, **search}}


def write_script(tmp_path: Path, records: list[dict[str, Any]]) -> Path:
    script = tmp_path / f"script-{len(list(tmp_path.glob('script-*')))}.jsonl"
    script.write_text("".join(json.dumps(r) + "\n" for r in records))
    return script


def engine_for(tmp_path: Path, ws: Path, records: list[dict[str, Any]], hypotheses: int = 2, **search: Any) -> Engine:
    engine = Engine.load(ws, settings(write_script(tmp_path, records), **search))
    assert engine.warnings == []
    save_hypotheses(engine, hypotheses)
    return engine


def save_hypotheses(engine: Engine, count: int) -> None:
    plan = ExperimentPlan(dataset="toy", model="toy", baseline="0.5", metric="score", direction="maximize",
                          steps=["raise the score"], expected_improvement="+10%")
    hypotheses = [Hypothesis(id=f"h{n}", paper="toy", rank=n, status="accepted", title=f"Idea {n}", problem="Low score.",
                             method="Raise it.", rationale="Because.", plan=plan) for n in range(1, count + 1)]
    engine.ideas.store.save(IdeasRun(paper_path="toy", paper_slug="toy", paper_title="Toy", hypotheses=hypotheses,
                                     analysis=Analysis(task="Raise a score.", gaps=["g"], keywords=["toy"])))


def search(engine: Engine, resume: bool = False, hypotheses: int | None = None) -> Journal:
    return asyncio.run(Search(engine, Work()).run(hypotheses=hypotheses, resume=resume))


def sent_prompts(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[Any]]]:
    """Each prompt the scripted model is sent from now on, with its call name, in order."""
    sent: list[tuple[str, list[Any]]] = []
    complete = ScriptedProvider.complete

    async def spy(self: ScriptedProvider, messages: Any, **kwargs: Any) -> Any:
        sent.append((kwargs["call"], list(messages)))
        return await complete(self, messages, **kwargs)

    monkeypatch.setattr(ScriptedProvider, "complete", spy)
    return sent


def search_process_code(**search: Any) -> str:
    """A search as its own process (`python -c CODE WORKSPACE SCRIPT`), on 2 local slots, that
    a test can kill -9: `search` are its settings (camelCase, as the user gives them)."""
    return f"""
import asyncio, sys
from mlr_copilot.engine import Engine
from mlr_copilot.search.loop import Search
from mlr_copilot.work import Work
engine = Engine.load(sys.argv[1], {{"llm": {{"provider": "scripted", "script": sys.argv[2]}}, "ideas": {{"online": False}},
                                   "run": {{"runner": "local", "timeout": 120, "parallel": 2}},
                                   "search": {search!r}}})
asyncio.run(Search(engine, Work()).run())
"""
