"""A run's commit checked out for the researcher to look at, change or rerun by hand: a git
worktree of its own, detached at the commit the run ran (for a run of uncommitted work, its
snapshot commit), beside the workspace.

Policy:

* Never inside the workspace (its files, `.mlr/`): the default folder is
  `<workspace>/../<workspace name>-run-<run id>`, and a folder asked for inside is refused.
* Never over anything: a path that exists (a folder, even empty; a file; a dangling link) is
  refused, and its parent must exist already, so a mistyped path creates no folders.
* Detached (`git worktree add --detach`): no branch is created, and the checkout's HEAD, index
  and files are untouched. The researcher removes it with `git worktree remove PATH`.
* A commit that no longer exists (its snapshot ref deleted and collected) is one line, and
  nothing is made.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from ..errors import MlrError
from ..runners.model import RunRecord
from . import gitsafe
from .refs import BadRefError, commit_of

_GIT_TIMEOUT_S = 300.0


class RunCheckout(BaseModel):
    model_config = ConfigDict(frozen=True)

    run_id: str
    commit: str
    path: str


def default_path(workspace: Path, run_id: str) -> Path:
    return workspace.parent / f"{workspace.name}-run-{run_id}"


def checkout_run(workspace: Path, record: RunRecord, path: Path | str | None = None) -> RunCheckout:
    """Check out the commit `record` ran as a new worktree at `path` (default `default_path`);
    MlrError (one line) when it cannot be made, and then nothing was."""
    root = workspace.resolve()
    if not record.commit:
        raise MlrError(f"run {record.id} has no commit to check out (it ran outside git)")
    try:
        commit = commit_of(root, f"{record.commit}^{{commit}}")
    except BadRefError:
        raise MlrError(f"run {record.id}'s commit {record.commit[:12]} is no longer in the repository") from None
    target = Path(path).expanduser() if path else default_path(root, record.id)
    target = (target if target.is_absolute() else Path.cwd() / target).absolute()
    if target.exists() or target.is_symlink():
        raise MlrError(f"{target} already exists: choose a folder that does not")
    resolved = target.parent.resolve() / target.name
    if resolved == root or resolved.is_relative_to(root):
        raise MlrError(f"{target} is inside the workspace: choose a folder outside {root}")
    if not target.parent.is_dir():
        raise MlrError(f"{target.parent} is not a folder: the checkout goes into an existing one")
    done = gitsafe.run(root, "worktree", "add", "--detach", "--quiet", "--", str(resolved), commit, timeout=_GIT_TIMEOUT_S)
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        # git's `fatal:` line is the cause; it leaves nothing behind when the add fails
        raise MlrError(f"cannot check out {commit[:12]} at {resolved}: {lines[-1] if lines else f'git exited with {done.returncode}'}")
    return RunCheckout(run_id=record.id, commit=commit, path=str(resolved))
