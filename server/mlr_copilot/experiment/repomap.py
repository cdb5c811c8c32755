"""A compact map of the workspace for the LLM: files with sizes and the top-level definitions
of Python files.

Large and binary files (datasets, checkpoints) are listed from their size alone and never
opened, so a 500 MB data file costs one `stat`. Python outlines are cached by (path, mtime,
size), so mapping an unchanged tree again costs a file listing and a `stat` per file.
In a git repository the listing is `git ls-files -co --exclude-standard` (tracked files plus
untracked ones that are not ignored); elsewhere the tree is walked.
"""

from __future__ import annotations

import ast
import logging
import os
import stat
import subprocess
import threading
from pathlib import Path, PurePosixPath
from typing import Literal

from pydantic import BaseModel, ConfigDict

log = logging.getLogger(__name__)

SKIP_DIRS = frozenset(
    {".git", ".mlr", "node_modules", "__pycache__", ".venv", "venv", ".mypy_cache", ".pytest_cache", ".tox"}
)
BINARY_SUFFIXES = frozenset(
    """.npy .npz .pt .pth .ckpt .bin .safetensors .onnx .pkl .pickle .joblib .h5 .hdf5 .parquet
    .arrow .feather .tfrecord .zip .gz .tgz .bz2 .xz .zst .tar .7z .png .jpg .jpeg .gif .bmp .tif
    .tiff .webp .ico .pdf .mp3 .wav .flac .mp4 .avi .mov .so .dylib .dll .exe .o .a .pyc .whl
    .db .sqlite .lmdb .mdb .idx .dat""".split()
)
SNIFF_BYTES = 1024
CACHE_LIMIT = 100_000
MAP_MEMO_LIMIT = 16
_FOOTER_ROOM = 32
MAX_OUTLINE_BYTES = 512 * 1024

_cache: dict[tuple[str, int, int, int], "FileEntry"] = {}
_maps: dict[tuple[str, int, int], tuple[tuple, "RepoMap"]] = {}
_cache_lock = threading.Lock()


class FileEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: str
    size: int
    kind: Literal["python", "text", "binary", "large"]
    outline: list[str] = []


class RepoMap(BaseModel):
    model_config = ConfigDict(frozen=True)

    root: str
    files: list[FileEntry]
    omitted: int = 0

    def render(self, max_chars: int = 8000) -> str:
        """The map as text of at most `max_chars` characters.

        Outlines are dropped first, deepest files first, then files past the budget are
        summarised in a last line.
        """
        heads = [_head(entry) for entry in self.files]
        bodies = ["".join(f"\n  {line}" for line in entry.outline) for entry in self.files]
        total = sum(len(h) + len(b) + 1 for h, b in zip(heads, bodies))
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
        if self.omitted:
            pieces.append(f"... {self.omitted} more files")
        text = "\n".join(pieces)
        if len(text) <= max_chars:
            return text
        lines: list[str] = []
        used = 0
        for piece in pieces:
            if used + len(piece) + 1 + _FOOTER_ROOM > max_chars:
                break
            lines.append(piece)
            used += len(piece) + 1
        lines.append(f"... {len(self.files) + self.omitted - len(lines)} more files")
        return "\n".join(lines)[:max_chars]


def _head(entry: FileEntry) -> str:
    size = _human(entry.size)
    note = {"large": ", large, not read", "binary": ", binary"}.get(entry.kind, "")
    return f"{entry.path} ({size}{note})"


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def _skipped(rel: str) -> bool:
    return any(part in SKIP_DIRS for part in rel.split("/")[:-1])


def _git_listing(root: Path) -> list[str] | None:
    if not (root / ".git").exists():
        return None
    try:
        done = subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"],
            cwd=root,
            capture_output=True,
            check=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("git ls-files failed in %s (%s); walking the tree instead", root, exc)
        return None
    names = done.stdout.decode("utf-8", errors="surrogateescape").split("\0")
    return sorted({name for name in names if name})


def _walk_listing(root: Path) -> list[str]:
    found = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        base = PurePosixPath(*Path(folder).relative_to(root).parts)
        found.extend(str(base / name) if base.parts else name for name in names)
    return sorted(found)


def _outline(source: str) -> list[str]:
    tree = ast.parse(source)
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
    entry = FileEntry.model_construct(path=rel, size=size, kind=kind, outline=outline)
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
        if suffix == ".py" and size <= MAX_OUTLINE_BYTES:
            with open(path, "rb") as handle:
                source = handle.read()
            try:
                return "python", _outline(source.decode("utf-8"))
            except (SyntaxError, UnicodeDecodeError, ValueError) as exc:
                line = getattr(exc, "lineno", None)
                return "python", [f"(does not parse{f': line {line}' if line else ''})"]
        with open(path, "rb") as handle:
            head = handle.read(SNIFF_BYTES)
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
    stats = []
    for rel in listing:
        try:
            info = os.lstat(prefix + rel)
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode):
            stats.append((rel, info.st_size, info.st_mtime_ns))
    # An unchanged tree gives back the same map without building it again.
    memo_key = (str(root), max_files, large_file_bytes)
    signature = (tuple(stats), omitted)
    with _cache_lock:
        memo = _maps.get(memo_key)
    if memo is not None and memo[0] == signature:
        return memo[1]
    files = [_entry(prefix + rel, rel, size, mtime, large_file_bytes) for rel, size, mtime in stats]
    result = RepoMap.model_construct(root=str(root), files=files, omitted=omitted)
    with _cache_lock:
        if len(_maps) >= MAP_MEMO_LIMIT:
            _maps.clear()
        _maps[memo_key] = (signature, result)
    return result
