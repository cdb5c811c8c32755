"""No user file is ever destroyed: an LLM edit or FILE block aimed at a file git holds no copy
of (untracked, ignored, or a tracked file with the user's uncommitted changes), or at a new path
git ignores, is refused naming the file and what to do, sent back to the LLM like any failed
edit, and reported; the file, git and `.mlr/` are left consistent and the next command works.
Through the agent API here, through `mlr-copilot implement --yes` in tests/cli/test_user_files_cli.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlr_copilot.experiment.change import Review
from tests.gitutil import git, status

from . import test_agent
from .test_agent import edit, engine_for, implement, reply

# the implementation tests' fixtures: the same workspace, the same empty model cache
workspace, no_hf_cache = test_agent.workspace, test_agent.no_hf_cache

MINE = "my notes, in no commit\n"


def file_block(path: str, content: str = "print('agent')\n") -> str:
    return f"SUMMARY: Write {path}\n\n{path}\n<<<<<<< FILE\n{content}>>>>>>> FILE\n"


def delete_block(path: str) -> str:
    return f"SUMMARY: Remove {path}\n\n{path}\n<<<<<<< DELETE\n>>>>>>> DELETE\n"


def untracked(ws: Path) -> str:
    (ws / "notes.py").write_text(MINE)
    return "notes.py"


def ignored(ws: Path) -> str:
    (ws / ".gitignore").write_text("*.local.py\ncache/\n")
    git(ws, "add", ".gitignore")
    git(ws, "commit", "-qm", "ignore local files")
    (ws / "settings.local.py").write_text(MINE)
    return "settings.local.py"


def ignored_folder(ws: Path) -> str:
    ignored(ws)
    (ws / "cache").mkdir()
    (ws / "cache" / "features.py").write_text(MINE)
    return "cache/features.py"


def link_to_untracked(ws: Path) -> str:
    (ws / "notes.txt").write_text(MINE)
    (ws / "link.py").symlink_to("notes.txt")
    git(ws, "add", "link.py")
    git(ws, "commit", "-qm", "a link to my notes")
    return "link.py"


# (how the user's file comes to be, the edit the LLM sends, the file the refusal names)
CASES = {
    "untracked, FILE block": (untracked, lambda p: file_block(p), "notes.py"),
    "untracked, SEARCH/REPLACE": (untracked, lambda p: edit(p, "my notes, in no commit", "agent notes"), "notes.py"),
    "untracked, empty SEARCH": (lambda ws: (ws / "notes.py").write_text("") or "notes.py",
                                lambda p: edit(p, "", "print(1)"), "notes.py"),
    "untracked, DELETE": (untracked, delete_block, "notes.py"),
    "ignored, FILE block": (ignored, lambda p: file_block(p), "settings.local.py"),
    "ignored, SEARCH/REPLACE": (ignored, lambda p: edit(p, "my notes, in no commit", "x = 1"), "settings.local.py"),
    "inside an ignored folder": (ignored_folder, lambda p: file_block(p), "cache/features.py"),
    "symlink to an untracked file": (link_to_untracked, lambda p: file_block(p), "notes.txt"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_agent_never_writes_over_a_file_git_has_no_copy_of(workspace, case):
    make, reply_for, named = CASES[case]
    path = make(workspace)
    head = git(workspace, "rev-parse", "HEAD")
    before_status = status(workspace)
    content = (workspace / named).read_bytes()
    engine = engine_for(workspace, [
        reply(reply_for(path)),
        reply(reply_for(path), f"That edit could not be applied: refused {named}: it is "),
        reply("DONE: left it alone", "edit could not be applied [failed]"),
    ], maxEditRetries=1)
    state = implement(engine)
    # every step refused: nothing was implemented, and the run says so
    assert state.status == "nothing-implemented" and [s.outcome for s in state.steps] == ["failed"]
    reason = state.steps[0].reason
    assert f"refused {named}:" in reason and "\n" not in reason
    assert "commit it" in reason and "leave it out of the change" in reason
    assert (workspace / named).read_bytes() == content
    assert git(workspace, "rev-parse", "HEAD") == head
    assert status(workspace) == before_status
    assert not list((workspace / ".mlr").glob("txn/*.json"))
    # the next command works, and an edit elsewhere is committed
    after = engine_for(workspace, [reply(edit("train.py", "EPOCHS = 3", "EPOCHS = 4")), reply("DONE: ok")])
    assert implement(after).commits
    assert (workspace / named).read_bytes() == content


def test_a_new_path_git_ignores_is_never_added(workspace):
    ignored(workspace)
    engine = engine_for(workspace, [
        reply(file_block("cache/new.py")),
        reply(file_block("features.py"), "refused cache/new.py: the path is ignored by git (.gitignore:2: cache/)",
              "use another path"),
        reply("DONE: ok"),
    ])
    state = implement(engine)
    assert [s.outcome for s in state.steps] == ["committed"]
    assert not (workspace / "cache").exists()
    assert git(workspace, "ls-files", "cache") == ""
    assert "features.py" in git(workspace, "ls-files")


def test_a_tracked_file_the_user_changed_during_the_session_is_refused(workspace):
    """The start refuses a dirty tree; a file the user edits while the agent works is theirs."""
    mine = "def build(epochs):\n    return epochs\n\n# my idea: epochs * 2\n"

    async def accept_while_the_user_edits(proposal) -> Review:
        (workspace / "model.py").write_text(mine)
        return Review(True)

    engine = engine_for(workspace, [
        reply(edit("train.py", "EPOCHS = 3", "EPOCHS = 4")),
        reply(edit("model.py", "    return epochs", "    return epochs + 1")),
        reply(edit("model.py", "    return epochs", "    return epochs + 1"),
              "refused model.py: it has uncommitted changes of yours; commit or stash them first"),
        reply("DONE: ok"),
    ], maxEditRetries=1)
    state = implement(engine, accept_while_the_user_edits)
    assert [s.outcome for s in state.steps] == ["committed", "failed"]
    assert (workspace / "model.py").read_text() == mine
    assert status(workspace) == " M model.py\n"
    for sha in state.commits:
        assert "my idea" not in git(workspace, "show", sha)


def test_files_the_agent_created_stay_editable(workspace):
    """A file an agent commit added is tracked: later steps may change and delete it."""
    engine = engine_for(workspace, [
        reply(file_block("helpers.py", "A = 1\n")),
        reply(edit("helpers.py", "A = 1", "A = 2")),
        reply(delete_block("helpers.py")),
        reply("DONE: ok"),
    ])
    state = implement(engine)
    assert [s.outcome for s in state.steps] == ["committed"] * 3
    assert not (workspace / "helpers.py").exists() and status(workspace) == ""


def test_a_file_named_like_a_pattern_commits_only_itself(workspace):
    """Paths reach git literally: a new `*.py` is no glob sweeping in the user's edit of model.py."""
    mine = "def build(epochs):\n    return 0  # mine\n"

    async def accept_while_the_user_edits(proposal) -> Review:
        (workspace / "model.py").write_text(mine)
        return Review(True)

    engine = engine_for(workspace, [reply(file_block("*.py", "x = 1\n")), reply("DONE: ok")])
    state = implement(engine, accept_while_the_user_edits)
    assert [s.outcome for s in state.steps] == ["committed"]
    assert git(workspace, "show", "--name-only", "--format=", state.commits[0]).split() == ["*.py"]
    assert (workspace / "model.py").read_text() == mine and status(workspace) == " M model.py\n"
