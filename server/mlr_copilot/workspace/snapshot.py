"""A run of the user's uncommitted working copy runs a hidden commit of it, as `dvc exp run`
does, so that it too executes in its own worktree and can be reproduced.

Policy:

* The snapshot is a commit whose parent is HEAD, kept under `refs/mlr/snapshots/<run-id>`:
  never on a branch, never in `git log` of the user's branches, never collected by `git gc`.
* It holds the working copy as it is on disk: tracked files with their uncommitted changes
  (staged or not; deleted files are absent) and the untracked files git does not ignore.
* Left out, each keeping its state at HEAD: secrets files (`paths.SECRET_NAME`: they would
  otherwise sit in the repository's objects, and Docker runs must not see them), anything
  under `.mlr/` (MLR-Copilot's state), nested repositories, and untracked files over
  `MAX_UNTRACKED_BYTES` (datasets and checkpoints would bloat the repository).
* It is built in a temporary index (`GIT_INDEX_FILE`, a copy of the user's so unchanged files
  are not hashed again): the user's index, HEAD, branch and files stay as they were, byte for
  byte. Every git command goes through `gitsafe`.
* A clean working copy needs no snapshot: `snapshot` returns HEAD itself and says so.
"""

from __future__ import annotations

import logging
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from mlr_copilot.errors import MlrError
from mlr_copilot.state import STATE_DIR
from mlr_copilot.workspace import gitsafe
from mlr_copilot.workspace.paths import is_secret_name
from mlr_copilot.workspace.worktrees import WorktreeError, check_run_id

log = logging.getLogger(__name__)

SNAPSHOT_REFS = "refs/mlr/snapshots/"
# The same bound as for the starter commit's files (`git.STARTER_MAX_FILE_BYTES`).
MAX_UNTRACKED_BYTES = 20 * 1024 * 1024
_IDENTITY = {"GIT_AUTHOR_NAME": "MLR-Copilot", "GIT_AUTHOR_EMAIL": "mlr-copilot@localhost",
             "GIT_COMMITTER_NAME": "MLR-Copilot", "GIT_COMMITTER_EMAIL": "mlr-copilot@localhost"}
_TIMEOUT_S = 300.0


class SnapshotError(MlrError):
    """The working copy could not be snapshotted; the message says why."""


@dataclass(frozen=True)
class Snapshot:
    """The commit a run executes; `uncommitted` when it is a snapshot of uncommitted work
    (then `ref` names it), else HEAD itself."""

    commit: str
    uncommitted: bool
    ref: str | None = None
    # paths whose working-copy state the snapshot left out (see the module's policy)
    left_out: tuple[str, ...] = ()


def _git(root: Path, *args: str, index: Path | None = None, stdin: bytes | None = None,
         extra: dict[str, str] | None = None) -> bytes:
    env = {**({"GIT_INDEX_FILE": str(index)} if index is not None else {}), **(extra or {})}
    try:
        done = gitsafe.run(root, *args, input=stdin, env=env, timeout=_TIMEOUT_S)
    except (OSError, TimeoutError) as exc:
        raise SnapshotError(f"cannot snapshot the working copy: {exc}") from None
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        why = lines[-1] if lines else f"git {args[0]} exited with {done.returncode}"
        raise SnapshotError(f"cannot snapshot the working copy: {why}")
    return done.stdout


def _excluded(path: str) -> bool:
    parts = PurePosixPath(path).parts
    return parts[0] == STATE_DIR or any(is_secret_name(part) for part in parts)


def _listed(root: Path, index: Path, *which: str) -> list[str]:
    out = _git(root, "ls-files", "-z", *which, index=index)
    return [p for p in out.decode("utf-8", "surrogateescape").split("\0") if p]


def _oversized(path: Path) -> bool:
    try:
        info = path.lstat()
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and info.st_size > MAX_UNTRACKED_BYTES


def _changed(root: Path, index: Path) -> tuple[list[str], list[str]]:
    """(paths to take from the working copy, paths left out) against the index copy."""
    tracked = _listed(root, index, "--modified", "--deleted")
    untracked = _listed(root, index, "--others", "--exclude-standard")
    taken: list[str] = []
    left: list[str] = []
    for path in dict.fromkeys(tracked):
        (left if _excluded(path) else taken).append(path)
    for path in untracked:
        # a nested repository is listed as its folder
        skip = path.endswith("/") or _excluded(path) or _oversized(root / path)
        (left if skip else taken).append(path)
    return taken, left


def _reset_excluded(root: Path, index: Path, head: str) -> list[str]:
    """Put every excluded path the index has changed (say a staged `.env`) back as at HEAD;
    those paths."""
    out = _git(root, "diff-index", "--cached", "-z", "--name-only", "--no-renames", head, "--", index=index)
    paths = [p for p in out.decode("utf-8", "surrogateescape").split("\0") if p and _excluded(p)]
    if not paths:
        return []
    listed = _git(root, "ls-tree", "-z", "--full-tree", head, "--", *paths)
    at_head = {entry.split(b"\t", 1)[1]: entry for entry in listed.split(b"\0") if entry}
    lines = [at_head.get(p.encode("utf-8", "surrogateescape"),
                         b"0 0000000000000000000000000000000000000000\t" + p.encode("utf-8", "surrogateescape"))
             for p in paths]
    _git(root, "update-index", "-z", "--index-info", index=index, stdin=b"\0".join(lines) + b"\0")
    return paths


def _identity(root: Path) -> dict[str, str]:
    """The configured identity where there is one, else MLR-Copilot's."""
    done = gitsafe.run(root, "var", "GIT_COMMITTER_IDENT")
    return {} if done.returncode == 0 else _IDENTITY


def snapshot(workspace: Path | str, run_id: str) -> Snapshot:
    """The commit a run of the working copy executes: HEAD when nothing is uncommitted, else a
    new hidden commit `refs/mlr/snapshots/<run-id>` of the working copy. SnapshotError (one
    line) when the workspace has no commit or git fails; nothing is left behind then."""
    root = Path(workspace).resolve()
    try:
        check_run_id(run_id)
    except WorktreeError as exc:
        raise SnapshotError(str(exc)) from None
    found = gitsafe.run(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    head = found.stdout.decode().strip()
    if found.returncode != 0 or not head:
        raise SnapshotError(f"cannot snapshot {root}: it is not a git repository with a commit")
    user_index = Path(_git(root, "rev-parse", "--path-format=absolute", "--git-path", "index").decode().strip())
    scratch = Path(tempfile.mkdtemp(prefix="mlr-snapshot-"))
    try:
        index = scratch / "index"
        if user_index.is_file():
            # with its time: git tells a file changed in the same instant as the index was
            # written ("racily clean") by comparing the two times
            shutil.copy2(user_index, index)
        else:
            _git(root, "read-tree", head, index=index)
        taken, left = _changed(root, index)
        if taken:
            _git(root, "update-index", "-z", "--add", "--remove", "--stdin", index=index,
                 stdin=b"\0".join(p.encode("utf-8", "surrogateescape") for p in taken) + b"\0")
        left += [path for path in _reset_excluded(root, index, head) if path not in left]
        tree = _git(root, "write-tree", index=index).decode().strip()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if tree == _git(root, "rev-parse", f"{head}^{{tree}}").decode().strip():
        return Snapshot(head, uncommitted=False, left_out=tuple(left))
    return _commit(root, run_id, head, tree, tuple(left))


def _commit(root: Path, run_id: str, head: str, tree: str, left: tuple[str, ...]) -> Snapshot:
    ref = SNAPSHOT_REFS + run_id
    message = f"MLR-Copilot snapshot of the uncommitted working copy for run {run_id}\n"
    commit = _git(root, "commit-tree", tree, "-p", head, stdin=message.encode(), extra=_identity(root)).decode().strip()
    _git(root, "update-ref", "-m", f"mlr: snapshot for run {run_id}", ref, commit, "")
    return Snapshot(commit, uncommitted=True, ref=ref, left_out=left)
