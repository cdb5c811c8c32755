"""Reused run folders on a Ray worker node: a run of a commit takes a leased folder that held
an earlier run and gets it synced to its commit's tree straight from the archive the node
already holds (Ray's object store), so it writes the files that differ, not every file of its
commit (2,000 files take a second or more to write; checking them takes tens of ms).

- A node keeps at most as many folders as it has CPUs, `<root>/dir-<n>/`, each leased by a
  `flock` of `dir-<n>.lock` held by the worker process for the whole run: two tasks never share
  one, and a worker that dies frees its lease with its descriptors. A run that finds every
  folder leased gets a copy of its own (`TreeCache`), as before.
- `dir-<n>.json` (beside the folder, never in it) records, per file the last sync wrote or
  kept, its digest and the stamp it had then (inode, size, mtime, ctime: any write, `utime`
  or `chmod` by the run changes the ctime, which nobody can set back). A file is kept only when
  its `lstat` still matches that stamp, it is a plain file with one link, and its digest and
  mode are the commit's; anything else in the folder is removed: files the run changed or
  created, files replaced by a folder or a symlink (unlinked, never followed), extra folders
  (made writable first). Every step goes through descriptors of folders opened with
  O_NOFOLLOW, so nothing outside the folder is ever touched.
- The record is replaced atomically once the sync is done; a sync cut short (the worker killed
  mid-run or mid-sync) leaves the older record, which still describes every file whose stamp
  matches it, so the next sync repairs the rest.
- A sync that fails (a file the run made that this user cannot remove: a container running as
  root) empties the folder and tries once more from nothing; when that fails too, the run gets
  a copy of its own and the folder waits for a later sync.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import posixpath
import stat
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

# what a kept file must still show: inode, size, mtime_ns, ctime_ns
Stamp = tuple[int, int, int, int]
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class _File:
    data: memoryview
    mode: int
    digest: str


@dataclass(frozen=True)
class _Link:
    target: str


# a folder of the commit's tree: name -> file, symlink or folder
_Folder = dict[str, "_File | _Link | _Folder"]


def default_root() -> Path:
    return Path(tempfile.gettempdir()) / f"mlr-ray-rundirs-{os.getuid()}"


def default_count() -> int:
    return max(1, len(os.sched_getaffinity(0)))


@dataclass
class RunDir:
    """A leased run folder; `release` frees it for the next run (the worker's death does too)."""

    path: Path
    lease: int

    def release(self) -> None:
        if self.lease >= 0:
            os.close(self.lease)
            self.lease = -1  # released twice (a cancelled run's `finish`) closes nothing else


def lease(commit: str, root: Path | None = None, count: int | None = None) -> RunDir | None:
    """A free run folder (one last synced to `commit` first), leased; None when all are taken."""
    root = root or default_root()
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    numbers = range(count or default_count())
    for n in sorted(numbers, key=lambda n: _recorded(root / f"dir-{n}.json").get("commit") != commit):
        fd = os.open(root / f"dir-{n}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return RunDir(root / f"dir-{n}", fd)
    return None


def sync(folder: Path, commit: str, archive: bytes) -> None:
    """Make the leased `folder` hold exactly the tree of `archive` (a `git archive` tar of
    `commit`), rewriting only what its record does not vouch for; see the module's docstring.
    OSError or ValueError when it cannot."""
    wanted = _read_archive(archive)
    record_path = folder.parent / f"{folder.name}.json"
    files = _recorded(record_path).get("files")
    old: dict[str, list[object]] = files if isinstance(files, dict) else {}
    try:
        _sync_once(folder, wanted, old, record_path, commit)
    except OSError:
        # what the record cannot vouch for and the sync could not remove: start from nothing
        record_path.unlink(missing_ok=True)
        if folder.is_dir() and not folder.is_symlink():
            parent = os.open(folder.parent, _DIR_FLAGS)
            try:
                _remove(parent, folder.name)
            finally:
                os.close(parent)
        _sync_once(folder, wanted, {}, record_path, commit)


def _sync_once(folder: Path, wanted: _Folder, old: dict[str, list[object]], record_path: Path, commit: str) -> None:
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=0o700)
    fd = os.open(folder, _DIR_FLAGS)
    files: dict[str, list[object]] = {}
    try:
        os.fchmod(fd, 0o755)
        _sync_folder(fd, "", wanted, old, files)
    finally:
        os.close(fd)
    partial = record_path.with_name(f".{record_path.name}.partial")
    partial.write_text(json.dumps({"commit": commit, "files": files}), encoding="utf-8")
    os.replace(partial, record_path)


def _sync_folder(fd: int, prefix: str, wanted: _Folder, old: dict[str, list[object]],
                 files: dict[str, list[object]]) -> None:
    kept: set[str] = set()
    with os.scandir(fd) as entries:
        present = [(entry.name, entry.stat(follow_symlinks=False)) for entry in entries]
    for name, info in present:
        want = wanted.get(name)
        same_link = isinstance(want, _Link) and stat.S_ISLNK(info.st_mode) and os.readlink(name, dir_fd=fd) == want.target
        if same_link or (isinstance(want, dict) and stat.S_ISDIR(info.st_mode)):
            kept.add(name)
        elif isinstance(want, _File) and _vouched(info, old.get(prefix + name), want):
            kept.add(name)
            files[prefix + name] = old[prefix + name]
        else:
            _remove(fd, name, stat.S_ISDIR(info.st_mode))
    for name, want in wanted.items():
        if isinstance(want, _File):
            if name not in kept:
                files[prefix + name] = _write(fd, name, want)
        elif isinstance(want, _Link):
            if name not in kept:
                os.symlink(want.target, name, dir_fd=fd)
        else:
            if name not in kept:
                os.mkdir(name, 0o755, dir_fd=fd)
            child = os.open(name, _DIR_FLAGS, dir_fd=fd)
            try:
                os.fchmod(child, 0o755)  # a folder the run made read-only
                _sync_folder(child, f"{prefix}{name}/", want, old, files)
            finally:
                os.close(child)


def _vouched(info: os.stat_result, recorded: list[object] | None, want: _File) -> bool:
    if recorded is None or not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        return False
    stamp = [info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns]
    return recorded == [*stamp, want.digest, want.mode] and stat.S_IMODE(info.st_mode) == want.mode


def _write(fd: int, name: str, want: _File) -> list[object]:
    out = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, want.mode, dir_fd=fd)
    try:
        left = want.data
        while left:
            left = left[os.write(out, left):]
        os.fchmod(out, want.mode)  # the umask may have taken bits off
        info = os.fstat(out)
    finally:
        os.close(out)
    return [info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns, want.digest, want.mode]


def _remove(fd: int, name: str, is_dir: bool = True) -> None:
    """Remove `name` of the folder `fd` without following a link; a folder with all it holds,
    made writable first."""
    if not is_dir:
        os.unlink(name, dir_fd=fd)
        return
    try:
        child = os.open(name, _DIR_FLAGS, dir_fd=fd)
    except NotADirectoryError:
        os.unlink(name, dir_fd=fd)
        return
    except OSError as exc:
        if exc.errno != 40:  # ELOOP: a symlink
            raise
        os.unlink(name, dir_fd=fd)
        return
    try:
        os.fchmod(child, 0o700)
        with os.scandir(child) as entries:
            inside = [(entry.name, entry.is_dir(follow_symlinks=False)) for entry in entries]
        for inner, inner_dir in inside:
            _remove(child, inner, inner_dir)
    finally:
        os.close(child)
    os.rmdir(name, dir_fd=fd)


def _read_archive(archive: bytes) -> _Folder:
    """The tree of a `git archive` tar, refusing members outside it and kinds git never makes."""
    root: _Folder = {}
    view = memoryview(archive)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:") as tar:
        for member in tar:
            parts = [part for part in member.name.split("/") if part not in ("", ".")]
            if not parts or member.name.startswith("/") or ".." in parts:
                if parts or not member.isdir():
                    raise ValueError(f"the run's tree has a member outside its folder: {member.name}")
                continue
            folder = root
            for part in parts[:-1]:
                folder = folder.setdefault(part, {})  # type: ignore[assignment]
                if not isinstance(folder, dict):
                    raise ValueError(f"the run's tree has a member inside a file: {member.name}")
            name = parts[-1]
            if member.isdir():
                folder.setdefault(name, {})
            elif member.issym():
                landing = posixpath.normpath(posixpath.join(*parts[:-1], member.linkname) if parts[:-1]
                                             else member.linkname)
                if member.linkname.startswith("/") or landing == ".." or landing.startswith("../"):
                    raise ValueError(f"the run's tree has a link leading outside its folder: {member.name}")
                folder[name] = _Link(member.linkname)
            elif member.isreg() and not member.issparse():
                # a view of the archive, not a copy: a tree is held in memory once
                data = view[member.offset_data:member.offset_data + member.size]
                mode = (member.mode & 0o755) | 0o600
                folder[name] = _File(data, mode, hashlib.blake2b(data, digest_size=16).hexdigest())
            else:
                raise ValueError(f"the run's tree has a member that is no file, folder or link: {member.name}")
    return root


def _recorded(path: Path) -> dict[str, object]:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}

