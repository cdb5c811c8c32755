"""A compact map of the workspace for the LLM: files with sizes and the top-level definitions
of Python files.

Large and binary files (datasets, checkpoints) are listed from their size alone and never
opened, so a 500 MB data file costs one `stat`. Python outlines are cached by (path, mtime,
size), so mapping an unchanged tree again costs a file listing and a `stat` per file.
In a git repository the listing is `git ls-files -co --exclude-standard` (tracked files plus
untracked ones that are not ignored); elsewhere the tree is walked.

Between the steps of an implementation the map is not built again: `WorkspaceMap` keeps it and
looks again only at the paths known to have changed (the agent's commits, the files the editor
reports), so a step costs what its change costs, whatever the size of the workspace.
"""

from __future__ import annotations

import ast
import logging
import os
import stat
import subprocess
import threading
from bisect import bisect_left
from collections.abc import Iterable
from operator import attrgetter
from pathlib import Path, PurePosixPath
from typing import Literal

from pydantic import BaseModel, ConfigDict, PrivateAttr

from mlr_copilot import pyast
from mlr_copilot.workspace import gitsafe
from mlr_copilot.workspace.paths import TOOLING_DIRS, read_regular

log = logging.getLogger(__name__)

BINARY_SUFFIXES = frozenset(
    [".npy", ".npz", ".pt", ".pth", ".ckpt", ".bin", ".safetensors", ".onnx", ".pkl", ".pickle", ".joblib", ".h5", ".hdf5", ".parquet", ".arrow", ".feather", ".tfrecord", ".zip", ".gz", ".tgz", ".bz2", ".xz", ".zst", ".tar", ".7z", ".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".ico", ".pdf", ".mp3", ".wav", ".flac", ".mp4", ".avi", ".mov", ".so", ".dylib", ".dll", ".exe", ".o", ".a", ".pyc", ".whl", ".db", ".sqlite", ".lmdb", ".mdb", ".idx", ".dat"]
)
SNIFF_BYTES = 1024
CACHE_LIMIT = 100_000
MAP_MEMO_LIMIT = 16
_FOOTER_ROOM = 32
MAX_OUTLINE_BYTES = 512 * 1024

_cache: dict[tuple[str, int, int, int], FileEntry] = {}
_maps: dict[tuple[str, int, int], tuple[tuple[object, ...], RepoMap]] = {}
_cache_lock = threading.Lock()


class FileEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: str
    size: int
    kind: Literal["python", "text", "binary", "large"]
    outline: list[str] = []
    # The entry as the map renders it, made once per version of the file.
    head: str = ""
    body: str = ""


class RepoMap(BaseModel):
    model_config = ConfigDict(frozen=True)

    root: str
    files: list[FileEntry]
    omitted: int = 0
    large_file_bytes: int = 1_000_000
    _rendered: dict[int, str] = PrivateAttr(default_factory=dict)

    def render(self, max_chars: int = 8000) -> str:
        """The map as text of at most `max_chars` characters.

        Outlines are dropped first, deepest files first, then files past the budget are
        summarised in a last line.
        """
        text = self._rendered.get(max_chars)
        if text is None:
            text = self._rendered[max_chars] = self._render(max_chars)
        return text

    def refreshed(self, paths: Iterable[str]) -> RepoMap:
        """This map with the files at `paths` (relative, POSIX) looked at again: added,
        changed or gone. Costs a `stat` per path, and an outline per changed Python file."""
        files = list(self.files)
        prefix = self.root + os.sep
        for rel in sorted(set(paths)):
            if _skipped(rel):
                continue
            at = bisect_left(files, rel, key=_PATH)
            known = at < len(files) and files[at].path == rel
            found = _regular_file(prefix, rel)
            if found is None:
                if known:
                    del files[at]
                continue
            entry = _entry(prefix + rel, rel, *found, self.large_file_bytes)
            if known:
                files[at] = entry
            else:
                files.insert(at, entry)
        return RepoMap.model_construct(root=self.root, files=files, omitted=self.omitted,
                                       large_file_bytes=self.large_file_bytes)

    def changes_since(self, earlier: RepoMap, max_chars: int = 8000) -> str:
        """What this map shows differently from `earlier`, as text of at most `max_chars`
        characters: the entries of files added or changed (by size or outline), and a line per
        file gone, in path order. With `earlier` it says what this map alone says, so a prompt
        can show `earlier` (the same bytes from step to step) and only these after it."""
        before = {entry.path: (entry.head, entry.body) for entry in earlier.files}
        now = {entry.path for entry in self.files}
        differ = [entry for entry in self.files if before.get(entry.path) != (entry.head, entry.body)]
        gone = [FileEntry.model_construct(path=rel, size=0, kind="text", outline=[], head=f"{rel} (removed)", body="")
                for rel in before if rel not in now]
        if not differ and not gone:
            return "(none)"
        files = sorted(differ + gone, key=_PATH)
        return RepoMap.model_construct(root=self.root, files=files, omitted=0,
                                       large_file_bytes=self.large_file_bytes).render(max_chars)

    def entry(self, rel: str) -> FileEntry | None:
        at = bisect_left(self.files, rel, key=_PATH)
        return self.files[at] if at < len(self.files) and self.files[at].path == rel else None

    def _render(self, max_chars: int) -> str:
        heads = [entry.head for entry in self.files]
        names = sum(map(len, heads)) + len(heads)
        if names > max_chars:
            # Not even the names fit, so every outline goes: no need to weigh them.
            return self._cut(heads, max_chars)
        bodies = [entry.body for entry in self.files]
        total = names + sum(map(len, bodies))
        if total > max_chars:
            order = sorted(
                (i for i, body in enumerate(bodies) if body),
                key=lambda i: (-self.files[i].path.count("/"), -len(bodies[i])),
            )
            for i in order:
                if total <= max_chars:
                    break
                total -= len(bodies[i])
                bodies[i] = ""
        pieces = [head + body for head, body in zip(heads, bodies)]
        text = "\n".join(pieces + ([f"... {self.omitted} more files"] if self.omitted else []))
        return text if len(text) <= max_chars else self._cut(pieces, max_chars)

    def _cut(self, pieces: list[str], max_chars: int) -> str:
        """The first pieces that fit, then a line counting the files left out."""
        if self.omitted:
            pieces = pieces + [f"... {self.omitted} more files"]
        lines: list[str] = []
        used = 0
        for piece in pieces:
            if used + len(piece) + 1 + _FOOTER_ROOM > max_chars:
                break
            lines.append(piece)
            used += len(piece) + 1
        lines.append(f"... {len(self.files) + self.omitted - len(lines)} more files")
        return "\n".join(lines)[:max_chars]


_PATH = attrgetter("path")


def _head(rel: str, size: int, kind: str) -> str:
    note = {"large": ", large, not read", "binary": ", binary"}.get(kind, "")
    return f"{rel} ({_human(size)}{note})"


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def _skipped(rel: str) -> bool:
    return any(part in TOOLING_DIRS for part in rel.split("/")[:-1])


def _regular_file(prefix: str, rel: str) -> tuple[int, int] | None:
    """(size, mtime in ns) of a regular file, None for anything else or nothing there."""
    try:
        info = os.lstat(prefix + rel)
    except OSError:
        return None
    return (info.st_size, info.st_mtime_ns) if stat.S_ISREG(info.st_mode) else None


def _git_listing(root: Path) -> list[str] | None:
    if not (root / ".git").exists():
        return None
    try:
        done = gitsafe.run(root, "ls-files", "-co", "--exclude-standard", "-z", timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("git ls-files failed in %s (%s); walking the tree instead", root, exc)
        return None
    if done.returncode != 0:
        log.warning("git ls-files failed in %s (%s); walking the tree instead", root,
                    done.stderr.decode(errors="replace").strip())
        return None
    names = done.stdout.decode("utf-8", errors="surrogateescape").split("\0")
    return sorted({name for name in names if name})


def _walk_listing(root: Path) -> list[str]:
    found: list[str] = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in TOOLING_DIRS)
        base = PurePosixPath(*Path(folder).relative_to(root).parts)
        found.extend(str(base / name) if base.parts else name for name in names)
    return sorted(found)


def _outline(source: str) -> list[str]:
    tree = pyast.parse(source)
    lines = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            lines.append(_signature(node))
        elif isinstance(node, ast.ClassDef):
            bases = ", ".join(ast.unparse(b) for b in node.bases)
            methods = [
                child.name for child in node.body if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            ]
            line = f"class {node.name}({bases})" if bases else f"class {node.name}"
            lines.append(line + (": " + ", ".join(methods) if methods else ""))
    return lines


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    args = node.args
    names = [a.arg for a in args.posonlyargs + args.args]
    if args.vararg:
        names.append("*" + args.vararg.arg)
    elif args.kwonlyargs:
        names.append("*")
    names += [a.arg for a in args.kwonlyargs]
    if args.kwarg:
        names.append("**" + args.kwarg.arg)
    prefix = "async def" if isinstance(node, ast.AsyncFunctionDef) else "def"
    return f"{prefix} {node.name}({', '.join(names)})"


def _entry(path: str, rel: str, size: int, mtime: int, large_file_bytes: int) -> FileEntry:
    key = (path, mtime, size, large_file_bytes)
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None:
        return hit
    kind, outline = _classify(path, size, large_file_bytes)
    entry = FileEntry.model_construct(path=rel, size=size, kind=kind, outline=outline, head=_head(rel, size, kind),
                                      body="".join(f"\n  {line}" for line in outline))
    with _cache_lock:
        if len(_cache) >= CACHE_LIMIT:
            _cache.clear()
        _cache[key] = entry
    return entry


def _classify(path: str, size: int, large_file_bytes: int) -> tuple[str, list[str]]:
    suffix = os.path.splitext(path)[1].lower()
    if size >= large_file_bytes:
        return "large", []
    if suffix in BINARY_SUFFIXES:
        return "binary", []
    try:
        # the listing saw a regular file; read_regular holds if a FIFO took its place since
        if suffix == ".py" and size <= MAX_OUTLINE_BYTES:
            source = read_regular(path, MAX_OUTLINE_BYTES)
            try:
                return "python", _outline((source or b"").decode("utf-8"))
            except (SyntaxError, UnicodeDecodeError, ValueError) as exc:
                line = getattr(exc, "lineno", None)
                return "python", [f"(does not parse{f': line {line}' if line else ''})"]
        head = read_regular(path, SNIFF_BYTES) or b""
    except OSError:
        return "text", []
    return ("binary" if b"\0" in head else ("python" if suffix == ".py" else "text")), []


def repo_map(
    workspace: Path,
    *,
    max_files: int = 5000,
    large_file_bytes: int = 1_000_000,
) -> RepoMap:
    """List the workspace's files (never reading large or binary ones) with Python outlines."""
    root = Path(workspace).resolve()
    listing = _git_listing(root)
    if listing is None:
        listing = _walk_listing(root)
    listing = [rel for rel in listing if not _skipped(rel)]
    omitted = 0
    if len(listing) > max_files:
        # Keep the shallowest files: the entry points and configs sit near the root.
        kept = sorted(listing, key=lambda rel: (rel.count("/"), rel))[:max_files]
        omitted = len(listing) - max_files
        listing = sorted(kept)
    prefix = str(root) + os.sep
    stats = [(rel, *found) for rel in listing if (found := _regular_file(prefix, rel)) is not None]
    # An unchanged tree gives back the same map without building it again.
    memo_key = (str(root), max_files, large_file_bytes)
    signature = (tuple(stats), omitted)
    with _cache_lock:
        memo = _maps.get(memo_key)
    if memo is not None and memo[0] == signature:
        return memo[1]
    files = [_entry(prefix + rel, rel, size, mtime, large_file_bytes) for rel, size, mtime in stats]
    result = RepoMap.model_construct(root=str(root), files=files, omitted=omitted, large_file_bytes=large_file_bytes)
    with _cache_lock:
        if len(_maps) >= MAP_MEMO_LIMIT:
            _maps.clear()
        _maps[memo_key] = (signature, result)
    return result


class WorkspaceMap:
    """The map of one workspace, kept between the steps of an implementation.

    Built in full on first use and after `rescan`; after that only the paths reported through
    `changed` are looked at again. Paths the agent committed are tracked; other reported paths
    (from the editor) are first asked of git, so an ignored file stays out as in a full map.
    Safe to use from several threads.
    """

    def __init__(self, workspace: Path, *, large_file_bytes: int = 1_000_000) -> None:
        self.root = Path(workspace).resolve()
        self.large_file_bytes = large_file_bytes
        self._map: RepoMap | None = None
        self._tracked: set[str] = set()
        self._reported: set[str] = set()
        self._lock = threading.Lock()

    def changed(self, paths: Iterable[str], *, tracked: bool = False) -> None:
        """Note files (relative POSIX paths) that were created, changed or deleted."""
        with self._lock:
            if self._map is not None:  # a map still to be built will see them anyway
                (self._tracked if tracked else self._reported).update(paths)

    def rescan(self) -> None:
        """Build the whole map again on next use (when its files may have changed unseen)."""
        with self._lock:
            self._map = None
            self._tracked.clear()
            self._reported.clear()

    def current(self) -> RepoMap:
        with self._lock:
            if self._map is None:
                self._map = repo_map(self.root, large_file_bytes=self.large_file_bytes)
            elif self._tracked or self._reported:
                # The editor reports everything, `.mlr/` run logs included: those never reach git.
                reported = {rel for rel in self._reported - self._tracked if not _skipped(rel)}
                paths = self._tracked | self._unignored(self._map, reported)
                self._map = self._map.refreshed(paths)
            self._tracked.clear()
            self._reported.clear()
            return self._map

    def _unignored(self, current: RepoMap, paths: set[str]) -> set[str]:
        unknown = sorted(rel for rel in paths if current.entry(rel) is None)
        if not unknown or not (self.root / ".git").exists():
            return paths
        try:
            # `check-ignore` exits 1 when no path is ignored; that is an answer too.
            done = gitsafe.run(self.root, "check-ignore", "-z", "--stdin",
                               input="\0".join(unknown).encode("utf-8", "surrogateescape"), timeout=60)
        except (OSError, subprocess.SubprocessError) as exc:
            log.warning("git check-ignore failed in %s (%s); mapping the whole tree again", self.root, exc)
            self._map = repo_map(self.root, large_file_bytes=self.large_file_bytes)
            return set()
        ignored = set(done.stdout.decode("utf-8", "surrogateescape").split("\0")) if done.returncode == 0 else set()
        return paths - ignored
