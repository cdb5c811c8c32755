"""An accepted change is a recoverable transaction: whatever point a process stopped at between
recording the change and committing it, the next agent start settles it without the user
running git, never touches a file someone changed since, and leaves the user's other files
alone. The states are made with the real module and real git; `abandon` is what a killed
process amounts to (its record stays, nobody owns it). Real kills: tests/cli/test_interrupted_edit.py."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mlr_copilot.experiment import transaction
from mlr_copilot.experiment.edit_blocks import FileChange
from mlr_copilot.experiment.edits import write_changes
from mlr_copilot.experiment.transaction import InterruptedEditError, settle
from mlr_copilot.workspace.git import DirtyTreeError, GitWorkspace
from tests.gitutil import git, make_repo, status

TRAILERS = {"MLR-Hypothesis": "h1", "MLR-Step": "1"}
TRAIN, MODEL, OLD = "EPOCHS = 3\n", "def build():\n    return 1\n", "old = 1\n"
CHANGE = [
    FileChange(path="train.py", before=TRAIN, after="EPOCHS = 10\n"),
    FileChange(path="model.py", before=MODEL, after="def build():\n    return 2\n"),
    FileChange(path="pkg/new.py", before=None, after="new = 1\n"),
    FileChange(path="old.py", before=OLD, after=None),
]


@pytest.fixture
def ws(tmp_path):
    repo = make_repo(tmp_path / "ws", {"train.py": TRAIN, "model.py": MODEL, "old.py": OLD, "utils.py": "u = 1\n"})
    git(repo, "checkout", "-qb", "mlr/h1")
    (repo / "notes.txt").write_text("my untracked notes\n")
    return repo


def interrupted(repo, written: int, *, intend_to_add: bool = False) -> transaction.Intent:
    """The state a process killed after writing the first `written` files of CHANGE leaves."""
    intent = transaction.begin(GitWorkspace(repo), CHANGE, "Ten epochs", "Ten epochs", TRAILERS)
    write_changes(repo, CHANGE[:written])
    if intend_to_add:  # killed while `git commit` was recording the new file
        git(repo, "add", "--intent-to-add", "pkg/new.py")
    transaction.abandon(intent)
    return intent


def records(repo) -> list:
    return list((repo / ".mlr" / "txn").glob("*.json"))


@pytest.mark.parametrize("written", range(len(CHANGE) + 1))
def test_a_change_interrupted_before_its_commit_is_rolled_back(ws, written):
    head = git(ws, "rev-parse", "HEAD")
    interrupted(ws, written, intend_to_add=written >= 3)
    assert records(ws)
    ws_git = GitWorkspace(ws)
    ws_git.check_clean_for_agent()  # settles it: the agent may start
    assert records(ws) == []
    assert (ws / "train.py").read_text() == TRAIN and (ws / "model.py").read_text() == MODEL
    assert (ws / "old.py").read_text() == OLD and not (ws / "pkg" / "new.py").exists()
    assert (ws / "notes.txt").read_text() == "my untracked notes\n"
    assert status(ws) == "?? notes.txt\n" and git(ws, "rev-parse", "HEAD") == head


def test_a_change_whose_commit_landed_is_left_as_committed(ws):
    intent = transaction.begin(GitWorkspace(ws), CHANGE, "Ten epochs", "Ten epochs", TRAILERS)
    write_changes(ws, CHANGE)
    sha = GitWorkspace(ws).commit_paths([c.path for c in CHANGE], "Ten epochs", TRAILERS)
    transaction.abandon(intent)  # killed right after the commit
    (ws / "train.py").write_text("EPOCHS = 11  # the user's edit after the commit\n")
    settle(GitWorkspace(ws))
    assert records(ws) == []
    assert git(ws, "rev-parse", "HEAD").strip() == sha
    assert (ws / "train.py").read_text().startswith("EPOCHS = 11") and (ws / "pkg" / "new.py").exists()


def test_a_file_changed_since_is_never_touched_and_named(ws):
    interrupted(ws, len(CHANGE))
    (ws / "model.py").write_text("def build():\n    return 3  # the user's\n")
    with pytest.raises(InterruptedEditError, match=r"stopped while committing a change \('Ten epochs'.*model\.py changed "
                                                   r"again since; they were left as they are") as info:
        GitWorkspace(ws).check_clean_for_agent()
    assert isinstance(info.value, DirtyTreeError) and info.value.paths == ["model.py"]
    assert "\n" not in str(info.value)
    assert (ws / "model.py").read_text().endswith("# the user's\n")
    assert (ws / "train.py").read_text() == TRAIN and not (ws / "pkg" / "new.py").exists()  # the rest went back
    assert len(records(ws)) == 1
    # once the user commits their version, the record is settled and the agent starts
    git(ws, "commit", "-qam", "my version")
    GitWorkspace(ws).check_clean_for_agent()
    assert records(ws) == [] and (ws / "model.py").read_text().endswith("# the user's\n")


def test_undo_settles_an_interrupted_change_first(ws):
    ws_git = GitWorkspace(ws)
    (ws / "utils.py").write_text("u = 2\n")
    first = ws_git.commit_paths(["utils.py"], "Two", TRAILERS)
    interrupted(ws, len(CHANGE))
    revert = ws_git.undo_last_agent_commit()
    assert git(ws, "show", "--format=%B", "-s", revert).startswith('Revert "Two"')
    assert first in git(ws, "log", "--format=%H")
    assert status(ws) == "?? notes.txt\n" and records(ws) == []


def test_a_change_of_a_live_process_is_left_alone(ws):
    intent = interrupted(ws, len(CHANGE))
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        path = intent.path(ws)
        path.write_text(intent.model_copy(update={"owner_pid": live.pid}).model_dump_json())
        settle(GitWorkspace(ws))
        assert records(ws) == [path] and (ws / "train.py").read_text() == "EPOCHS = 10\n"
    finally:
        live.kill()
        live.wait()
    settle(GitWorkspace(ws))  # its owner is gone now
    assert records(ws) == [] and (ws / "train.py").read_text() == TRAIN


def test_a_planted_record_writes_nothing_git_holds_or_outside(ws, tmp_path):
    """`.mlr/` may come with a cloned workspace: its records are untrusted."""
    (tmp_path / "outside.py").write_text("x\n")
    for change in [
        FileChange(path="train.py", before="import evil\n", after=TRAIN),  # clean in git: never written
        FileChange(path="../outside.py", before="import evil\n", after="x\n"),
        FileChange(path=".git/config", before="", after=(ws / ".git" / "config").read_text()),
    ]:
        intent = transaction.begin(GitWorkspace(ws), [change], "planted", "planted", TRAILERS)
        transaction.abandon(intent)
    (ws / ".mlr" / "txn" / "garbage.json").write_text("{not json")
    GitWorkspace(ws).check_clean_for_agent()
    assert (ws / "train.py").read_text() == TRAIN and (tmp_path / "outside.py").read_text() == "x\n"
    assert "evil" not in (ws / ".git" / "config").read_text()
    assert status(ws) == "?? notes.txt\n"
