"""kill -9 of `implement --yes` and of `auto` between writing an accepted change and committing
it: the next `implement` / `auto --resume` settles the half-applied change itself (no "tracked
files have uncommitted changes", no git by hand) and leaves the user's own files alone.

The process is held at that point by a lock on its branch's ref, as another git process would
hold it: its commit waits for the lock (up to 10 s) with the change on disk and its record
under `.mlr/txn/`, which is when the test kills it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from mlr_copilot.autonomous.bundled import bundled_task, copy_task
from tests.cli.test_cli import ENV, cli, no_traceback, split_script
from tests.experiment.test_agent import MODEL, TRAIN, UTILS, edit, engine_for, reply
from tests.gitutil import git, git_processes_in, make_repo, status

MINE = "my own notes, in no commit\n"


def kill_when_half_applied(args: list[str], workspace: Path, changed: Path, before: str) -> None:
    """Run the CLI, and kill -9 it once its change is on disk and recorded but not committed."""
    process = subprocess.Popen([sys.executable, "-m", "mlr_copilot.cli", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=ENV, start_new_session=True)
    deadline = time.monotonic() + 240
    try:
        # killed between two tries of its commit, as a kill of a git command itself is git's to recover from
        while not (list(workspace.glob(".mlr/txn/*.json")) and changed.read_text() != before
                   and not git_processes_in(workspace)):
            assert process.poll() is None, f"it ended before the commit: {process.communicate()}"
            assert time.monotonic() < deadline, "the change never reached the disk"
            time.sleep(0.02)
        process.kill()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
    # a `git commit` it had started outlives it, and would commit once the lock is gone
    while git_processes_in(workspace):
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_implement_killed_before_its_commit_resumes_without_git_by_hand(tmp_path):
    workspace = make_repo(tmp_path / "ws", {"train.py": TRAIN, "model.py": MODEL, "utils.py": UTILS})
    first = engine_for(workspace, [reply(edit("train.py", "EPOCHS = 3", "EPOCHS = 4", "Four epochs"))])
    branch = first.hypotheses()[0].branch
    git(workspace, "branch", branch)
    lock = workspace / ".git" / "refs" / "heads" / f"{branch}.lock"
    lock.write_text("")
    (workspace / "notes.txt").write_text(MINE)
    args = ["implement", "h1", "--yes", "-w", str(workspace), "--provider", "scripted", "--offline"]
    kill_when_half_applied([*args, "--script", str(tmp_path / "script-0.jsonl")], workspace,
                           workspace / "train.py", TRAIN)
    lock.unlink()
    assert status(workspace) == " M train.py\n?? notes.txt\n"  # the agent's half-applied edit

    engine_for(workspace, [reply(edit("train.py", "EPOCHS = 3", "EPOCHS = 5", "Five epochs")), reply("DONE: ok")])
    result = cli(*args, "--script", str(tmp_path / "script-1.jsonl"))
    no_traceback(result)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Five epochs [committed" in result.stdout
    assert git(workspace, "log", "--format=%s", branch).splitlines() == ["Five epochs", "initial"]
    assert (workspace / "notes.txt").read_text() == MINE
    assert status(workspace) == "?? notes.txt\n" and not list(workspace.glob(".mlr/txn/*.json"))


def test_auto_killed_in_its_review_step_resumes(tmp_path):
    workspace = copy_task(bundled_task("review-sentiment"), tmp_path / "ws")
    common = ["-w", str(workspace), "--provider", "scripted", "--offline", "--runner", "local"]
    ideas = split_script(tmp_path, {"ideas.analyse", "ideas.generate", "ideas.assess"}, "ideas.jsonl")
    result = cli("auto", "--paper", str(workspace / "paper.pdf"), *common, "--script", str(ideas))
    assert result.returncode == 1 and "implement.step" in result.stdout  # stopped where the replies ran out
    state = json.loads((workspace / ".mlr" / "auto" / "state.json").read_text())
    branch = state["hypotheses"][0]["branch"]
    lock = workspace / ".git" / "refs" / "heads" / f"{branch}.lock"
    lock.write_text("")
    (workspace / "notes.txt").write_text(MINE)
    rest = split_script(tmp_path, {"implement.step", "debug.fix"}, "rest.jsonl")
    train = (workspace / "train.py").read_text()
    kill_when_half_applied(["auto", "--resume", *common, "--script", str(rest)], workspace, workspace / "train.py", train)
    lock.unlink()
    assert " M train.py" in status(workspace)

    resumed = cli("auto", "--resume", *common, "--script", str(rest))
    no_traceback(resumed)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    assert "beats the baseline by at least 10%" in resumed.stdout
    assert (workspace / "notes.txt").read_text() == MINE
    assert "train.py" not in status(workspace) and not list(workspace.glob(".mlr/txn/*.json"))
    runs = [json.loads(p.read_text()) for p in (workspace / ".mlr" / "runs").glob("*.json")]
    assert sum(r["baseline"] for r in runs) == 1 and all(r["status"] != "running" for r in runs)
