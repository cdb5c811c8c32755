"""The files a debugging fix shows the LLM come from the failed run's traceback, which the
experiment's own code prints: only the workspace's regular files the agent may read are sent."""

from __future__ import annotations

import os

from mlr_copilot.experiment.debug import _involved
from mlr_copilot.experiment.promptfiles import files_text
from mlr_copilot.runners.model import Failure, RunRecord


def record_failing_at(*paths: str) -> RunRecord:
    return RunRecord(id="r1", command="python train.py", runner="local", started_at="2026-12-02T00:00:00Z",
                     status="failed", failures=[Failure(path=p, line=1, kind="exception", message="boom") for p in paths])


def test_a_forged_traceback_never_sends_secrets_git_state_or_a_fifo(tmp_path):
    (tmp_path / "train.py").write_text("raise ValueError('boom')\n")
    (tmp_path / ".env").write_text("OPENAI_API_KEY=sk-never-sent\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text("[core]\n")
    os.mkfifo(tmp_path / "pipe.py")
    involved = _involved(record_failing_at(".env", ".git/config", "pipe.py", "../etc/passwd"), "train.py")
    shown = files_text(tmp_path, involved, note_unreadable=False)
    assert shown == "## train.py\n```\nraise ValueError('boom')\n\n```"
