"""Reused run worktrees (workspace/worktree_pool.py): real git, real files, real flocks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mlr_copilot.workspace import worktree_pool, worktrees
from tests.gitutil import commit, git, make_repo


def two_commits(path: Path) -> tuple[Path, str, str]:
    """A repository whose commits A and B (HEAD) differ in version.txt only."""
    repo = make_repo(path, {"version.txt": "A\n", "src/model.py": "LAYERS = 2\n", "keep.txt": "same\n",
                            "linked.txt": "tracked\n", ".gitignore": ".mlr/\n*.ckpt\n"})
    a = git(repo, "rev-parse", "HEAD").strip()
    return repo, a, commit(repo, {"version.txt": "B\n"}, "B")


def tracked_files(tree: Path, rev: str) -> dict[str, bytes]:
    names = git(tree, "ls-tree", "-r", "--name-only", rev).split()
    return {name: git(tree, "show", f"{rev}:{name}").encode() for name in names}


def everything_in(tree: Path) -> dict[str, bytes]:
    """Every entry of the tree but `.git`: files by content, anything else by its kind."""
    found: dict[str, bytes] = {}
    for path in sorted(tree.rglob("*")):
        rel = path.relative_to(tree).as_posix()
        if rel == ".git":
            continue
        if path.is_symlink():
            found[rel] = b"<symlink>"
        elif path.is_file():
            found[rel] = path.read_bytes()
    return found


def idle(repo: Path) -> list[str]:
    folder = repo / ".mlr" / "worktrees"
    return sorted(p.name for p in folder.iterdir() if p.is_dir())


def listed(repo: Path) -> list[str]:
    return [line.split()[0] for line in git(repo, "worktree", "list").splitlines()]


def test_the_next_run_reuses_the_tree_and_rewrites_only_the_files_that_differ(tmp_path):
    repo, a, b = two_commits(tmp_path / "ws")
    with worktree_pool.leased(repo, "run-1", a, 2) as first:
        assert first.path == repo.resolve() / ".mlr" / "worktrees" / "pool-0" and first.run_id == "run-1"
        assert everything_in(first.path) == tracked_files(repo, a)
        unchanged = (first.path / "keep.txt").stat().st_ino
    assert idle(repo) == ["pool-0"] and not list((repo / ".mlr" / "worktrees").glob("*.owner.json"))

    with worktree_pool.leased(repo, "run-2", b, 2, prefer=0) as second:
        assert second.path == first.path and second.commit == b
        assert everything_in(second.path) == tracked_files(repo, b)
        assert git(second.path, "rev-parse", "HEAD").strip() == b
        assert (second.path / "keep.txt").stat().st_ino == unchanged  # not written again
        assert worktrees.run_env(second, {})["MLR_RUN_ID"] == "run-2"
    assert listed(repo) == [str(repo), str(first.path)]


def test_nothing_a_run_leaves_reaches_the_next_run_and_nothing_outside_is_followed(tmp_path):
    repo, a, b = two_commits(tmp_path / "ws")
    victim = tmp_path / "victim"
    (victim / "src").mkdir(parents=True)
    (victim / "src" / "model.py").write_text("VICTIM\n")
    (victim / "secret.txt").write_text("VICTIM\n")
    (victim / "hard.txt").write_text("VICTIM\n")
    before = everything_in(victim)

    with worktree_pool.leased(repo, "run-1", a, 1) as tree:
        t = tree.path
        registered = (t / ".git").stat().st_ino  # written by `worktree add` only: the same tree while it stays
        (t / "notes.txt").write_text("untracked")
        (t / "weights.ckpt").write_text("ignored")
        (t / "cache" / "deep").mkdir(parents=True)
        (t / "cache" / "deep" / "x").write_text("x")
        subprocess.run(["git", "init", "-q", str(t / "nested")], check=True)
        (t / "nested" / "f.txt").write_text("in a nested repository")
        (t / "elsewhere.git").write_text(f"gitdir: {repo / '.git'}\n")
        (t / ".gitattributes").write_text("* filter=evil\n")
        (t / "out").symlink_to(victim)
        # a tracked folder and a tracked file replaced by symlinks leading out of the tree
        os.rename(t / "src", t / "src-moved")
        (t / "src").symlink_to(victim / "src")
        (t / "version.txt").unlink()
        (t / "version.txt").symlink_to(victim / "secret.txt")
        # a tracked file made a hard link of a file outside: git replaces it, never writes into it
        (t / "linked.txt").unlink()
        os.link(victim / "hard.txt", t / "linked.txt")
        # a tracked file changed with its time put back
        info = (t / "keep.txt").stat()
        (t / "keep.txt").write_text("CHANGED\n")
        os.utime(t / "keep.txt", ns=(info.st_atime_ns, info.st_mtime_ns))
        (t / "locked").mkdir()
        (t / "locked" / "f").write_text("x")
        (t / "locked").chmod(0o500)

    assert everything_in(victim) == before
    with worktree_pool.leased(repo, "run-2", b, 1) as again:
        assert again.path == t and (t / ".git").stat().st_ino == registered
        assert everything_in(t) == tracked_files(repo, b)
        assert not (t / "src").is_symlink() and not (t / "version.txt").is_symlink()
        assert git(t, "--no-optional-locks", "status", "--porcelain", "--ignored", "--untracked-files=all") == ""
    assert everything_in(victim) == before
    # the same commit again: the tree holds it exactly
    with worktree_pool.leased(repo, "run-3", b, 1) as same:
        assert same.path == t
        assert (t / ".git").stat().st_ino == registered and everything_in(t) == tracked_files(repo, b)


def test_a_tree_whose_git_records_a_run_wrote_is_removed_and_no_program_it_names_runs(tmp_path):
    repo, a, b = two_commits(tmp_path / "ws")
    marker = tmp_path / "filter-ran"
    git(repo, "config", "extensions.worktreeConfig", "true")
    with worktree_pool.leased(repo, "run-1", a, 1) as tree:
        gitdir = Path(git(tree.path, "rev-parse", "--absolute-git-dir").strip())
        (gitdir / "config.worktree").write_text(f'[filter "evil"]\n\tsmudge = touch {marker}\n')
        (tree.path / ".gitattributes").write_text("* filter=evil\n")
        (tree.path / "version.txt").write_text("tampered\n")
    assert idle(repo) == [] and listed(repo) == [str(repo)]
    with worktree_pool.leased(repo, "run-2", b, 1) as fresh:
        assert everything_in(fresh.path) == tracked_files(repo, b)
        assert not (Path(git(fresh.path, "rev-parse", "--absolute-git-dir").strip()) / "config.worktree").exists()
    assert not marker.exists()

    # a skip-worktree flag in the index would keep a changed file: the index changed, the tree goes
    with worktree_pool.leased(repo, "run-3", a, 1) as tree:
        git(tree.path, "update-index", "--skip-worktree", "keep.txt")
        (tree.path / "keep.txt").write_text("kept by the flag\n")
    assert idle(repo) == []
    with worktree_pool.leased(repo, "run-4", a, 1) as tree:
        assert (tree.path / "keep.txt").read_text() == "same\n"
        first = tree.path

    # `.git` replaced by a repository of the run's own
    with worktree_pool.leased(repo, "run-5", a, 1) as tree:
        assert tree.path == first
        (tree.path / ".git").unlink()
        subprocess.run(["git", "init", "-q", str(tree.path)], check=True)
    assert idle(repo) == [] and listed(repo) == [str(repo)]
    with worktree_pool.leased(repo, "run-6", b, 1) as tree:
        assert everything_in(tree.path) == tracked_files(repo, b)


def test_the_pool_keeps_at_most_its_size_and_shrinks_with_it(tmp_path):
    repo, a, b = two_commits(tmp_path / "ws")
    taken = [worktree_pool.take(repo, f"run-{n}", a if n % 2 else b, 2, prefer=1) for n in range(3)]
    names = [tree.path.name for tree, _ in taken]
    assert names == ["pool-1", "pool-0", "run-2"]  # the slot's own first; the third run's own tree
    assert [lease is None for _, lease in taken] == [False, False, True]
    for tree, lease in taken:
        if lease is None:
            worktrees.remove(tree)
        else:
            worktree_pool.give_back(tree, 2)
            os.close(lease)
    assert idle(repo) == ["pool-0", "pool-1"]

    with worktree_pool.leased(repo, "run-3", a, 1):
        assert idle(repo) == ["pool-0"]
    with worktree_pool.leased(repo, "run-4", a, 0) as own:
        assert own.path.name == "run-4" and idle(repo) == ["run-4"]
    assert idle(repo) == [] and listed(repo) == [str(repo)]


def test_a_crashed_run_leaves_no_tree_but_a_leased_one_is_never_pruned(tmp_path):
    repo, a, _b = two_commits(tmp_path / "ws")
    # a process that leases a pooled tree, leaves a file in it and dies without handing it back
    script = (f"import os\nfrom mlr_copilot.workspace import worktree_pool\n"
              f"tree, lease = worktree_pool.take({str(repo)!r}, 'run-1', {a!r}, 1)\n"
              f"(tree.path / 'leftover.txt').write_text('x')\nos._exit(0)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, "-c", script], env=env, check=True)
    folder = repo / ".mlr" / "worktrees"
    assert (folder / "pool-0" / "leftover.txt").exists() and (folder / "pool-0.owner.json").exists()

    assert worktrees.prune(repo) == ["run-1"]
    assert idle(repo) == [] and listed(repo) == [str(repo)]

    # leased by this process: its owner file naming a dead process does not make it stale
    tree, lease = worktree_pool.take(repo, "run-2", a, 1)
    assert lease is not None
    try:
        (folder / "pool-0.owner.json").write_text((folder / "pool-0.owner.json").read_text().replace(
            f'"pid": {os.getpid()}', '"pid": 999999999'))
        assert worktrees.prune(repo) == []
        assert (tree.path / "version.txt").exists()
    finally:
        worktree_pool.give_back(tree, 1)
        os.close(lease)
    assert idle(repo) == ["pool-0"]
