"""Run set-up in one place (`run_setup`): which objective judges a run and what a run executes,
as the engine's commands and the autonomous mode both read them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from mlr_copilot.autonomous.pipeline import session_objective
from mlr_copilot.config import RunSettings
from mlr_copilot.engine import Engine
from mlr_copilot.errors import MlrError
from mlr_copilot.ideas.model import ExperimentPlan, Hypothesis
from mlr_copilot.objective import Objective
from mlr_copilot.run_setup import DEFAULT_COMMAND, run_command, run_objective, run_request
from mlr_copilot.work import Work
from tests.gitutil import make_repo

TASK = """name = "t"
title = "A task"
kind = "offline"
description = "Lower the loss."
command = "python fit.py"

[metric]
name = "loss"
direction = "minimize"
"""


@pytest.fixture
def task(tmp_path: Path) -> Path:
    (tmp_path / "task.toml").write_text(TASK)
    return tmp_path


def hypothesis(metric: str = "plan_f1", command: str | None = None) -> Hypothesis:
    plan = ExperimentPlan(dataset="d", model="m", baseline="b", metric=metric, direction="maximize", steps=["s"],
                          expected_improvement="+1%", command=command)
    return Hypothesis(id="h1", paper="p", rank=1, title="t", problem="p", method="m", rationale="r", plan=plan)


def test_the_setting_comes_first_then_the_plan_then_the_task(task):
    assert run_objective("acc", None, task, hypothesis()) == Objective("acc", "maximize")
    assert run_objective(None, None, task, hypothesis()) == Objective("plan_f1", "maximize")
    assert run_objective(None, None, task) == Objective("loss", "minimize")
    assert run_objective(None, None, task.parent / "elsewhere") is None


def test_the_direction_setting_wins_and_the_tasks_direction_goes_with_the_tasks_metric(task):
    assert run_objective("loss", None, task) == Objective("loss", "minimize")
    assert run_objective(None, "maximize", task) == Objective("loss", "maximize")
    assert run_objective("acc", "minimize", task) == Objective("acc", "minimize")


def test_the_command_comes_from_the_setting_the_plan_the_task_or_the_default(task, tmp_path):
    assert run_command(RunSettings(command="make"), task, hypothesis(command="python plan.py")) == "make"
    assert run_command(RunSettings(), task, hypothesis(command="python plan.py")) == "python plan.py"
    assert run_command(RunSettings(), task, hypothesis()) == "python fit.py"
    assert run_command(RunSettings(), tmp_path / "none") == DEFAULT_COMMAND


def test_a_run_request_carries_the_run_settings_and_an_explicit_command_over_all(task):
    request = run_request(RunSettings(memory_mb=512, timeout=30, network=True), task, ["python", "x.py"], timeout=5)
    assert request.command == ["python", "x.py"] and request.timeout == 5
    assert (request.memory_mb, request.network, request.workspace) == (512, True, str(task))


def test_the_autonomous_mode_judges_on_the_tasks_metric_or_needs_a_command_and_a_metric(task, tmp_path):
    assert session_objective(RunSettings(), task) == Objective("loss", "minimize")
    assert session_objective(RunSettings(metric="acc", command="python x.py"), tmp_path / "none") == Objective("acc")
    with pytest.raises(MlrError, match="the autonomous mode needs one"):
        session_objective(RunSettings(metric="acc"), tmp_path / "none")


FIT = "import json\njson.dump({'loss': 0.5, 'accuracy': 0.9}, open('results.json', 'w'))\n"


def test_an_objective_given_with_a_run_judges_that_run_and_leaves_the_engines_settings(tmp_path):
    ws = make_repo(tmp_path / "ws", {"task.toml": TASK, "fit.py": FIT, ".gitignore": ".mlr/\n"})
    engine = Engine.load(ws, {"run": {"runner": "local", "timeout": 60}})
    # as a search passes its session's objective with each of its runs
    session = asyncio.run(engine.run(Work(), objective=Objective("accuracy", "maximize")))
    later = asyncio.run(engine.run(Work()))
    assert (session.primary_metric, session.direction, session.primary_value) == ("accuracy", "maximize", 0.9)
    assert (later.primary_metric, later.direction, later.primary_value) == ("loss", "minimize", 0.5)
    assert engine.objective() == Objective("loss", "minimize")  # the task's, for every later command
