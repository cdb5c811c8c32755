"""Refs that come from outside (a user's argument, an editor's command, an LLM's text, a state
file of a cloned workspace) are checked here before any git command sees them.

git reads an argument that starts with `-` as an option wherever it stands before `--`, so a
"branch" `--output=PATH` makes `git log` write its output over any file. Each check refuses a
leading `-` outright and asks git whether the name is a ref; callers pass on only what a check
returned. A name that is well formed but absent is an error naming what exists, never an empty
answer.
"""

from __future__ import annotations

from pathlib import Path

from mlr_copilot.errors import MlrError
from mlr_copilot.workspace.gitsafe import run_text

# How many branch names an error lists before it says how many more there are.
_LISTED = 12
# Longer than any ref a filesystem can hold; an argument this long is no name but a payload.
_MAX_LENGTH = 1024


class BadRefError(MlrError):
    """A branch or commit argument that is not one (or names none that exists)."""


def shown(name: str) -> str:
    """`name` quoted for a one-line message: escapes made visible, a long one cut."""
    return repr(name if len(name) <= 200 else name[:200] + "...")


def _refuse_option(kind: str, name: object) -> str:
    """`name` if git may see it at all: a string, not an option, no NUL (which no process
    argument can carry), encodable, and of a sane length."""
    if not isinstance(name, str) or not name.strip():
        raise BadRefError(f"a {kind} name must be a non-empty string, not {shown(str(name))}")
    if name.startswith("-"):
        raise BadRefError(f"{shown(name)} is not a {kind} name: names starting with '-' are refused")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRefError(f"{shown(name)} is not a {kind} name: it is not valid text") from None
    if "\0" in name or len(name) > _MAX_LENGTH:
        raise BadRefError(f"{shown(name)} is not a {kind} name")
    return name


def check_branch_name(name: object) -> str:
    """`name` if it can name a local branch; BadRefError otherwise. The check is git's own
    (`check-ref-format` on `refs/heads/<name>`), without the `@{-1}` expansion that
    `--branch` would do."""
    name = _refuse_option("branch", name)
    if name == "HEAD" or run_text("/", "check-ref-format", f"refs/heads/{name}").returncode != 0:
        raise BadRefError(f"{shown(name)} is not a valid branch name")
    return name


def branches(workspace: Path | str) -> list[str]:
    out = run_text(workspace, "for-each-ref", "--format=%(refname:short)", "refs/heads/")
    return out.stdout.split() if out.returncode == 0 else []


def branch_ref(workspace: Path | str, name: object) -> str:
    """The full ref of the existing branch `name` (`refs/heads/<name>`, else a remote-tracking
    `refs/remotes/<name>` such as `origin/main`); BadRefError naming the local branches there
    are when there is none."""
    name = check_branch_name(name)
    for ref in (f"refs/heads/{name}", f"refs/remotes/{name}"):
        if run_text(workspace, "show-ref", "--verify", "-q", ref).returncode == 0:
            return ref
    known = branches(workspace)
    listed = ", ".join(known[:_LISTED]) + (f" and {len(known) - _LISTED} more" if len(known) > _LISTED else "")
    raise BadRefError(f"no branch {shown(name)}; branches: {listed or 'none'}")


def commit_of(workspace: Path | str, rev: object) -> str:
    """The full sha of the commit `rev` names (a branch, a tag, a sha, `HEAD~1`); BadRefError
    when it names none."""
    rev = _refuse_option("commit", rev)
    out = run_text(workspace, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}")
    if out.returncode != 0:
        raise BadRefError(f"no commit {shown(rev)} in this repository")
    return out.stdout.strip()
