"""Where a run executes: the exact tree of its commit in a directory the project manages,
`.mlr/worktrees/<run-id>/` (or a reused `.mlr/worktrees/pool-<n>/`, `worktree_pool`), never
the user's checkout, so the user keeps editing (and two runs of different commits run at once)
while experiments run.

Policy:

* A run's tree is a detached git worktree: `git rev-parse HEAD` works inside it (on the host),
  and it shares the repository's objects, so nothing is copied but the files. The user's HEAD,
  index, branch and files are never touched; only `.git/worktrees/<run-id>/` is added, and
  removed with the worktree.
* Its cost is writing the files (`bench/bench_worktree.py`: git's own work is a few ms of it,
  creating 2,000 files on a busy disk up to seconds). So git only registers the worktree
  (`--no-checkout`, milliseconds) while holding the lock below; the files are written after,
  by `read-tree -u` in the new worktree, which touches nothing another worktree reads. Removal
  is the same in reverse: the files go first, unlocked, then git drops the almost empty tree.
* Every git command goes through `gitsafe`: no hook (a `post-checkout` hook would otherwise run
  on `worktree add`), filter or fsmonitor the repository names ever runs.
* Before the worktree exists, an owner file `.mlr/worktrees/<run-id>.owner.json` records the
  process that made it (host, pid, start time); it is deleted last, when the worktree is gone.
  `prune` (the engine calls it on start) removes the worktrees whose owner process is gone,
  then `git worktree prune`s, so a crash leaves nothing behind after the next start; a live
  owner's worktree is never touched.
* git is not safe against itself adding and removing worktrees of one repository at once
  (an add reads every other worktree's records, `failed to read .../commondir`): every git
  worktree add, remove and prune MLR-Copilot runs holds `.mlr/worktrees.lock` (`flock`, so a
  killed holder frees it), across threads and processes (two `mlr-copilot run` in one
  workspace). Waiting more than `LOCK_TIMEOUT_S` for it is a one-line `WorktreeError`.
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
import fcntl
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
from mlr_copilot.runners.secretfiles import SCAN_LIMIT, scan
from mlr_copilot.state import StateDir, read_json, write_json
from mlr_copilot.workspace import gitsafe
from mlr_copilot.workspace.refs import BadRefError, commit_of
from mlr_copilot.workspace.stalelocks import clear_stale_locks

log = logging.getLogger(__name__)

WORKTREES = "worktrees"
OUTPUT_ENV = "MLR_OUTPUT_DIR"
RUN_ID_ENV = "MLR_RUN_ID"
# a Docker run sees the worktree without the repository its `.git` file points to: the commit
# is in the environment too
COMMIT_ENV = "MLR_COMMIT"
_GIT_LOCATION = frozenset({"GIT_DIR", "GIT_INDEX_FILE", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_OBJECT_DIRECTORY"})
_OWNER_SUFFIX = ".owner.json"
# a pooled worktree (`worktree_pool`) is `pool-<n>/`, leased by the flock of `pool-<n>.lease`
POOL_PREFIX = "pool-"
LEASE_SUFFIX = ".lease"
# A run id becomes a folder name and git's name for the worktree: no separators, no option.
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_GIT_TIMEOUT_S = 120.0
_LOW_SPACE_BYTES = 64 * 1024 * 1024
LOCK_FILE = "worktrees.lock"
# a worktree add or remove holds the lock for milliseconds; a minute is a holder that hangs
LOCK_TIMEOUT_S = 60.0
_LOCK_POLL_S = 0.005
# flock excludes open files, not threads: this process's threads queue here first
_THREADS_LOCK = threading.Lock()
# Writing the files: one process per core (`checkout.workers=0`) where the commit has enough
# of them to be worth it (git's own threshold, 100 files).
_CHECKOUT = ("-c", "checkout.workers=0")


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


@contextlib.contextmanager
def worktree_lock(workspace: Path) -> Iterator[None]:
    """Held around each `git worktree add/remove/prune` of `workspace`'s repository, by every
    thread and process of MLR-Copilot; WorktreeError after `LOCK_TIMEOUT_S` of waiting."""
    path = StateDir(workspace).ensure() / LOCK_FILE
    deadline = time.monotonic() + LOCK_TIMEOUT_S
    busy = (f"another MLR-Copilot process has held {path} for over {LOCK_TIMEOUT_S:.0f} s "
            "(adding or removing a run's worktree); try again when it is done")
    if not _THREADS_LOCK.acquire(timeout=LOCK_TIMEOUT_S):
        raise WorktreeError(busy)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise WorktreeError(busy) from None
                    time.sleep(_LOCK_POLL_S)
            yield
        finally:
            os.close(fd)  # frees the flock
    finally:
        _THREADS_LOCK.release()


def create(workspace: Path | str, run_id: str, rev: str, *, name: str | None = None) -> Worktree:
    """Check out the commit `rev` names as `.mlr/worktrees/<run-id>/` (`<name>/`: a pooled
    worktree, `worktree_pool`), detached, owned by this process. WorktreeError (one line) when
    it cannot be made; nothing is left behind then."""
    root = Path(workspace).resolve()
    check_run_id(run_id)
    check_run_id(name or run_id)
    try:
        commit = commit_of(root, rev)
    except BadRefError as exc:
        raise WorktreeError(f"cannot run {rev!r}: {exc}") from None
    folder = worktrees_dir(root)
    path = folder / (name or run_id)
    owner_file = owner_path(path)
    if path.exists() or owner_file.exists():
        raise WorktreeError(f"a worktree for run {run_id} already exists at {path}")
    own(path, run_id, commit)
    try:
        with worktree_lock(root):
            ok, why = _git(root, "worktree", "add", "--no-checkout", "--detach", "--quiet", "--", str(path), commit)
        if ok:
            # the worktree's own index and files; run from the repository, whose configuration
            # gitsafe has read already
            ok, why = _git(root, "-C", str(path), *_CHECKOUT, "read-tree", "--reset", "-u", "HEAD")
    except WorktreeError:  # only the lock raises it: git never ran
        owner_file.unlink(missing_ok=True)
        raise
    except BaseException:
        _discard(root, path, owner_file)
        raise
    if not ok:
        _discard(root, path, owner_file)
        raise WorktreeError(f"cannot check out {commit[:12]} for run {run_id}: {why}{_space_note(folder)}")
    link_ignored(root, path)
    return Worktree(root, run_id, commit, path)


def owner_path(path: Path) -> Path:
    """The owner file of the worktree at `path`: `<name>.owner.json` beside it."""
    return path.parent / f"{path.name}{_OWNER_SUFFIX}"


def own(path: Path, run_id: str, commit: str) -> None:
    """Record this process as the owner of the worktree at `path` for run `run_id`."""
    host, pid = run_owner()
    try:
        write_json(owner_path(path), WorktreeOwner(run_id=run_id, commit=commit, host=host, pid=pid,
                                                   started=start_ticks(pid)).model_dump())
    except OSError as exc:
        raise WorktreeError(f"cannot make a worktree for run {run_id}: {exc.strerror or exc}") from None


def try_lease(path: Path) -> int | None:
    """An open descriptor holding the flock of the pooled worktree at `path`
    (`<name>.lease` beside it), or None when another thread or process holds it. Closing the
    descriptor (or the holder's death) frees it."""
    try:
        fd = os.open(path.parent / f"{path.name}{LEASE_SUFFIX}", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _space_note(folder: Path) -> str:
    """A hint when the disk holding `folder` is (nearly) full, the usual cause of a failed write."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return ""
    return f" (only {free // 1024} kB free on the disk holding {folder})" if free < _LOW_SPACE_BYTES else ""


def remove(tree: Worktree) -> None:
    """Delete the worktree and git's record of it; the owner file goes last."""
    _discard(tree.workspace, tree.path, owner_path(tree.path))


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
    caches: never committed, so never in a commit's tree) into the run's tree, so a run finds
    them where it always did; the names linked. `.mlr/`, `.git` and secret files are never
    linked, nor an entry holding a secrets file at any depth, or one too large to be searched
    to its end (`secretfiles.SCAN_LIMIT` entries): a warning names it. A Docker run sees the
    linked entries read-only (`docker_container`)."""
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
        if (tree / name).exists() or (tree / name).is_symlink() or _withheld(root / name):
            continue
        with contextlib.suppress(OSError):
            (tree / name).symlink_to(root / name)
            linked.append(name)
    return linked


def _withheld(path: Path) -> bool:
    """Whether the ignored entry `path` is kept from runs: it is, or holds, a secrets file, or
    it could not be searched to its end. A symlinked entry is searched where it leads."""
    found = scan(path.resolve() if path.is_symlink() else path, SCAN_LIMIT)
    if found.found:
        log.info("%s is not shown to runs: it holds secrets files (%s)", path.name, found.found[0].name)
        return True
    if not found.complete:
        log.warning("%s is not shown to runs: it holds more than %d files and folders or one that cannot be "
                    "read, so it was not searched to its end for secrets files", path.name, SCAN_LIMIT)
        return True
    return False


def linked_ignored(tree: Path, workspace: Path) -> list[Path]:
    """The workspace's ignored entries `link_ignored` linked into the run's `tree` (the
    entries themselves, as `<workspace>/<name>`)."""
    root = workspace.resolve()
    linked = []
    with contextlib.suppress(OSError):
        for entry in tree.iterdir():
            if entry.is_symlink() and Path(os.readlink(entry)) == root / entry.name:
                linked.append(root / entry.name)
    return sorted(linked)


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
    # the files first and unlocked; git then removes a folder holding only its `.git` file
    _empty(path)
    with worktree_lock(root):
        if path.exists():
            removed, why = _git(root, "worktree", "remove", "--force", "--force", "--", str(path))
            if not removed:
                # not a worktree git knows (the add failed before registering it): plain files
                log.debug("git worktree remove %s: %s", path, why)
                shutil.rmtree(path, ignore_errors=True)
        if not removed:
            # drops the record of any worktree whose folder is gone, this one included (git's
            # own remove dropped it already: every run pays for each git process)
            _git(root, "worktree", "prune")


def _empty(path: Path) -> None:
    """Delete everything in `path` but its `.git` file; a folder a run made read-only is
    opened when its deletion fails."""
    try:
        entries = [entry for entry in path.iterdir() if entry.name != ".git"]
    except OSError:
        return
    for entry in entries:
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except OSError:
            _open_folders(path)
            shutil.rmtree(entry, ignore_errors=True)


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
    records and the lock files a killed git left (`stalelocks`, each a warning); the run ids
    removed. Called by the engine on start; live owners' worktrees stay."""
    root = Path(workspace).resolve()
    for warning in clear_stale_locks(root):
        log.warning("%s", warning)
    folder = StateDir(root).root / WORKTREES
    if not folder.is_dir():
        return []
    removed = []
    for owner_file in sorted(folder.glob(f"*{_OWNER_SUFFIX}")):
        owner = _read_owner(owner_file)
        if owner is not None and owner_alive(owner.host, owner.pid, owner.started):
            continue
        name = owner_file.name.removesuffix(_OWNER_SUFFIX)
        # a pooled worktree another process leased since its dead owner's crash is in use
        lease = try_lease(folder / name) if name.startswith(POOL_PREFIX) else None
        if name.startswith(POOL_PREFIX) and lease is None:
            continue
        try:
            _discard(root, folder / name, owner_file)
            removed.append(owner.run_id if owner is not None else name)
        except WorktreeError as exc:
            log.warning("%s", exc)
        finally:
            if lease is not None:
                os.close(lease)
    with worktree_lock(root):
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
