"""A search's runs (`search/execute.run_node`) carry what the session read once when it opened
(`SessionRuns`): its objective, whatever the engine's settings would name, and its command. No
run reads task.toml or asks git which hypothesis is checked out."""

from __future__ import annotations

import asyncio
import subprocess

import pytest

from mlr_copilot import run_setup
from mlr_copilot.objective import Objective
from mlr_copilot.search.execute import SessionRuns, run_node
from mlr_copilot.work import Work
from tests.gitutil import git

from .helpers import engine_for, workspace


def test_a_node_run_is_judged_by_the_session_and_reads_neither_the_task_nor_the_checkout(tmp_path, monkeypatch):
    ws = workspace(tmp_path)
    engine = engine_for(tmp_path, ws, [])
    h1 = engine.hypotheses()[0]
    git(ws, "checkout", "-q", "-b", h1.branch)  # a checked-out hypothesis would name the command and objective
    base = git(ws, "rev-parse", "HEAD").strip()
    runs = SessionRuns.of(engine, Objective("score", "minimize"))  # a session judged otherwise than the task
    assert runs.command == "python train.py"

    asked: list[str] = []
    real_run, real_task = subprocess.run, run_setup.workspace_task

    def counted(args, *rest, **kwargs):  # type: ignore[no-untyped-def]
        if isinstance(args, list) and "status" in args:
            asked.append("git status")
        return real_run(args, *rest, **kwargs)

    def task_read(*args, **kwargs):  # type: ignore[no-untyped-def]
        asked.append("task.toml")
        return real_task(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(subprocess, "run", counted)
        patch.setattr(run_setup, "workspace_task", task_read)
        record = asyncio.run(run_node(engine, Work(), runs, commit=base, seed=1))
    assert asked == []
    assert (record.status, record.command, record.primary_metric, record.direction) == (
        "passed", "python train.py --seed 1", "score", "minimize")
    assert engine.objective() == Objective("score", "maximize")  # the engine's own: the task's
