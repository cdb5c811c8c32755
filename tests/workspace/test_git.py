import os
import random
import threading

import pytest

from mlr_copilot.errors import MlrError
from mlr_copilot.workspace import repo as repo_module
from mlr_copilot.workspace.commits import format_message
from mlr_copilot.workspace.errors import (
    DetachedHeadError,
    DirtyTreeError,
    GitWorkspaceError,
    NoCommitsError,
    NotARepositoryError,
    NothingToUndoError,
    OperationInProgressError,
)
from mlr_copilot.workspace.git import GitWorkspace
from mlr_copilot.workspace.notes import append_note, read_notes
from mlr_copilot.workspace.paths import EditEscapeError
from mlr_copilot.workspace.refs import BadRefError
from tests.gitutil import git, make_repo, snapshot, status

TRAILERS = {"MLR-Hypothesis": "h1", "MLR-Step": "1"}


def test_not_a_repository(tmp_path):
    (tmp_path / "train.py").write_text("print(1)\n")
    with pytest.raises(NotARepositoryError, match="git init"):
        GitWorkspace(tmp_path).ensure_repo()
    assert not (tmp_path / ".git").exists()


def test_init_commits_starter_code_respecting_gitignore(tmp_path):
    (tmp_path / "train.py").write_text("print(1)\n")
    (tmp_path / ".gitignore").write_text("secret.env\n")
    (tmp_path / "secret.env").write_text("KEY=1\n")
    with open(tmp_path / "huge.bin", "wb") as handle:
        handle.truncate(25 * 1024 * 1024)  # sparse: no disk used

    ws = GitWorkspace(tmp_path)
    ws.ensure_repo(init=True)

    commits = ws.log()
    assert [c.subject for c in commits] == ["Starter code"]
    tracked = git(tmp_path, "ls-files").split()
    assert tracked == [".gitignore", "train.py"]
    assert (tmp_path / ".mlr" / ".gitignore").exists()
    assert status(tmp_path) == ""
    assert ws.current_branch()
    ws.check_clean_for_agent()


def test_starter_commit_keeps_secrets_files_out(tmp_path):
    (tmp_path / "train.py").write_text("print(1)\n")
    (tmp_path / ".env").write_text("OPENAI_API_KEY=sk-test\n")
    (tmp_path / ".env.production").write_text("ANTHROPIC_API_KEY=sk-test\n")
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "server.pem").write_text("-----BEGIN PRIVATE KEY-----\n")
    venv = tmp_path / "sub" / ".env" / "lib"
    venv.mkdir(parents=True)
    for n in range(3):
        (venv / f"m{n}.py").write_text("x = 1\n")

    ws = GitWorkspace(tmp_path)
    ws.ensure_repo(init=True)

    assert git(tmp_path, "ls-files").split() == ["train.py"]
    assert status(tmp_path) == "", "kept out, and not shown as untracked either"
    exclude = (tmp_path / ".git" / "info" / "exclude").read_text()
    assert "# secrets files kept out of the starter commit by MLR-Copilot" in exclude
    assert exclude.splitlines()[-4:] == ["/.env", "/.env.production", "/deploy/server.pem", "/sub/.env/"]
    with pytest.raises(EditEscapeError, match="secrets file"):
        ws.commit_paths([".env"], "leak", TRAILERS)


def test_repo_without_commits(tmp_path):
    git(tmp_path, "init", "-q")
    (tmp_path / "train.py").write_text("print(1)\n")
    ws = GitWorkspace(tmp_path)
    with pytest.raises(NoCommitsError, match="no commits"):
        ws.ensure_repo()
    with pytest.raises(NoCommitsError):
        ws.check_clean_for_agent()
    ws.ensure_repo(init=True)
    assert git(tmp_path, "ls-files").split() == ["train.py"]
    assert ws.log()[0].subject == "Starter code"


def test_subfolder_of_a_repository_is_refused(tmp_path):
    make_repo(tmp_path / "repo", {"sub/a.py": "x\n"})
    with pytest.raises(NotARepositoryError, match="not its top level"):
        GitWorkspace(tmp_path / "repo" / "sub").ensure_repo(init=True)
    assert not (tmp_path / "repo" / "sub" / ".git").exists()


def test_detached_head_is_refused(tmp_path):
    repo = make_repo(tmp_path / "r")
    git(repo, "checkout", "-q", "--detach")
    ws = GitWorkspace(repo)
    assert ws.current_branch() is None
    with pytest.raises(DetachedHeadError, match="detached"):
        ws.check_clean_for_agent()
    (repo / "new.py").write_text("x\n")
    with pytest.raises(DetachedHeadError):
        ws.commit_paths(["new.py"], "add", TRAILERS)


def test_merge_in_progress_is_refused(tmp_path):
    repo = make_repo(tmp_path / "r", {"a.txt": "base\n"})
    git(repo, "checkout", "-q", "-b", "other")
    (repo / "a.txt").write_text("other\n")
    git(repo, "commit", "-q", "-am", "other")
    git(repo, "checkout", "-q", "main")
    (repo / "a.txt").write_text("main\n")
    git(repo, "commit", "-q", "-am", "main")
    git(repo, "merge", "other", check=False)
    assert (repo / ".git" / "MERGE_HEAD").exists()

    ws = GitWorkspace(repo)
    before = snapshot(repo)
    with pytest.raises(OperationInProgressError, match="merge"):
        ws.check_clean_for_agent()
    with pytest.raises(OperationInProgressError):
        ws.commit_paths(["a.txt"], "resolve", TRAILERS)
    with pytest.raises(OperationInProgressError):
        ws.undo_last_agent_commit()
    assert snapshot(repo) == before


def test_dirty_tracked_files_block_the_agent_but_untracked_do_not(tmp_path):
    repo = make_repo(tmp_path / "r", {"a.py": "a\n", "b.py": "b\n"})
    ws = GitWorkspace(repo)
    (repo / "notes.txt").write_text("mine\n")
    ws.check_clean_for_agent()

    (repo / "a.py").write_text("changed\n")
    with pytest.raises(DirtyTreeError, match="a.py") as info:
        ws.check_clean_for_agent()
    assert info.value.paths == ["a.py"]
    with pytest.raises(DirtyTreeError):
        ws.checkout_branch("mlr/x")
    assert ws.current_branch() == "main"


def test_checkout_branch_creates_or_switches(tmp_path):
    repo = make_repo(tmp_path / "r")
    ws = GitWorkspace(repo)
    name = "mlr/cosine-lr-schedule-warmup"
    ws.checkout_branch(name)
    assert ws.current_branch() == name
    base = ws.head_sha()
    (repo / "new.py").write_text("x = 1\n")
    ws.commit_paths(["new.py"], "Add new.py", TRAILERS)
    git(repo, "checkout", "-q", "main")
    ws.checkout_branch(name)
    assert (repo / "new.py").exists()
    ws.checkout_branch("mlr/from-base", base=base)
    assert ws.head_sha() == base
    with pytest.raises(BadRefError, match="not a valid branch name"):
        ws.checkout_branch("bad..name")
    with pytest.raises(BadRefError, match="not a valid branch name"):
        ws.checkout_branch("main~1")  # a revision of an existing branch is no branch
    assert ws.current_branch() == "mlr/from-base"


def test_commit_paths_commits_exactly_those_paths_with_trailers(tmp_path):
    repo = make_repo(tmp_path / "r", {"a.py": "a\n", "old.py": "old\n", "keep.py": "keep\n"})
    ws = GitWorkspace(repo)
    (repo / "a.py").write_text("a2\n")
    (repo / "pkg").mkdir()
    (repo / "pkg" / "new.py").write_text("new\n")
    (repo / "old.py").unlink()
    (repo / "user_notes.txt").write_text("untracked, mine\n")

    sha = ws.commit_paths(["a.py", "./pkg/new.py", "old.py"], "Step 1: change things", TRAILERS)

    assert sha == ws.head_sha()
    changed = git(repo, "diff-tree", "--no-commit-id", "--name-status", "-r", sha).split("\n")
    assert sorted(filter(None, changed)) == ["A\tpkg/new.py", "D\told.py", "M\ta.py"]
    info = ws.log(limit=1)[0]
    assert info.subject == "Step 1: change things"
    assert info.trailers == TRAILERS
    assert info.parents == [ws.log(limit=2)[1].sha]
    assert status(repo) == "?? user_notes.txt\n"
    assert "+new" in ws.diff_between(f"{sha}~1", sha)[0]
    author = git(repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>").strip()
    assert author == "MLR-Copilot <mlr-copilot@localhost>|MLR-Copilot <mlr-copilot@localhost>"


def test_commit_reads_content_not_cached_file_times(tmp_path):
    # Same size and same mtime as the indexed version: only the content tells them apart.
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q", "--initial-branch=main")
    git(repo, "config", "core.trustctime", "false")
    stamp = 1_600_000_000_000_000_000
    (repo / "a.py").write_text("x=1\n")
    os.utime(repo / "a.py", ns=(stamp, stamp))
    git(repo, "add", "a.py")
    git(repo, "commit", "-q", "-m", "initial")
    (repo / "a.py").write_text("x=2\n")
    os.utime(repo / "a.py", ns=(stamp, stamp))
    sha = GitWorkspace(repo).commit_paths(["a.py"], "Change a", TRAILERS)
    assert git(repo, "show", f"{sha}:a.py") == "x=2\n"
    assert status(repo) == ""


def test_executable_bit_is_committed(tmp_path):
    repo = make_repo(tmp_path / "r")
    (repo / "run.sh").write_text("#!/bin/sh\necho hi\n")
    os.chmod(repo / "run.sh", 0o755)
    sha = GitWorkspace(repo).commit_paths(["run.sh"], "Add run.sh", TRAILERS)
    assert git(repo, "ls-tree", sha, "run.sh").split()[0] == "100755"


def test_configured_identity_is_used(tmp_path, isolated_git_config):
    repo = make_repo(tmp_path / "r")
    isolated_git_config.write_text("[user]\n\tname = Ada\n\temail = ada@example.com\n")
    ws = GitWorkspace(repo)
    (repo / "x.py").write_text("x\n")
    ws.commit_paths(["x.py"], "Add x", TRAILERS)
    assert git(repo, "log", "-1", "--format=%an <%ae>").strip() == "Ada <ada@example.com>"


def test_commit_paths_refuses_bad_input(tmp_path):
    repo = make_repo(tmp_path / "r", {"a.py": "a\n"})
    ws = GitWorkspace(repo)
    head = ws.head_sha()
    with pytest.raises(EditEscapeError):
        ws.commit_paths([".git/config"], "x", TRAILERS)
    with pytest.raises(EditEscapeError):
        ws.commit_paths(["../elsewhere.py"], "x", TRAILERS)
    with pytest.raises(GitWorkspaceError, match="nothing to commit"):
        ws.commit_paths(["a.py"], "x", TRAILERS)
    with pytest.raises(GitWorkspaceError, match="no files"):
        ws.commit_paths([], "x", TRAILERS)
    (repo / "a.py").write_text("b\n")
    with pytest.raises(GitWorkspaceError, match="trailer key"):
        ws.commit_paths(["a.py"], "x", {"Bad Key": "v"})
    with pytest.raises(GitWorkspaceError, match="message"):
        ws.commit_paths(["a.py"], "  ", TRAILERS)
    assert ws.head_sha() == head


def test_format_message_puts_trailers_last():
    text = format_message("Subject\n\nBody line.", {"MLR-Hypothesis": "h 2\nnext", "MLR-Step": "3"})
    assert text == "Subject\n\nBody line.\n\nMLR-Hypothesis: h 2 next\nMLR-Step: 3\n"


def _random_user_changes(repo, rng, tracked):
    """Stage, modify, delete and create files at random; return the set of staged paths."""
    staged = set()
    actions = ["none", "none", "none", "modify", "delete"]
    if rng.random() < 0.4:
        actions += ["stage", "stage_delete"]
    for rel in tracked:
        action = rng.choice(actions)
        target = repo / rel
        if action == "modify":
            target.write_text(target.read_text() + f"user edit {rng.random()}\n")
        elif action == "stage":
            target.write_text(target.read_text() + "staged edit\n")
            git(repo, "add", rel)
            if rng.random() < 0.5:
                target.write_text(target.read_text() + "and unstaged on top\n")
            staged.add(rel)
        elif action == "delete":
            target.unlink()
        elif action == "stage_delete":
            git(repo, "rm", "-q", rel)
            staged.add(rel)
    for i in range(rng.randint(0, 3)):
        (repo / f"untracked_{i}.txt").write_text(f"untracked {rng.random()}\n")
    if "stage" in actions and rng.random() < 0.5:
        (repo / "staged_new.txt").write_text("new and staged\n")
        git(repo, "add", "staged_new.txt")
        staged.add("staged_new.txt")
    return staged


@pytest.mark.parametrize("seed", range(16))
def test_randomized_user_changes_are_never_committed_or_lost(tmp_path, seed):
    rng = random.Random(seed)
    user_files = {f"user_{i}.py": f"user {i}\n" for i in range(6)}
    repo = make_repo(tmp_path / "r", {**user_files, "agent.py": "agent = 0\n"})
    ws = GitWorkspace(repo)
    staged = _random_user_changes(repo, rng, sorted(user_files))
    head = ws.head_sha()
    tracked_dirty = git(repo, "status", "--porcelain", "--untracked-files=no") != ""

    if tracked_dirty:
        with pytest.raises(DirtyTreeError):
            ws.check_clean_for_agent()
    else:
        ws.check_clean_for_agent()

    # The agent's accepted edit touches only its own files.
    (repo / "agent.py").write_text("agent = 1\n")
    (repo / "agent_new.py").write_text("new = 1\n")
    user_before = {k: v for k, v in snapshot(repo).items() if not k.startswith("agent")}
    status_before = {line for line in status(repo).splitlines() if "agent" not in line}

    if staged:
        with pytest.raises(DirtyTreeError, match="staged"):
            ws.commit_paths(["agent.py", "agent_new.py"], "Agent step", TRAILERS)
        assert ws.head_sha() == head
    else:
        sha = ws.commit_paths(["agent.py", "agent_new.py"], "Agent step", TRAILERS)
        assert ws.changed_paths(sha) == ["agent.py", "agent_new.py"]
        assert git(repo, "show", f"{sha}:agent.py") == "agent = 1\n"
        for rel, text in user_files.items():
            committed = git(repo, "show", f"{sha}:{rel}", check=False)
            assert committed == text  # the user's version never reaches the commit

    user_after = {k: v for k, v in snapshot(repo).items() if not k.startswith("agent")}
    status_after = {line for line in status(repo).splitlines() if "agent" not in line}
    assert user_after == user_before
    assert status_after == status_before

    if not staged:
        # Undo too leaves the user's work alone, or refuses without touching anything.
        ws.undo_last_agent_commit()
        assert not (repo / "agent_new.py").exists()
        assert (repo / "agent.py").read_text() == "agent = 0\n"
        assert {k: v for k, v in snapshot(repo).items() if not k.startswith("agent")} == user_before
        assert {line for line in status(repo).splitlines() if "agent" not in line} == status_before


def test_undo_reverts_with_a_new_commit_and_keeps_history(tmp_path):
    repo = make_repo(tmp_path / "r", {"train.py": "lr = 0.1\n"})
    ws = GitWorkspace(repo)
    with pytest.raises(NothingToUndoError):
        ws.undo_last_agent_commit()

    (repo / "train.py").write_text("lr = 0.01\n")
    first = ws.commit_paths(["train.py"], "Lower the learning rate", {"MLR-Hypothesis": "h1", "MLR-Step": "1"})
    (repo / "extra.py").write_text("x = 1\n")
    second = ws.commit_paths(["extra.py"], "Add extra", {"MLR-Hypothesis": "h1", "MLR-Step": "2"})
    git(repo, "commit", "-q", "--allow-empty", "-m", "a user commit in between")

    revert = ws.undo_last_agent_commit()
    assert not (repo / "extra.py").exists()
    info = ws.log(limit=1)[0]
    assert info.sha == revert
    assert info.subject == 'Revert "Add extra"'
    assert info.trailers == {"MLR-Reverts": second}
    shas = [c.sha for c in ws.log()]
    assert second in shas and first in shas  # nothing rewritten

    ws.undo_last_agent_commit()
    assert (repo / "train.py").read_text() == "lr = 0.1\n"
    with pytest.raises(NothingToUndoError):
        ws.undo_last_agent_commit()
    assert len(ws.log()) == 6
    assert status(repo) == ""


def test_undo_skips_a_commit_the_user_reverted_by_hand(tmp_path):
    repo = make_repo(tmp_path / "r", {"train.py": "lr = 0.1\n"})
    ws = GitWorkspace(repo)
    (repo / "train.py").write_text("lr = 0.01\n")
    first = ws.commit_paths(["train.py"], "Lower lr", {"MLR-Hypothesis": "h1", "MLR-Step": "1"})
    (repo / "extra.py").write_text("x = 1\n")
    second = ws.commit_paths(["extra.py"], "Add extra", {"MLR-Hypothesis": "h1", "MLR-Step": "2"})
    git(repo, "revert", "--no-edit", second)
    assert ws.last_agent_commit().sha == first
    ws.undo_last_agent_commit()
    assert (repo / "train.py").read_text() == "lr = 0.1\n"


def test_undo_refuses_when_the_files_have_uncommitted_changes(tmp_path):
    repo = make_repo(tmp_path / "r", {"train.py": "lr = 0.1\n"})
    ws = GitWorkspace(repo)
    (repo / "train.py").write_text("lr = 0.01\n")
    ws.commit_paths(["train.py"], "Lower lr", TRAILERS)
    (repo / "train.py").write_text("lr = 0.5  # my experiment\n")
    head = ws.head_sha()
    with pytest.raises(DirtyTreeError, match="train.py"):
        ws.undo_last_agent_commit()
    assert ws.head_sha() == head
    assert (repo / "train.py").read_text() == "lr = 0.5  # my experiment\n"


def test_undo_that_conflicts_changes_nothing(tmp_path):
    repo = make_repo(tmp_path / "r", {"train.py": "lr = 0.1\n"})
    ws = GitWorkspace(repo)
    (repo / "train.py").write_text("lr = 0.01\n")
    ws.commit_paths(["train.py"], "Lower lr", TRAILERS)
    (repo / "train.py").write_text("lr = 0.02\n")
    git(repo, "commit", "-q", "-am", "user tweak on the same line")
    head = ws.head_sha()
    with pytest.raises(GitWorkspaceError, match="cannot undo") as info:
        ws.undo_last_agent_commit()
    assert isinstance(info.value, MlrError)
    assert ws.head_sha() == head
    assert (repo / "train.py").read_text() == "lr = 0.02\n"
    assert status(repo) == ""
    assert not (repo / ".git" / "REVERT_HEAD").exists()


def test_notes_append_and_show_in_git_log(tmp_path):
    repo = make_repo(tmp_path / "r")
    ws = GitWorkspace(repo)
    sha = ws.head_sha()
    assert read_notes(repo, sha) == ""
    assert append_note(repo, sha, "run 1: accuracy=0.81")
    assert append_note(repo, sha, "run 2: accuracy=0.84")
    notes = read_notes(repo, sha)
    assert "run 1: accuracy=0.81" in notes and "run 2: accuracy=0.84" in notes
    assert notes.index("run 1") < notes.index("run 2")
    shown = git(repo, "log", "--notes=mlr", "-1")
    assert "Notes (mlr):" in shown and "run 2: accuracy=0.84" in shown
    assert status(repo) == ""
    assert len(ws.log()) == 1  # notes add no commits to the branch


def test_log_of_another_branch_and_limit(tmp_path):
    repo = make_repo(tmp_path / "r")
    ws = GitWorkspace(repo)
    ws.checkout_branch("mlr/h1")
    for step in range(3):
        (repo / f"f{step}.py").write_text(f"{step}\n")
        ws.commit_paths([f"f{step}.py"], f"Step {step}", {"MLR-Hypothesis": "h1", "MLR-Step": str(step)})
    git(repo, "checkout", "-q", "main")
    commits = ws.log("mlr/h1", limit=2)
    assert [c.subject for c in commits] == ["Step 2", "Step 1"]
    assert commits[0].trailers["MLR-Step"] == "2"
    assert len(commits[0].short) >= 7 and commits[0].sha.startswith(commits[0].short)
    assert [c.subject for c in ws.log()] == ["initial"]



def test_a_lock_held_for_a_moment_by_another_git_is_waited_for(tmp_path):
    # an editor's git integration refreshing its status holds index.lock briefly
    make_repo(tmp_path, {"train.py": "print(1)\n"})
    lock = tmp_path / ".git" / "index.lock"
    lock.write_text("")
    ws = GitWorkspace(tmp_path)
    timer = threading.Timer(0.5, lock.unlink)
    timer.start()
    try:
        ws.checkout_branch("mlr/h1")
    finally:
        timer.join()
    assert ws.current_branch() == "mlr/h1"


def test_a_stale_lock_is_named_with_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(repo_module, "LOCK_WAIT_S", 0.3)
    make_repo(tmp_path, {"train.py": "print(1)\n"})
    before = snapshot(tmp_path)
    (tmp_path / ".git" / "index.lock").write_text("")
    ws = GitWorkspace(tmp_path)
    branch = ws.current_branch()
    with pytest.raises(GitWorkspaceError, match=r"another git process held a lock .*index\.lock.*remove the stale"):
        ws.checkout_branch("mlr/h1")
    assert ws.current_branch() == branch
    assert snapshot(tmp_path) == before


def test_undo_with_a_held_index_lock_names_the_lock(tmp_path, monkeypatch):
    monkeypatch.setattr(repo_module, "LOCK_WAIT_S", 0.3)
    repo = make_repo(tmp_path / "r", {"train.py": "lr = 0.1\n"})
    ws = GitWorkspace(repo)
    (repo / "train.py").write_text("lr = 0.01\n")
    ws.commit_paths(["train.py"], "Lower lr", TRAILERS)
    head, before = ws.head_sha(), snapshot(repo)
    (repo / ".git" / "index.lock").write_text("")
    with pytest.raises(GitWorkspaceError, match=r"cannot undo .*Lower lr.*index\.lock.*remove the stale") as info:
        ws.undo_last_agent_commit()
    assert "changed the same lines" not in str(info.value) and "\n" not in str(info.value).split(" (fatal")[0]
    assert ws.head_sha() == head and snapshot(repo) == before
    (repo / ".git" / "index.lock").unlink()
    ws.undo_last_agent_commit()  # once the lock is gone, undo works
    assert (repo / "train.py").read_text() == "lr = 0.1\n"


def test_commit_paths_never_adds_an_ignored_file(tmp_path):
    repo = make_repo(tmp_path / "r", {".gitignore": "*.secret.py\n", "a.py": "a\n"})
    ws = GitWorkspace(repo)
    head = ws.head_sha()
    (repo / "keys.secret.py").write_text("TOKEN = 'mine'\n")
    with pytest.raises(GitWorkspaceError, match=r"cannot commit keys\.secret\.py: ignored by git \(\.gitignore:1: \*\.secret\.py\)"):
        ws.commit_paths(["keys.secret.py"], "Add keys", TRAILERS)
    assert ws.head_sha() == head
    assert git(repo, "ls-files") == ".gitignore\na.py\n" and status(repo) == ""


def test_refusals_name_each_file_git_has_no_copy_of(tmp_path):
    repo = make_repo(tmp_path / "r", {".gitignore": "out/\n", "a.py": "a\n", "b.py": "b\n"})
    (repo / "b.py").write_text("mine\n")
    (repo / "notes.py").write_text("mine\n")
    (repo / "out").mkdir()
    (repo / "out" / "x.py").write_text("mine\n")
    why = GitWorkspace(repo).refusals(["a.py", "b.py", "notes.py", "out/x.py", "out/new.py", "new.py"])
    assert sorted(why) == ["b.py", "notes.py", "out/new.py", "out/x.py"]
    assert "uncommitted changes of yours" in why["b.py"]
    assert "untracked file of yours" in why["notes.py"]
    assert "ignored by git" in why["out/x.py"]
    assert "ignored by git (.gitignore:1: out/)" in why["out/new.py"]
