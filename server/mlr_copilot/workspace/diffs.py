"""The patch from one commit to another, as `compare` and a search node's comparison show it:
one `git diff` through `gitsafe` (no program the repository names runs) lists the changed
paths and gives the patch with its stat. A secrets file among the paths is named, never shown:
the patch is then taken again without it (that first answer, secret included, is dropped
unread). No GitPython: `compare` starts within its 120 ms (bench/bench_startup.py)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from mlr_copilot.workspace import gitsafe
from mlr_copilot.workspace.errors import GitWorkspaceError
from mlr_copilot.workspace.paths import is_secret_name
from mlr_copilot.workspace.refs import commit_of

# a record's commit is a full sha: git is asked about anything else before it is diffed
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
# Every path handed back to git names one file (never a glob) from the repository's top, as
# `--raw` gives it (the workspace may be a folder within the repository), whatever the
# environment says of pathspec magic.
_PATHSPEC = ":(top,literal)"
_MAGIC = {"GIT_LITERAL_PATHSPECS": "0", "GIT_GLOB_PATHSPECS": "0", "GIT_NOGLOB_PATHSPECS": "0"}
_PATCH = ("--stat", "--patch", "--no-color", "--no-ext-diff", "--no-textconv")


def diff_between(root: Path | str, old: str, new: str) -> tuple[str, list[str]]:
    """The patch (stat first) from commit `old` to commit `new` and the secrets files it leaves
    out; BadRefError for a commit the repository lacks or a name that is no commit."""
    old, new = _commit(root, old), _commit(root, new)
    paths, patch = _split(_diff(root, old, new, ("--raw", "-z")))
    secret = sorted({shown for raw, shown in paths if any(is_secret_name(part) for part in shown.split("/"))})
    if secret:
        rest = [raw for raw, shown in paths if shown not in secret]
        patch = _diff(root, old, new, paths=rest) if rest else b""
    text = patch.decode("utf-8", "replace")
    return text.removesuffix("\n"), secret


def _commit(root: Path | str, rev: str) -> str:
    return rev if isinstance(rev, str) and _SHA.fullmatch(rev) else commit_of(root, rev)


def _diff(root: Path | str, old: str, new: str, options: tuple[str, ...] = (), paths: list[str] | None = None) -> bytes:
    done = gitsafe.run(root, "diff", *options, *_PATCH, "--end-of-options", old, new, "--",
                       *(_PATHSPEC + path for path in paths or ()), env=_MAGIC)
    if done.returncode != 0:
        for rev in (old, new):
            commit_of(root, rev)  # the one the repository lacks, said as any other bad commit
        detail = done.stderr.decode("utf-8", "replace").strip().replace("\n", " ")
        raise GitWorkspaceError(f"git diff failed in {root}: {detail}")
    return done.stdout


def _split(listed: bytes) -> tuple[list[tuple[str, str]], bytes]:
    """The paths of `git diff --raw -z --stat --patch`, each as git's argument and as shown, and
    the stat and patch as `git diff --stat --patch` gives them: -z ends each raw field with a
    NUL and puts a NUL where the blank line between the stat and the patch is."""
    paths: list[bytes] = []
    at = 0
    while listed.startswith(b":", at):
        meta = listed.index(b"\0", at)
        # a rename or a copy (`R100`, `C075`, as `diff.renames` has it) names both paths
        count = 2 if listed[at:meta].rsplit(b" ", 1)[-1][:1] in (b"R", b"C") else 1
        at = meta + 1
        for _ in range(count):
            end = listed.index(b"\0", at)
            paths.append(listed[at:end])
            at = end + 1
    stat, separated, patch = listed[at:].partition(b"\0")
    return ([(os.fsdecode(p), p.decode("utf-8", "replace")) for p in paths],
            stat + b"\n" + patch if separated else stat)
