"""`mlr-copilot implement --yes` as a real process, with recorded replies aimed at the user's
files: each refusal is one line naming the file and what to do, the LLM is told and tries
again, the step is reported as failed, and the file, git and `.mlr/` are as they were."""

from __future__ import annotations

import pytest

from tests.cli.test_cli import cli, no_traceback
from tests.experiment.test_agent import MODEL, TRAIN, UTILS, edit, engine_for, reply
from tests.experiment.test_user_files import CASES, MINE, file_block
from tests.gitutil import git, make_repo, status


@pytest.mark.parametrize("case", ["untracked, FILE block", "ignored, SEARCH/REPLACE", "symlink to an untracked file"])
def test_implement_yes_refuses_to_write_over_the_users_files(tmp_path, case):
    make, reply_for, named = CASES[case]
    workspace = make_repo(tmp_path / "ws", {"train.py": TRAIN, "model.py": MODEL, "utils.py": UTILS})
    path = make(workspace)
    (workspace / ".gitignore").write_text((workspace / ".gitignore").read_text() + "outputs/\n"
                                          if (workspace / ".gitignore").exists() else "outputs/\n")
    git(workspace, "add", ".gitignore")
    git(workspace, "commit", "-qm", "ignore outputs")
    head, before = git(workspace, "rev-parse", "HEAD"), status(workspace)
    engine_for(workspace, [
        reply(reply_for(path)),
        reply(file_block("outputs/model.py"), f"refused {named}: it is "),
        reply(edit("train.py", "EPOCHS = 3", "EPOCHS = 4", "Four epochs"), "refused outputs/model.py: the path is ignored"),
        reply("DONE: ok"),
    ])
    result = cli("implement", "h1", "--yes", "-w", str(workspace), "--provider", "scripted",
                 "--script", str(tmp_path / "script-0.jsonl"), "--offline")
    no_traceback(result)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Four epochs [committed" in result.stdout
    assert (workspace / named).read_text() == MINE and not (workspace / "outputs").exists()
    assert git(workspace, "log", "--format=%s", "-2").splitlines() == ["Four epochs", "ignore outputs"]
    assert git(workspace, "show", "--name-only", "--format=", "HEAD").split() == ["train.py"]
    assert status(workspace) == before and head != git(workspace, "rev-parse", "HEAD")
    assert not list(workspace.glob(".mlr/txn/*.json"))


def test_implement_yes_reports_a_refusal_it_could_not_get_past(tmp_path):
    workspace = make_repo(tmp_path / "ws", {"train.py": TRAIN, "model.py": MODEL, "utils.py": UTILS})
    (workspace / "notes.py").write_text(MINE)
    engine_for(workspace, [reply(file_block("notes.py"))] * 3 + [reply("DONE: gave up")])
    result = cli("implement", "h1", "--yes", "-w", str(workspace), "--provider", "scripted",
                 "--script", str(tmp_path / "script-0.jsonl"), "--offline")
    no_traceback(result)
    assert "step 1: edit could not be applied [failed]" in result.stdout
    assert "refused notes.py: it is an untracked file of yours" in result.stdout
    assert "commit it or move it first, or leave it out of the change" in result.stdout
    assert (workspace / "notes.py").read_text() == MINE and status(workspace) == "?? notes.py\n"
