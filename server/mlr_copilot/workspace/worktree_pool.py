"""Reusable run worktrees: a run's tree is taken from a pool and handed back when the run
ends, so the next run pays for the files that differ between the two commits, not for
writing every file of its commit again (`bench/bench_worktree.py`: a fresh worktree of a
2,000-file workspace is 250 ms on a tmpfs and seconds on a busy disk).

Policy:

* A pooled worktree is `.mlr/worktrees/pool-<n>/`, n below the pool's size (`run.parallel`'s
  slots, so at most one idle worktree per slot); one with n at or above it is removed when
  it is next seen idle, and all of them when `run.reuseWorktrees` is off (size 0).
* It is leased with a flock of `pool-<n>.lease` (held by the run's process for the whole run,
  freed by its death) and, like any run's worktree, owned by the run's process through its
  owner file (`worktrees.own`): a process killed mid-run leaves an owner file whose process is
  gone, and the next start's `worktrees.prune` removes that worktree with what the run wrote.
  When every pooled worktree is leased (another process's runs), a run gets a worktree of its
  own, as when reuse is off.
* Handing back brings the tree back to its commit with `git checkout -f --detach` (which
  rewrites only what differs from the index, by its stat data, and whatever the run changed or
  replaced, a symlink included) and `git clean -ffdx` (removes every file the commit does not
  hold: untracked, ignored, nested repositories, symlinks, which are unlinked and never
  followed; a folder made read-only is opened first). Taking switches the clean idle tree to
  the next run's commit with the same checkout, which writes only the files that differ. Git
  runs through `gitsafe`, so no hook, filter or fsmonitor runs.
* What git reads besides the files must be as `worktrees.create` left it: the tree's `.git`
  is a plain file naming its own gitdir, which names the tree back and the repository's common
  directory, holds nothing but what git writes there (a planted `config.worktree` could name a
  filter for a checkout) and an index unchanged since the last checkout (flags such as
  skip-worktree would keep a file of the run). A Docker run cannot write any of it (`.git` is
  mounted read-only, the repository not at all); a local run is a process of the user that
  could write the repository itself, but a tree it changed is removed, never reused, so no
  state of it reaches the next run. The index's stamp is kept in `pool-<n>.json`.
* A step that fails removes the worktree (and the run gets a fresh one); nothing is kept
  that was not cleaned.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel

from mlr_copilot.state import read_json, write_json
from mlr_copilot.workspace.refs import BadRefError, commit_of
from mlr_copilot.workspace.worktrees import (
    _CHECKOUT,
    POOL_PREFIX,
    Worktree,
    WorktreeError,
    _discard,
    _git,
    _open_folders,
    _unlink_links,
    check_run_id,
    create,
    link_ignored,
    own,
    owner_path,
    remove,
    try_lease,
    worktrees_dir,
)

log = logging.getLogger(__name__)

_SHA = re.compile(r"[0-9a-f]{40}")
# what git itself keeps in a worktree's gitdir (`worktree add`, `checkout`); anything else
# was written by someone else
_GITDIR_ENTRIES = frozenset({"HEAD", "ORIG_HEAD", "commondir", "gitdir", "index", "logs"})


class PoolState(BaseModel):
    """An idle pooled worktree: the commit it holds and the stamp of its index then."""

    commit: str
    index: tuple[int, int, int]


@contextlib.contextmanager
def leased(workspace: Path | str, run_id: str, rev: str, size: int, prefer: int = 0,
           warnings: list[str] | None = None) -> Iterator[Worktree]:
    """The commit `rev` names checked out for run `run_id` while the block runs: in a pooled
    worktree of a pool of `size` (the one numbered `prefer` first: the run's slot), else in one
    of its own; handed back (or removed) however the block ends. A failure to clean or remove
    it is logged and added to `warnings`, never raised."""
    tree, lease = take(workspace, run_id, rev, size, prefer)
    try:
        yield tree
    finally:
        try:
            if lease is None:
                remove(tree)
            else:
                give_back(tree, size)
        except WorktreeError as exc:
            log.warning("%s", exc)
            if warnings is not None:
                warnings.append(str(exc))
        finally:
            if lease is not None:
                os.close(lease)


def take(workspace: Path | str, run_id: str, rev: str, size: int, prefer: int = 0) -> tuple[Worktree, int | None]:
    """A worktree of `rev` for run `run_id` and the descriptor of its lease (None: a worktree
    of its own, to `remove`). WorktreeError (one line) when no worktree can be made."""
    root = Path(workspace).resolve()
    check_run_id(run_id)
    try:
        # a run's commit comes as a full sha: checking it out says whether it is one
        commit = rev if _SHA.fullmatch(rev) else commit_of(root, rev)
    except BadRefError as exc:
        raise WorktreeError(f"cannot run {rev!r}: {exc}") from None
    folder = worktrees_dir(root)
    _remove_surplus(root, folder, size)
    for n in dict.fromkeys([prefer, *range(size)]):
        if not 0 <= n < size:
            continue
        path = folder / f"{POOL_PREFIX}{n}"
        lease = try_lease(path)
        if lease is None:
            continue
        try:
            return _switch(root, path, run_id, commit), lease
        except BaseException:
            os.close(lease)
            raise
    return create(root, run_id, commit), None


def give_back(tree: Worktree, size: int) -> None:
    """Return the leased pooled worktree `tree` to the pool, cleaned back to its commit; it is
    removed when the pool is smaller now or it cannot be reused."""
    path = tree.path
    if _number(path.name) >= size or not _cleaned(tree.workspace, path, tree.commit, clean=True):
        remove(tree)
        _state_file(path).unlink(missing_ok=True)
        return
    owner_path(path).unlink(missing_ok=True)


def _switch(root: Path, path: Path, run_id: str, commit: str) -> Worktree:
    """The leased pooled worktree at `path` holding `commit` for run `run_id`: the idle one
    switched to it, else (none, or one that is not clean) a new one."""
    reusable = path.exists() and not owner_path(path).exists()
    if path.exists() or owner_path(path).exists():
        if reusable:
            own(path, run_id, commit)
            if _cleaned(root, path, commit, clean=False):
                link_ignored(root, path)
                return Worktree(root, run_id, commit, path)
        _discard(root, path, owner_path(path))
        _state_file(path).unlink(missing_ok=True)
    tree = create(root, run_id, commit, name=path.name)
    if not _record(root, path, commit):
        remove(tree)
        raise WorktreeError(f"cannot keep the state of the run's worktree {path}")
    return tree


def _cleaned(root: Path, path: Path, commit: str, *, clean: bool) -> bool:
    """Bring the worktree at `path` to `commit` (with `clean`, nothing else in it: an idle
    tree was cleaned when it was handed back); False (nothing git reads in it is trusted, or
    a step failed) when it must be removed instead."""
    try:
        state = PoolState.model_validate(read_json(_state_file(path)))
    except (OSError, ValueError):
        return False
    gitdir = _gitdir(root, path)
    if gitdir is None or _stamp(gitdir / "index") != state.index:
        log.info("%s is not reused: something other than git changed its git records", path.name)
        return False
    _unlink_links(path)
    ok, why = _git(root, "-C", str(path), *_CHECKOUT, "checkout", "--quiet", "--force", "--detach", commit, "--")
    if ok and clean:
        ok, why = _clean(root, path)
    if not ok:
        log.info("%s is not reused: %s", path.name, why)
        return False
    return _record(root, path, commit)


def _clean(root: Path, path: Path) -> tuple[bool, str]:
    ok, why = _git(root, "-C", str(path), "clean", "-ffdxq")
    if not ok:
        # a folder the run made read-only
        _open_folders(path)
        ok, why = _git(root, "-C", str(path), "clean", "-ffdxq")
    return ok, why


def _record(root: Path, path: Path, commit: str) -> bool:
    """Keep the stamp of the index `path` now holds; False when it cannot be kept."""
    gitdir = _gitdir(root, path)
    stamp = _stamp(gitdir / "index") if gitdir is not None else None
    if stamp is None:
        return False
    try:
        write_json(_state_file(path), PoolState(commit=commit, index=stamp).model_dump())
    except OSError:
        return False
    return True


def _gitdir(root: Path, path: Path) -> Path | None:
    """The gitdir of the worktree at `path` when it is the one `worktree add` made for it and
    holds only what git writes; None otherwise."""
    try:
        dot_git = path / ".git"
        if path.is_symlink() or not dot_git.is_file() or dot_git.is_symlink():
            return None
        named = dot_git.read_text(encoding="utf-8")
        if not named.startswith("gitdir: ") or not named.endswith("\n"):
            return None
        gitdir = Path(named.removeprefix("gitdir: ").removesuffix("\n"))
        # a workspace that is itself a worktree has its common directory elsewhere: its runs'
        # worktrees are never reused
        common = (root / ".git").resolve()
        if not common.is_dir() or gitdir.parent != common / "worktrees" or gitdir.is_symlink() or not gitdir.is_dir():
            return None
        if (gitdir / "gitdir").read_text(encoding="utf-8").strip() != str(dot_git):
            return None
        if (gitdir / (gitdir / "commondir").read_text(encoding="utf-8").strip()).resolve() != common:
            return None
        if {entry.name for entry in gitdir.iterdir()} - _GITDIR_ENTRIES:
            return None
    except (OSError, UnicodeDecodeError):
        return None
    return gitdir


def _state_file(path: Path) -> Path:
    return path.parent / f"{path.name}.json"


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        info = path.lstat()
    except OSError:
        return None
    return info.st_ino, info.st_size, info.st_mtime_ns


def _number(name: str) -> int:
    suffix = name.removeprefix(POOL_PREFIX)
    return int(suffix) if name.startswith(POOL_PREFIX) and suffix.isdigit() else -1


def _remove_surplus(root: Path, folder: Path, size: int) -> None:
    """Remove the idle pooled worktrees numbered `size` or above (the pool shrank)."""
    try:
        surplus = [entry for entry in folder.iterdir() if _number(entry.name) >= size and entry.is_dir()]
    except OSError:
        return
    for path in surplus:
        lease = try_lease(path)
        if lease is None:
            continue
        try:
            _discard(root, path, owner_path(path))
            _state_file(path).unlink(missing_ok=True)
        except WorktreeError as exc:
            log.warning("%s", exc)
        finally:
            os.close(lease)

