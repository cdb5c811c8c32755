"""The patch between two commits from one `git diff` (workspace/diffs.py): the same text as
`git diff --stat --patch` gives, secrets files named and never shown, through gitsafe."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlr_copilot.workspace.diffs import diff_between
from mlr_copilot.workspace.refs import BadRefError
from tests.gitutil import commit, git, make_repo


def reference(repo: Path, old: str, new: str, paths: list[str] | None = None) -> str:
    """What `git diff --stat --patch` prints (the test's own git), trailing newline dropped."""
    pathspec = ["--", *paths] if paths is not None else []
    done = subprocess.run(["git", "diff", "--stat", "--patch", "--no-color", old, new, *pathspec], cwd=repo,
                          capture_output=True, env={**os.environ, "GIT_LITERAL_PATHSPECS": "1"}, check=True)
    return done.stdout.decode("utf-8", "replace").removesuffix("\n")


@pytest.fixture
def changes(tmp_path) -> tuple[Path, str, str]:
    """Two commits between which a file is renamed, one turned into a link, one made
    executable, one deleted, a binary added, and paths git quotes."""
    repo = make_repo(tmp_path / "repo", {"train.py": "print(1)\n", "kept.txt": "a\nb\nc\n" * 20, "link": "x\n",
                                         "run.sh": "echo\n", "gone.txt": "bye\n", "sp ace/é.txt": "q\n",
                                         "tab\tname.txt": "t\n"})
    old = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "mv", "kept.txt", "moved.txt")
    (repo / "link").unlink()
    (repo / "link").symlink_to("train.py")
    (repo / "run.sh").chmod(0o755)
    (repo / "data.bin").write_bytes(b"\0\1\2")
    new = commit(repo, {"gone.txt": "", "train.py": "print(2)\n", "sp ace/é.txt": "q2\n", "tab\tname.txt": "u\n"}, "two")
    git(repo, "rm", "-q", "gone.txt")
    new = commit(repo, {}, "three")
    return repo, old, new


def test_the_patch_is_git_diffs_own(changes):
    repo, old, new = changes
    patch, secret = diff_between(repo, old, new)
    assert secret == [] and patch == reference(repo, old, new)
    assert "rename from kept.txt" in patch and "Bin 0 -> 3 bytes" in patch and '"sp ace/\\303\\251.txt"' in patch
    assert diff_between(repo, new, new) == ("", [])


def test_secrets_files_are_named_and_their_content_never_shown(changes):
    repo, old, _ = changes
    secret_commit = commit(repo, {".env": "OPENAI_API_KEY=sk-live-1\n", "conf/id_rsa": "KEY\n", "value.txt": "1\n"},
                           "with secrets")
    patch, secret = diff_between(repo, old, secret_commit)
    assert secret == [".env", "conf/id_rsa"]
    assert "sk-live" not in patch and "KEY" not in patch and "+1" in patch
    shown = [p for p in git(repo, "diff", "--name-only", "-z", "--no-renames", old, secret_commit).split("\0")
             if p and p not in secret]
    assert patch == reference(repo, old, secret_commit, shown)
    # a secrets file moved under another name is still named, its content still unshown
    git(repo, "mv", ".env", ".env.prod")
    moved = commit(repo, {}, "moved the key")
    assert diff_between(repo, secret_commit, moved) == ("", [".env", ".env.prod"])


def test_a_workspace_inside_the_repository_diffs_the_whole_commit(tmp_path):
    repo = make_repo(tmp_path / "repo", {"project/train.py": "print(1)\n", "top.txt": "a\n"})
    old = git(repo, "rev-parse", "HEAD").strip()
    new = commit(repo, {"project/train.py": "print(2)\n", "project/.env": "K=1\n", "top.txt": "b\n"}, "two")
    patch, secret = diff_between(repo / "project", old, new)
    # the paths git lists are the repository's; taken again without the secret, from its top
    assert secret == ["project/.env"] and "+print(2)" in patch and "+b" in patch and "K=1" not in patch


def test_one_git_diff_and_no_other_git_for_commits_by_sha(changes, tmp_path):
    """Records name full shas: no `rev-parse` each; the configuration is read once (gitsafe)."""
    repo, old, new = changes
    calls = tmp_path / "calls"
    shim = tmp_path / "bin"
    shim.mkdir()
    real = subprocess.run(["sh", "-c", "command -v git"], capture_output=True, text=True, check=True).stdout.strip()
    (shim / "git").write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {calls}\nexec {real} "$@"\n')
    (shim / "git").chmod(0o755)
    code = ("import sys; from mlr_copilot.workspace.diffs import diff_between; "
            "print(len(diff_between(*sys.argv[1:])[0]))")
    done = subprocess.run([sys.executable, "-c", code, str(repo), old, new], capture_output=True, text=True,
                          env={**os.environ, "PATH": f"{shim}{os.pathsep}{os.environ['PATH']}"})
    assert done.returncode == 0, done.stderr
    commands = [line.split()[1] for line in calls.read_text().splitlines()]
    assert commands == ["config", "diff"]


def test_a_commit_the_repository_lacks_or_a_name_that_is_none(changes, tmp_path):
    repo, old, new = changes
    with pytest.raises(BadRefError, match=f"no commit '{'0' * 40}' in this repository"):
        diff_between(repo, "0" * 40, new)
    with pytest.raises(BadRefError, match="names starting with '-' are refused"):
        diff_between(repo, f"--output={tmp_path / 'owned'}", new)
    assert not (tmp_path / "owned").exists()
    # a name git resolves (a branch, `HEAD~1`) is asked about first, then diffed
    assert diff_between(repo, "HEAD~2", "main") == diff_between(repo, old, new)
