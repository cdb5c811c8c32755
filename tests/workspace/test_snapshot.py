"""A run of uncommitted work runs a hidden commit of it: real git, the user's state untouched."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlr_copilot.workspace import worktrees
from mlr_copilot.workspace.snapshot import SnapshotError, snapshot
from tests.gitutil import git, make_repo
from tests.gitutil import snapshot as files_of


def user_state(repo: Path) -> dict[str, object]:
    """Everything of the user's that a snapshot must leave as it was."""
    return {
        "files": {k: v for k, v in files_of(repo).items() if not k.startswith(".mlr/")},
        "index": (repo / ".git" / "index").read_bytes(),
        "HEAD": (repo / ".git" / "HEAD").read_bytes(),
        "branches": git(repo, "for-each-ref", "refs/heads/"),
        "status": git(repo, "status", "--porcelain=v2", "--branch", "--untracked-files=all"),
    }


def files_in(repo: Path, commit: str) -> dict[str, str]:
    names = git(repo, "ls-tree", "-r", "--name-only", commit).split()
    return {name: git(repo, "show", f"{commit}:{name}") for name in names}


@pytest.fixture
def dirty(tmp_path: Path) -> Path:
    repo = make_repo(tmp_path / "ws", {"train.py": "v = 1\n", "old.py": "gone\n", ".gitignore": "*.log\n",
                                       "config/.env.example": "KEY=\n"})
    (repo / "train.py").write_text("v = 2  # being edited\n")
    (repo / "old.py").unlink()
    (repo / "new_module.py").write_text("new\n")
    (repo / "staged.py").write_text("staged\n")
    git(repo, "add", "staged.py")
    (repo / ".env").write_text("OPENAI_API_KEY=sk-secret\n")
    (repo / "credentials.json").write_text("{}\n")
    git(repo, "add", "credentials.json")  # staged by mistake: still kept out
    (repo / "run.log").write_text("ignored\n")
    (repo / ".mlr").mkdir()
    (repo / ".mlr" / "state.json").write_text("{}\n")
    return repo


def test_a_dirty_tree_is_snapshotted_with_its_changes_and_untracked_files_but_no_secret(dirty):
    head = git(dirty, "rev-parse", "HEAD").strip()
    before = user_state(dirty)

    snap = snapshot(dirty, "run-1")

    assert snap.uncommitted and snap.ref == "refs/mlr/snapshots/run-1"
    assert git(dirty, "rev-parse", snap.ref).strip() == snap.commit
    assert git(dirty, "rev-parse", f"{snap.commit}^").strip() == head
    assert files_in(dirty, snap.commit) == {
        "train.py": "v = 2  # being edited\n", "new_module.py": "new\n", "staged.py": "staged\n",
        ".gitignore": "*.log\n", "config/.env.example": "KEY=\n",
    }
    assert {".env", "credentials.json", ".mlr/state.json"} <= set(snap.left_out)
    assert user_state(dirty) == before
    assert git(dirty, "branch", "--contains", snap.commit).strip() == ""


def test_a_clean_tree_runs_head_itself(tmp_path):
    repo = make_repo(tmp_path / "ws")
    (repo / "run.log").write_text("x")
    (repo / ".gitignore").write_text("*.log\n")
    git(repo, "add", ".gitignore")
    git(repo, "commit", "-q", "-m", "ignore logs")
    snap = snapshot(repo, "run-1")
    assert not snap.uncommitted and snap.ref is None
    assert snap.commit == git(repo, "rev-parse", "HEAD").strip()
    assert git(repo, "for-each-ref", "refs/mlr/") == ""


def test_a_snapshot_runs_in_its_own_worktree_with_the_uncommitted_content(dirty):
    snap = snapshot(dirty, "run-1")
    with worktrees.checked_out(dirty, "run-1", snap.commit) as tree:
        assert (tree.path / "train.py").read_text() == "v = 2  # being edited\n"
        assert not (tree.path / ".env").exists() and not (tree.path / "old.py").exists()
    assert not tree.path.exists()


def test_no_commit_yet_is_one_clear_line(tmp_path):
    repo = tmp_path / "ws"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "a.py").write_text("a")
    with pytest.raises(SnapshotError, match="no|commit") as caught:
        snapshot(repo, "run-1")
    assert "\n" not in str(caught.value)


def test_the_same_run_id_twice_is_refused_and_the_first_snapshot_kept(dirty):
    first = snapshot(dirty, "run-1")
    (dirty / "train.py").write_text("v = 3\n")
    with pytest.raises(SnapshotError, match="already exists"):
        snapshot(dirty, "run-1")
    assert git(dirty, "rev-parse", "refs/mlr/snapshots/run-1").strip() == first.commit
