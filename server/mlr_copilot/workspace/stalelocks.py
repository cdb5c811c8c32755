"""Git's lock files that a killed git process left in the user's repository.

Git takes `.git/index.lock` (and `HEAD.lock`, `packed-refs.lock`, `refs/.../<name>.lock`) while
it writes, and deletes it when done, even on Ctrl-C. A git killed outright leaves it behind,
and every later git command that writes the index or that ref then fails ("Another git process
seems to be running"). MLR-Copilot kills git itself when one of its git commands exceeds its
timeout (`subprocess.run(timeout=...)` sends SIGKILL), and the editor or a user kills the
server's or the CLI's whole process group; its snapshots, commits and notes are then the ones
left locked.

Policy, conservative: a lock is removed only when

* it is older than `STALE_AFTER_S` (git holds a lock for milliseconds while it writes; a lock
  that young may belong to a git starting now), and
* no git process on this machine works in the repository (its current folder, where git always
  moves to, is inside the workspace or its git folder): a `git commit -a` waiting for its
  editor holds `index.lock` for as long as the user types, and
* the file is still the one judged (same inode and time) when it is removed.

Where the processes cannot be seen (no /proc, or another user's git whose folder cannot be
read), nothing is removed: the warning says which file to delete once no git is running. A git
on another machine sharing the folder cannot be seen either: the age is the only guard there.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

log = logging.getLogger(__name__)

STALE_AFTER_S = 10.0
_PROC = Path("/proc")


def _git_dirs(root: Path) -> tuple[Path, Path] | None:
    """(the checkout's own git folder, the repository's common one): `.git` itself, or for a
    linked worktree the folder its `.git` file names and that folder's `commondir`."""
    dot_git = root / ".git"
    if dot_git.is_dir():
        return dot_git, dot_git
    try:
        text = dot_git.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if not text.startswith("gitdir:"):
        return None
    own = (root / text.removeprefix("gitdir:").strip()).resolve()
    try:
        common = (own / (own / "commondir").read_text(encoding="utf-8").strip()).resolve()
    except (OSError, UnicodeDecodeError):
        common = own
    return own, common


def _locks(own: Path, common: Path) -> list[Path]:
    found = [path for path in (own / "index.lock", own / "HEAD.lock", common / "packed-refs.lock") if path.is_file()]
    for folder, _dirs, files in os.walk(common / "refs"):
        found += [Path(folder, name) for name in files if name.endswith(".lock")]
    return found


def _git_at_work(places: tuple[Path, ...]) -> bool | None:
    """Whether a git process on this machine works inside one of `places`; None when that
    cannot be told."""
    if not _PROC.is_dir():
        return None
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if not (entry / "comm").read_text().startswith("git"):
                continue
            cwd = Path(os.readlink(entry / "cwd"))
        except FileNotFoundError:
            continue  # ended meanwhile
        except OSError:
            return None  # another user's git: where it works is not ours to see
        if any(cwd == place or cwd.is_relative_to(place) for place in places):
            return True
    return False


def clear_stale_locks(workspace: Path | str) -> list[str]:
    """Remove the lock files a killed git left in the repository of `workspace` (see the
    module's policy); one warning line for each removed, or to be removed by hand."""
    root = Path(workspace).resolve()
    dirs = _git_dirs(root)
    if dirs is None:
        return []
    now = time.time()
    judged = {}
    for path in _locks(*dirs):
        try:
            info = path.stat()
        except OSError:
            continue
        if now - info.st_mtime >= STALE_AFTER_S:
            judged[path] = (info.st_ino, info.st_mtime_ns, now - info.st_mtime)
    if not judged:
        return []
    # a linked worktree's repository is worked in from its main checkout too
    at_work = _git_at_work((root, *dirs, dirs[1].parent))
    if at_work:
        return []
    warnings = []
    for path, (inode, mtime, age) in sorted(judged.items()):
        if at_work is None:
            warnings.append(f"git's lock file {path} is {age:.0f} s old; if no git command is running in {root}, "
                            f"delete it (rm '{path}'), or git commands there keep failing")
            continue
        try:
            info = path.stat()
            if (info.st_ino, info.st_mtime_ns) != (inode, mtime):
                continue
            path.unlink()
        except OSError:
            continue
        warnings.append(f"removed {path}, which a killed git process left ({age:.0f} s old; no git process "
                        "works in the repository)")
    return warnings
