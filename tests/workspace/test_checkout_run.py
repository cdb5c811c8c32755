"""A run's commit checked out as a worktree beside the workspace: real git, real runs; never
inside the workspace, never over an existing folder, and a commit gone is one line."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from mlr_copilot.config import validate_settings
from mlr_copilot.engine import Engine
from mlr_copilot.errors import MlrError
from mlr_copilot.runners.model import RunRecord
from mlr_copilot.work import Work
from tests.cli.test_cli import cli, no_traceback
from tests.gitutil import commit, git, make_repo, snapshot, status

GIT_ENV = {"GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "T",
           "GIT_COMMITTER_EMAIL": "t@example.com"}


def engine(repo: Path) -> Engine:
    settings, _ = validate_settings({"run": {"runner": "local", "timeout": 60, "command": f"{sys.executable} train.py"},
                                     "ideas": {"online": False}})
    return Engine(repo, settings, environ={**os.environ, **GIT_ENV})


@pytest.fixture
def ran(tmp_path: Path) -> tuple[Path, RunRecord, str]:
    """A run of commit A; HEAD has moved on to commit B since."""
    repo = make_repo(tmp_path / "ws", {"train.py": "print('A')\n", ".gitignore": ".mlr/\n"})
    a = git(repo, "rev-parse", "HEAD").strip()
    record = asyncio.run(engine(repo).run(Work()))
    assert record.commit == a and record.status == "passed"
    commit(repo, {"train.py": "print('B')\n"}, "B")
    return repo, record, a


def worktrees(repo: Path) -> list[str]:
    """The worktrees besides the runs' own (the idle ones the pool keeps, `run.reuseWorktrees`)."""
    pool = str(repo / ".mlr" / "worktrees" / "pool-")
    return [line.removeprefix("worktree ") for line in git(repo, "worktree", "list", "--porcelain").splitlines()
            if line.startswith("worktree ") and not line.removeprefix("worktree ").startswith(pool)]


def test_the_runs_commit_is_checked_out_beside_the_workspace(ran):
    repo, record, a = ran
    before = (snapshot(repo), status(repo), git(repo, "rev-parse", "HEAD"))
    done = engine(repo).checkout_run(record.id)
    path = Path(done.path)
    assert path == repo.parent / f"ws-run-{record.id}" and done.commit == a
    assert (path / "train.py").read_text() == "print('A')\n"
    assert git(path, "rev-parse", "HEAD").strip() == a and git(path, "symbolic-ref", "-q", "HEAD", check=False) == ""
    assert worktrees(repo) == [str(repo), str(path)]
    assert (snapshot(repo), status(repo), git(repo, "rev-parse", "HEAD")) == before
    # asked again: the folder exists now, and nothing of it changes
    (path / "train.py").write_text("my edit\n")
    with pytest.raises(MlrError, match="already exists: choose a folder that does not"):
        engine(repo).checkout_run(record.id)
    assert (path / "train.py").read_text() == "my edit\n" and len(worktrees(repo)) == 2


def test_an_existing_folder_or_one_inside_the_workspace_is_refused_and_nothing_is_made(ran, tmp_path):
    repo, record, _a = ran
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(MlrError, match="already exists"):
        engine(repo).checkout_run(record.id, str(empty))
    assert list(empty.iterdir()) == []
    for inside in (repo / "run-copy", repo / ".mlr" / "copy"):
        with pytest.raises(MlrError, match="is inside the workspace"):
            engine(repo).checkout_run(record.id, str(inside))
        assert not inside.exists()
    with pytest.raises(MlrError, match="is not a folder"):
        engine(repo).checkout_run(record.id, str(tmp_path / "no" / "such" / "parent"))
    assert not (tmp_path / "no").exists()
    assert worktrees(repo) == [str(repo)]


def test_a_commit_gone_is_one_line_and_nothing_is_made(ran, tmp_path):
    repo, record, _a = ran
    path = repo / ".mlr" / "runs" / f"{record.id}.json"
    data = json.loads(path.read_text())
    data["commit"] = "1" * 40
    path.write_text(json.dumps(data))
    target = tmp_path / "copy"
    with pytest.raises(MlrError) as raised:
        engine(repo).checkout_run(record.id, str(target))
    assert str(raised.value) == f"run {record.id}'s commit 111111111111 is no longer in the repository"
    assert not target.exists() and worktrees(repo) == [str(repo)]
    data["commit"] = "--output=/tmp/x"
    path.write_text(json.dumps(data))
    with pytest.raises(MlrError, match="is no longer in the repository"):
        engine(repo).checkout_run(record.id, str(target))
    with pytest.raises(MlrError, match="is not a run id"):
        engine(repo).checkout_run("../../etc")


def test_the_cli_prints_the_folder_and_refuses_an_existing_one(ran, tmp_path):
    repo, record, a = ran
    target = tmp_path / "mine"
    done = cli("checkout-run", record.id, "--path", str(target), "-w", str(repo), env=GIT_ENV)
    no_traceback(done)
    assert done.returncode == 0 and done.stdout.strip() == str(target)
    assert "git worktree remove" in done.stderr and git(target, "rev-parse", "HEAD").strip() == a
    again = cli("checkout-run", record.id, "--path", str(target), "-w", str(repo), env=GIT_ENV)
    assert again.returncode == 2 and again.stderr.count("\n") == 1 and "already exists" in again.stderr
