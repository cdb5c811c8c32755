"""Runs execute their commit's tree under .mlr/worktrees/<run-id>/: real git, real processes."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mlr_copilot.workspace import worktrees
from mlr_copilot.workspace.worktrees import WorktreeError
from tests.gitutil import git, make_repo, snapshot


def worktree_list(repo: Path) -> list[str]:
    return [line.split()[0] for line in git(repo, "worktree", "list").splitlines()]


def leftovers(repo: Path) -> list[str]:
    folder = repo / ".mlr" / "worktrees"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def commit_file(repo: Path, rel: str, text: str) -> str:
    (repo / rel).write_text(text)
    git(repo, "add", rel)
    git(repo, "commit", "-q", "-m", f"{rel}: {text.strip()}")
    return git(repo, "rev-parse", "HEAD").strip()


def test_a_worktree_holds_exactly_its_commit_and_rev_parse_works_inside(tmp_path):
    repo = make_repo(tmp_path / "ws", {"train.py": "v = 1\n", "data/a.txt": "a\n"})
    first = git(repo, "rev-parse", "HEAD").strip()
    commit_file(repo, "train.py", "v = 2\n")
    (repo / "scratch.txt").write_text("untracked\n")

    tree = worktrees.create(repo, "run-1", first)

    assert tree.path == repo.resolve() / ".mlr" / "worktrees" / "run-1"
    assert snapshot(tree.path) == {"train.py": b"v = 1\n", "data/a.txt": b"a\n"}
    assert git(tree.path, "rev-parse", "HEAD").strip() == first
    worktrees.remove(tree)
    assert not tree.path.exists()
    assert worktree_list(repo) == [str(repo)]
    assert leftovers(repo) == []


def test_a_commit_that_does_not_exist_is_one_line_and_leaves_nothing(tmp_path):
    repo = make_repo(tmp_path / "ws")
    with pytest.raises(WorktreeError) as caught:
        worktrees.create(repo, "run-1", "0123456789abcdef0123456789abcdef01234567")
    assert "no commit" in str(caught.value) and "\n" not in str(caught.value)
    assert leftovers(repo) == [] and worktree_list(repo) == [str(repo)]


def test_a_run_id_that_is_not_a_folder_name_is_refused(tmp_path):
    repo = make_repo(tmp_path / "ws")
    for bad in ("../x", "-f", "a/b", ""):
        with pytest.raises(WorktreeError):
            worktrees.create(repo, bad, "HEAD")
    assert leftovers(repo) == []


HOLDER = """
import sys, time
from mlr_copilot.workspace import worktrees
tree = worktrees.create(sys.argv[1], sys.argv[2], "HEAD")
print(tree.path, flush=True)
time.sleep(60)
"""


def hold_worktree(repo: Path, run_id: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(repo), run_id], stdout=subprocess.PIPE,
                              text=True, env=env)
    assert holder.stdout is not None
    assert holder.stdout.readline().strip().endswith(run_id)
    return holder


def test_a_crash_leaves_no_worktree_after_the_next_starts_prune(tmp_path):
    repo = make_repo(tmp_path / "ws")
    crashed = hold_worktree(repo, "crashed")
    alive = hold_worktree(repo, "alive")
    try:
        os.kill(crashed.pid, signal.SIGKILL)
        crashed.wait()
        assert "crashed" in leftovers(repo)

        assert worktrees.prune(repo) == ["crashed"]

        assert leftovers(repo) == ["alive", "alive.owner.json"]
        assert worktree_list(repo) == [str(repo), str(repo / ".mlr" / "worktrees" / "alive")]
    finally:
        alive.kill()
        alive.wait()
    assert worktrees.prune(repo) == ["alive"]
    assert leftovers(repo) == [] and worktree_list(repo) == [str(repo)]


EXPERIMENT = """
import os, pathlib, subprocess, time
head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
time.sleep(0.5)
out = pathlib.Path(os.environ["MLR_OUTPUT_DIR"])
(out / "seen.txt").write_text(head + " " + pathlib.Path("train.py").read_text())
"""


def test_the_users_checkout_is_untouched_while_two_runs_of_other_commits_execute(tmp_path):
    repo = make_repo(tmp_path / "ws", {"train.py": "v = 1\n", "notes.md": "n\n"})
    commits = [git(repo, "rev-parse", "HEAD").strip(), commit_file(repo, "train.py", "v = 2\n")]
    commit_file(repo, "train.py", "v = 3\n")
    (repo / "notes.md").write_text("being edited\n")
    (repo / "staged.py").write_text("s\n")
    git(repo, "add", "staged.py")
    before = {**snapshot(repo), "INDEX": (repo / ".git" / "index").read_bytes(), "HEAD": (repo / ".git" / "HEAD").read_bytes()}
    state = git(repo, "status", "--porcelain=v2", "--branch")

    with ThreadPoolExecutor(2) as pool:
        trees = list(pool.map(lambda pair: worktrees.create(repo, f"run-{pair[0]}", pair[1]), enumerate(commits)))
    runs = [subprocess.Popen([sys.executable, "-c", EXPERIMENT], cwd=tree.path, env=worktrees.run_env(tree, os.environ))
            for tree in trees]
    # the user keeps editing while both run
    editor = threading.Thread(target=lambda: [((repo / "notes.md").write_text("being edited\n"), time.sleep(0.05))
                                              for _ in range(5)])
    editor.start()
    assert [run.wait(timeout=60) for run in runs] == [0, 0]
    editor.join()
    for tree in trees:
        worktrees.remove(tree)

    after = {**snapshot(repo), "INDEX": (repo / ".git" / "index").read_bytes(), "HEAD": (repo / ".git" / "HEAD").read_bytes()}
    assert {k: v for k, v in after.items() if not k.startswith(".mlr/")} == before
    assert git(repo, "status", "--porcelain=v2", "--branch") == state
    seen = [(repo / ".mlr" / "runs" / f"run-{i}" / "seen.txt").read_text() for i in range(2)]
    assert seen == [f"{commits[0]} v = 1\n", f"{commits[1]} v = 2\n"]
    assert worktree_list(repo) == [str(repo)]


def test_a_full_disk_while_checking_out_is_one_line_and_leaves_nothing(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("simulating a full disk needs a tiny tmpfs, which only root can mount")
    repo = make_repo(tmp_path / "ws", {"big.bin": "x" * 400_000, "train.py": "v = 1\n"})
    folder = repo / ".mlr" / "worktrees"
    folder.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        with pytest.raises(WorktreeError) as caught:
            worktrees.create(repo, "run-1", "HEAD")
        message = str(caught.value)
        assert "\n" not in message and "run-1" in message and "kB free" in message, message
        assert leftovers(repo) == []
        assert worktree_list(repo) == [str(repo)]
        assert not (repo / ".git" / "worktrees" / "run-1").exists()
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_outputs_are_kept_per_run_beside_the_runs_record(tmp_path):
    repo = make_repo(tmp_path / "ws")
    path = worktrees.output_dir(repo, "run-7")
    assert path == repo.resolve() / ".mlr" / "runs" / "run-7" and path.is_dir()
    assert worktrees.output_env(path) == {"MLR_OUTPUT_DIR": str(path)}
    with worktrees.checked_out(repo, "run-7", "HEAD") as tree:
        env = worktrees.run_env(tree, {"PATH": "/bin", "GIT_DIR": str(repo / ".git"), "GIT_INDEX_FILE": "x"})
    assert env == {"PATH": "/bin", "MLR_OUTPUT_DIR": str(path), "MLR_RUN_ID": "run-7", "MLR_COMMIT": tree.commit}


def test_making_a_worktree_runs_no_hook_or_filter_the_repository_names(tmp_path):
    repo = make_repo(tmp_path / "ws", {"train.py": "v = 1\n", ".gitattributes": "*.py filter=planted\n"})
    planted = tmp_path / "planted-ran"
    hook = repo / ".git" / "hooks" / "post-checkout"
    hook.write_text(f"#!/bin/sh\ntouch {planted}\n")
    hook.chmod(0o755)
    git(repo, "config", "filter.planted.smudge", f"sh -c 'touch {planted}; cat'")
    git(repo, "config", "core.fsmonitor", f"touch {planted}")

    with worktrees.checked_out(repo, "run-1", "HEAD") as tree:
        assert (tree.path / "train.py").read_text() == "v = 1\n"
    assert not planted.exists()


CONTENDER = """
import sys, time
from mlr_copilot.workspace import worktrees
repo, name, each, start = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
time.sleep(max(0.0, start - time.time()))
for i in range(each):
    tree = worktrees.create(repo, f"{name}-{i}", "HEAD")
    worktrees.remove(tree)
print("ALL MADE", flush=True)
"""


def test_three_processes_making_and_removing_worktrees_at_once_all_succeed(tmp_path):
    # git alone fails here (`failed to read .git/worktrees/<id>/commondir`) when one process
    # adds a worktree while another removes one: the processes take turns through a file lock
    repo = make_repo(tmp_path / "ws")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    start = time.time() + 1.5  # both imported and waiting
    procs = [subprocess.Popen([sys.executable, "-c", CONTENDER, str(repo), f"p{n}", "40", str(start)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for n in range(3)]
    outcomes = [proc.communicate(timeout=300) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0], [err for _, err in outcomes]
    assert all("ALL MADE" in out for out, _ in outcomes)
    assert worktree_list(repo) == [str(repo)] and leftovers(repo) == []
    assert not (repo / ".git" / "worktrees").exists() or list((repo / ".git" / "worktrees").iterdir()) == []


def test_a_lock_held_too_long_is_one_line(tmp_path, monkeypatch):
    repo = make_repo(tmp_path / "ws")
    monkeypatch.setattr(worktrees, "LOCK_TIMEOUT_S", 0.3)
    lock = repo / ".mlr" / worktrees.LOCK_FILE
    lock.parent.mkdir(exist_ok=True)
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, sys, time\nf = open(sys.argv[1], 'a')\n"
                               "fcntl.flock(f, fcntl.LOCK_EX)\nprint('held', flush=True)\ntime.sleep(30)", str(lock)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(WorktreeError) as caught:
            worktrees.create(repo, "run-1", "HEAD")
        assert "\n" not in str(caught.value) and "worktrees.lock" in str(caught.value)
        assert leftovers(repo) == []
    finally:
        holder.kill()
        holder.wait()
    # a killed holder frees the lock
    with worktrees.checked_out(repo, "run-2", "HEAD") as tree:
        assert (tree.path / "train.py").exists()


def test_an_ignored_entry_is_linked_unless_it_holds_a_secret_at_any_depth_or_is_too_large(tmp_path, monkeypatch, caplog):
    repo = make_repo(tmp_path / "ws", {".gitignore": ".mlr/\ndata/\nraw/\nhuge/\ncache.bin\n.env\n"})
    (repo / "data" / "train").mkdir(parents=True)
    (repo / "data" / "train" / "rows.csv").write_text("a\n")
    (repo / "raw" / "a" / "b" / "c" / "d").mkdir(parents=True)
    (repo / "raw" / "a" / "b" / "c" / "d" / "service-account.json").write_text("{}")
    (repo / "huge").mkdir()
    for i in range(50):
        (repo / "huge" / f"{i}.bin").write_text("")
    (repo / "cache.bin").write_text("")
    (repo / ".env").write_text("K=v\n")
    monkeypatch.setattr(worktrees, "SCAN_LIMIT", 20)
    with caplog.at_level(logging.WARNING), worktrees.checked_out(repo, "run-1", "HEAD") as tree:
        linked = sorted(p.name for p in tree.path.iterdir() if p.is_symlink())
        assert linked == ["cache.bin", "data"]
        assert worktrees.linked_ignored(tree.path, repo) == [repo.resolve() / "cache.bin", repo.resolve() / "data"]
        assert (tree.path / "data" / "train" / "rows.csv").read_text() == "a\n"
    [warning] = [r.getMessage() for r in caplog.records if "huge" in r.getMessage()]
    assert "not shown to runs" in warning and "\n" not in warning
    assert (repo / "data" / "train" / "rows.csv").exists() and len(list((repo / "huge").iterdir())) == 50
