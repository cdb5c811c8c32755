"""`mlr-copilot demo`: the whole loop on a bundled paper and task with recorded LLM replies,
so it runs on a fresh machine with no API key and no network.

The replies in `workspaces/demo/script.jsonl` implement the first hypothesis with a planted
mistake (the test texts refit the vectorizer), which the debug loop then fixes.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from ..engine import Engine
from ..errors import MlrError
from ..taskfile import bundled_tasks_root
from ..work import Work
from .bundled import bundled_task, copy_task
from .pipeline import AutoPipeline
from .session import AutoState

DEMO_TASK = "review-sentiment"


def demo_files() -> tuple[Path, Path]:
    """The demo task's paper and the recorded replies that go with it."""
    paper = bundled_task(DEMO_TASK).paper_path
    if paper is None:
        raise MlrError(f"the bundled task {DEMO_TASK} names no paper: the demo starts from one")
    return paper, bundled_tasks_root() / "demo" / "script.jsonl"


def prepare(target: Path | None) -> Path:
    target = Path(target) if target else Path(tempfile.mkdtemp(prefix="mlr-demo-"))
    return copy_task(bundled_task(DEMO_TASK), target)


def demo_settings(runner: str | None = None) -> dict[str, Any]:
    _paper, script = demo_files()
    layer: dict[str, Any] = {"llm": {"provider": "scripted", "script": str(script)}, "ideas": {"hypotheses": 3, "online": False}}
    if runner:
        layer["run"] = {"runner": runner}
    return layer


async def run_demo(target: Path, work: Work, runner: str | None = None) -> tuple[Engine, AutoState]:
    engine = Engine.load(target, demo_settings(runner))
    state = await AutoPipeline(engine).run(target / "paper.pdf", work, wanted=1)
    return engine, state
