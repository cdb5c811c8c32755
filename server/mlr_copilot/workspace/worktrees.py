"""Where a run executes: the exact tree of its commit in a directory the project manages,
`.mlr/worktrees/<run-id>/`, never the user's checkout, so the user keeps editing (and two runs
of different commits run at once) while experiments run.

Policy:

* A run's tree is a detached git worktree (`git worktree add --detach`): `git rev-parse HEAD`
  works inside it, and it shares the repository's objects, so nothing is copied but the files.
  Measured against `git archive | tar -x` and a temporary index with `git checkout-index
  --prefix` on a 2,000-file workspace (`bench/bench_parallel.py`), the three cost the same
  within noise: all of them spend their time writing the files. The user's HEAD, index,
  branch and files are never touched; only `.git/worktrees/<run-id>/` is added, and removed
  with the worktree.
* Every git command goes through `gitsafe`: no hook (a `post-checkout` hook would otherwise run
  on `worktree add`), filter or fsmonitor the repository names ever runs.
* Before the worktree exists, an owner file `.mlr/worktrees/<run-id>.owner.json` records the
  process that made it (host, pid, start time); it is deleted last, when the worktree is gone.
  `prune` (the engine calls it on start) removes the worktrees whose owner process is gone,
  then `git worktree prune`s, so a crash leaves nothing behind after the next start; a live
  owner's worktree is never touched.
* git is not safe against itself adding and removing worktrees of one repository at once
  (an add reads every other worktree's records): this process's runs take turns, and an add
  that fails is tried again after a moment, for a run another process adds at that instant.
* A failure half way (the commit does not exist, the disk is full) is one-line
  `WorktreeError`, and nothing of the attempt is left: no directory, no `git worktree list`
  entry, no owner file.
* What a run writes that must outlive its worktree (results, checkpoints, predictions) goes to
  `.mlr/runs/<run-id>/` (`output_dir`), beside the run's record `.mlr/runs/<run-id>.json`.
  The experiment learns it from the environment variable `MLR_OUTPUT_DIR` (`run_env` adds it,
  with `MLR_RUN_ID` and `MLR_COMMIT`); a Docker run mounts that folder and sets the variable to
  the path inside the container (`output_env`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import stat
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from mlr_copilot.errors import MlrError
from mlr_copilot.runners.base import owner_alive, run_owner
from mlr_copilot.runners.proctree import start_ticks
from mlr_copilot.state import StateDir, read_json, write_json
from mlr_copilot.workspace import gitsafe
from mlr_copilot.workspace.paths import is_secret_name
from mlr_copilot.workspace.refs import BadRefError, commit_of

log = logging.getLogger(__name__)

WORKTREES = "worktrees"
OUTPUT_ENV = "MLR_OUTPUT_DIR"
RUN_ID_ENV = "MLR_RUN_ID"
# a Docker run sees the worktree without the repository its `.git` file points to: the commit
# is in the environment too
COMMIT_ENV = "MLR_COMMIT"
_GIT_LOCATION = frozenset({"GIT_DIR", "GIT_INDEX_FILE", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_OBJECT_DIRECTORY"})
_OWNER_SUFFIX = ".owner.json"
# A run id becomes a folder name and git's name for the worktree: no separators, no option.
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_GIT_TIMEOUT_S = 120.0
_LOW_SPACE_BYTES = 64 * 1024 * 1024
_ADD_ATTEMPTS = 3
# git is not safe against itself adding and removing worktrees of one repository at once:
# the runs of this process take turns (those of other processes are retried)
_WORKTREE_LOCK = threading.RLock()


class WorktreeError(MlrError):
    """A run's worktree could not be made or removed; the message says why."""


class WorktreeOwner(BaseModel):
    """The process that made a worktree: while it lives, its worktree is in use."""

    run_id: str
    commit: str
    host: str
    pid: int
    started: int | None = None


@dataclass(frozen=True)
class Worktree:
    """A run's checkout of `commit`, at `path`."""

    workspace: Path
    run_id: str
    commit: str
    path: Path


def check_run_id(run_id: str) -> str:
    """`run_id` if it can name a folder and a worktree; WorktreeError otherwise."""
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id) or run_id.endswith(".owner.json"):
        raise WorktreeError(f"{run_id!r} is not a run id (letters, digits, '.', '_', '-'; at most 100)")
    return run_id


def worktrees_dir(workspace: Path | str) -> Path:
    return StateDir(workspace).folder(WORKTREES)


def output_dir(workspace: Path | str, run_id: str) -> Path:
    """`.mlr/runs/<run-id>/`, made if missing: where the run keeps its results, checkpoints and
    predictions (linked from its record)."""
    path = StateDir(workspace).runs / check_run_id(run_id)
    path.mkdir(parents=True, exist_ok=True)
    return path


def output_env(path: Path | str) -> dict[str, str]:
    """The variable telling the experiment where its outputs go (`MLR_OUTPUT_DIR`)."""
    return {OUTPUT_ENV: str(path)}


def _git(workspace: Path, *args: str) -> tuple[bool, str]:
    """Run git in `workspace`; (succeeded, the cause git gave when it failed)."""
    try:
        done = gitsafe.run(workspace, *args, timeout=_GIT_TIMEOUT_S)
    except (OSError, TimeoutError) as exc:
        return False, str(exc)
    lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
    # git's `error:` line names the cause (a file it could not write); the `fatal:` one after it
    # only the step that failed
    causes = [line for line in lines if line.startswith("error:")][:1] + lines[-1:]
    return done.returncode == 0, "; ".join(causes) or f"git exited with {done.returncode}"


def create(workspace: Path | str, run_id: str, rev: str) -> Worktree:
    """Check out the commit `rev` names as `.mlr/worktrees/<run-id>/`, detached, owned by this
    process. WorktreeError (one line) when it cannot be made; nothing is left behind then."""
    root = Path(workspace).resolve()
    check_run_id(run_id)
    try:
        commit = commit_of(root, rev)
    except BadRefError as exc:
        raise WorktreeError(f"cannot run {rev!r}: {exc}") from None
    folder = worktrees_dir(root)
    path, owner_file = folder / run_id, folder / f"{run_id}{_OWNER_SUFFIX}"
    if path.exists() or owner_file.exists():
        raise WorktreeError(f"a worktree for run {run_id} already exists at {path}")
    host, pid = run_owner()
    try:
        write_json(owner_file, WorktreeOwner(run_id=run_id, commit=commit, host=host, pid=pid,
                                             started=start_ticks(pid)).model_dump())
    except OSError as exc:
        raise WorktreeError(f"cannot make a worktree for run {run_id}: {exc.strerror or exc}") from None
    for attempt in range(_ADD_ATTEMPTS):
        with _WORKTREE_LOCK:
            ok, why = _git(root, "worktree", "add", "--detach", "--quiet", "--", str(path), commit)
        if ok:
            link_ignored(root, path)
            return Worktree(root, run_id, commit, path)
        _drop(root, path)
        # git reads every other worktree's records while it adds one: another process adding
        # one at that instant can make it fail (`failed to read .../commondir`)
        time.sleep(0.1 * (attempt + 1))
    _discard(root, path, owner_file)
    raise WorktreeError(f"cannot check out {commit[:12]} for run {run_id}: {why}{_space_note(folder)}")


def _space_note(folder: Path) -> str:
    """A hint when the disk holding `folder` is (nearly) full, the usual cause of a failed write."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return ""
    return f" (only {free // 1024} kB free on the disk holding {folder})" if free < _LOW_SPACE_BYTES else ""


def remove(tree: Worktree) -> None:
    """Delete the worktree and git's record of it; the owner file goes last."""
    _discard(tree.workspace, tree.path, tree.path.parent / f"{tree.run_id}{_OWNER_SUFFIX}")


@contextlib.contextmanager
def checked_out(workspace: Path | str, run_id: str, rev: str) -> Iterator[Worktree]:
    """`create` on entry, `remove` on exit, however the run ends."""
    tree = create(workspace, run_id, rev)
    try:
        yield tree
    finally:
        remove(tree)


def _discard(root: Path, path: Path, owner_file: Path) -> None:
    """Remove a worktree whatever state it is in (whole, half made, already deleted)."""
    _drop(root, path)
    if path.exists():
        raise WorktreeError(f"could not remove the worktree {path}; delete it by hand")
    owner_file.unlink(missing_ok=True)


def link_ignored(root: Path, tree: Path) -> list[str]:
    """Link each top-level entry the workspace ignores as a whole (datasets, checkpoints,
    caches: never committed, so never in a commit's tree) into the run's tree, so a local run
    finds them where it always did; the names linked. `.mlr/`, `.git` and secret files are
    never linked. In Docker the links do not resolve: a container sees only the tree."""
    done = gitsafe.run(root, "ls-files", "--others", "--ignored", "--exclude-standard", "--directory", "-z",
                       timeout=_GIT_TIMEOUT_S)
    if done.returncode != 0:
        return []
    # an entry ignored as a whole only (`data/`, `cache.bin`): linking the folder of an ignored
    # nested file (`deploy/server.key`) would show its folder's other files too
    entries = done.stdout.decode("utf-8", "surrogateescape").split("\0")
    names = {entry.rstrip("/") for entry in entries if entry and "/" not in entry.rstrip("/")}
    linked = []
    for name in sorted(names - {".mlr", ".git"}):
        if (tree / name).exists() or (tree / name).is_symlink() or _holds_secrets(root / name):
            continue
        with contextlib.suppress(OSError):
            (tree / name).symlink_to(root / name)
            linked.append(name)
    return linked


def _holds_secrets(path: Path, depth: int = 3) -> bool:
    """Whether `path` is, or holds within `depth` folders, a secrets file: such an entry is not
    linked (a folder of keys that the workspace ignores, like `deploy/`)."""
    if is_secret_name(path.name):
        return True
    if depth == 0 or path.is_symlink() or not path.is_dir():
        return False
    try:
        return any(_holds_secrets(entry, depth - 1) for entry in path.iterdir())
    except OSError:
        return True  # unreadable: not shown


def _unlink_links(path: Path) -> None:
    # the links to the workspace's ignored entries go first, so no removal can follow them
    with contextlib.suppress(OSError):
        for entry in path.iterdir():
            if entry.is_symlink():
                entry.unlink()


def _drop(root: Path, path: Path) -> None:
    """Delete the worktree's folder and git's record of it, as far as possible."""
    removed = False
    _unlink_links(path)
    with _WORKTREE_LOCK:
        if path.exists():
            removed, why = _git(root, "worktree", "remove", "--force", "--force", "--", str(path))
            if not removed:
                # not a worktree git knows (the add failed before registering it): plain files
                log.debug("git worktree remove %s: %s", path, why)
                _open_folders(path)
                shutil.rmtree(path, ignore_errors=True)
        if not removed:
            # drops the record of any worktree whose folder is gone, this one included (git's
            # own remove dropped it already: every run pays for each git process)
            _git(root, "worktree", "prune")


def _open_folders(path: Path) -> None:
    """Give the owner back write access to every folder of `path` (a run may have made one
    read-only), so its files can be deleted; symlinks are not followed."""
    for folder, dirs, _files in os.walk(path):
        for name in dirs:
            with contextlib.suppress(OSError):
                target = Path(folder, name)
                if not target.is_symlink():
                    target.chmod(target.stat().st_mode | stat.S_IRWXU)
    with contextlib.suppress(OSError):
        path.chmod(path.stat().st_mode | stat.S_IRWXU)


def prune(workspace: Path | str) -> list[str]:
    """Remove the worktrees whose owner process is gone (a crash, a kill -9), then prune git's
    records; the run ids removed. Called by the engine on start; live owners' worktrees stay."""
    root = Path(workspace).resolve()
    folder = StateDir(root).root / WORKTREES
    if not folder.is_dir():
        return []
    removed = []
    for owner_file in sorted(folder.glob(f"*{_OWNER_SUFFIX}")):
        owner = _read_owner(owner_file)
        if owner is not None and owner_alive(owner.host, owner.pid, owner.started):
            continue
        run_id = owner_file.name.removesuffix(_OWNER_SUFFIX)
        try:
            _discard(root, folder / run_id, owner_file)
            removed.append(run_id)
        except WorktreeError as exc:
            log.warning("%s", exc)
    with _WORKTREE_LOCK:
        _git(root, "worktree", "prune")
    return removed


def _read_owner(owner_file: Path) -> WorktreeOwner | None:
    """The owner a file names; None when it is unreadable (a crash mid-write counts as dead)."""
    try:
        return WorktreeOwner.model_validate(read_json(owner_file))
    except (OSError, ValueError):
        return None


def run_env(tree: Worktree, base: Mapping[str, str]) -> dict[str, str]:
    """`base` (the environment the runner would give the experiment) for a process run inside
    the worktree: where its outputs go (`MLR_OUTPUT_DIR`), its run id and commit, and none of
    the variables that would point git inside it at another repository or index."""
    env = without_git_location(base)
    env.update(output_env(output_dir(tree.workspace, tree.run_id)))
    env.update({RUN_ID_ENV: tree.run_id, COMMIT_ENV: tree.commit})
    return env


def without_git_location(base: Mapping[str, str]) -> dict[str, str]:
    """`base` without the variables that would point git, inside a run's worktree, at another
    repository or index."""
    return {key: value for key, value in base.items() if key not in _GIT_LOCATION}
