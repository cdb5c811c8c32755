"""Prototype code retrieval: pieces of code from the workspace and from the folders or git
repositories the user lists, ranked by BM25 against a query.

Python files are cut at top-level functions and classes, other text files into windows of
lines. The chunks and their index are cached; only changed files are read again. Secrets
files (`.env`, credentials, keys) are never read: chunks go into the LLM's prompt.
"""

from __future__ import annotations

import ast
import hashlib
import logging
import os
import re
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, Field

from mlr_copilot import pyast
from mlr_copilot.retrieval.corpus import Doc, FileCorpus, UnreadableFile
from mlr_copilot.retrieval.errors import RetrievalCancelled
from mlr_copilot.workspace import gitsafe
from mlr_copilot.workspace.paths import TOOLING_DIRS, is_secret_name, read_regular

log = logging.getLogger(__name__)

WINDOW = 60
MAX_FILE_BYTES = 1_000_000
MAX_FILES_PER_SOURCE = 20_000
CLONE_TIMEOUT = 600.0
TEXT_SUFFIXES = frozenset(
    {
        ".py", ".pyi", ".md", ".rst", ".txt", ".toml", ".cfg", ".ini", ".yaml", ".yml", ".json", ".sh",
        ".c", ".cc", ".cpp", ".h", ".hpp", ".cu", ".cuh", ".js", ".ts", ".jsx", ".tsx", ".java", ".scala",
        ".kt", ".rs", ".go", ".jl", ".r", ".m", ".lua", ".sql", ".proto", ".cmake",
    }
)
TEXT_NAMES = frozenset({"Makefile", "Dockerfile", "Justfile"})
_URL = re.compile(r"^(?:https?|ssh|git|file)://|^[\w.-]+@[\w.-]+:")


class CodeChunk(BaseModel):
    source: str = Field(description='"workspace" or the source as listed in the settings')
    path: str = Field(description="path relative to the source's folder, with forward slashes")
    start_line: int
    end_line: int
    text: str
    score: float = 0.0


class CodeResult(BaseModel):
    chunks: list[CodeChunk] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


def _windows(start: int, end: int) -> list[tuple[int, int]]:
    return [(s, min(s + WINDOW - 1, end)) for s in range(start, end + 1, WINDOW)]


def python_spans(text: str) -> list[tuple[int, int]] | None:
    """Line spans (1-based, inclusive) of top-level definitions and the statements between
    them; None when the file does not parse."""
    try:
        tree = pyast.parse(text)
    except (SyntaxError, ValueError):
        return None
    lines = text.splitlines()
    spans: list[tuple[int, int]] = []
    loose: list[int] = []  # first and last line of a run of module-level statements

    def flush() -> None:
        if loose:
            spans.extend(_windows(loose[0], loose[1]))
            loose.clear()

    for node in tree.body:
        end = node.end_lineno or node.lineno
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            start = min([d.lineno for d in node.decorator_list] + [node.lineno])
            # The comment block right above a definition belongs to it.
            while start > 1 and lines[start - 2].lstrip().startswith("#"):
                start -= 1
            flush()
            spans.extend(_windows(start, end) if end - start + 1 > 3 * WINDOW else [(start, end)])
        elif loose:
            loose[1] = end
        else:
            loose.extend([node.lineno, end])
    flush()
    return spans


def chunk_file(text: str, is_python: bool) -> list[tuple[int, int, str]]:
    lines = text.splitlines()
    spans = python_spans(text) if is_python else None
    if spans is None:
        spans = _windows(1, len(lines))
    chunks = []
    for start, end in spans:
        body = "\n".join(lines[start - 1 : end])
        if body.strip():
            chunks.append((start, end, body))
    return chunks


def _is_text_file(name: str) -> bool:
    return name in TEXT_NAMES or os.path.splitext(name)[1].lower() in TEXT_SUFFIXES


def _source_files(root: Path) -> tuple[dict[str, Path], bool]:
    """Text files under `root` keyed by relative path, and whether the cap cut the list."""
    found: dict[str, Path] = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(
            d for d in dirs
            if d not in TOOLING_DIRS and not d.endswith(".egg-info") and not is_secret_name(d)
            and not (Path(folder, d) / "pyvenv.cfg").exists()
        )
        for name in sorted(files):
            if not _is_text_file(name) or is_secret_name(name):
                continue
            path = Path(folder) / name
            try:
                # symlinks (which may lead anywhere) and FIFOs, sockets, devices are never read
                if not stat.S_ISREG(os.lstat(path).st_mode):
                    continue
            except OSError:
                continue
            found[path.relative_to(root).as_posix()] = path
            if len(found) >= MAX_FILES_PER_SOURCE:
                return found, True
    return found, False


def _reader(origins: dict[str, tuple[str, str]]) -> Callable[[str, Path], list[Doc]]:
    def read(key: str, path: Path) -> list[Doc]:
        label, relpath = origins[key]
        try:
            raw = read_regular(path, MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise UnreadableFile(exc.strerror or str(exc)) from None
        if raw is None:
            raise UnreadableFile("not a regular file")
        if len(raw) > MAX_FILE_BYTES:
            raise UnreadableFile("larger than 1 MB")
        if b"\0" in raw[:8192]:
            raise UnreadableFile("binary")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UnreadableFile("not UTF-8 text") from exc
        return [
            {
                "id": f"{key}:{start}",
                "text": f"{relpath}\n{body}",
                "data": {"source": label, "path": relpath, "start": start, "end": end, "text": body},
            }
            for start, end, body in chunk_file(text, relpath.endswith((".py", ".pyi")))
        ]

    return read


def is_url(source: str) -> bool:
    return bool(_URL.match(source.strip()))


def _clone_dir(cache_dir: Path, url: str) -> Path:
    name = re.sub(r"[^\w.-]+", "-", url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git"))[:40] or "repo"
    return cache_dir / "repos" / f"{name}-{hashlib.sha256(url.encode()).hexdigest()[:10]}"


def clone(url: str, dest: Path, should_cancel: Callable[[], bool] | None = None) -> str | None:
    """Shallow-clone `url` into `dest`; the reason on failure, None on success."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}."))
    process = subprocess.Popen(
        gitsafe.command("clone", "--depth", "1", "--quiet", "--", url, str(staging)), cwd=dest.parent,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=gitsafe.environment(None),
    )
    deadline = time.monotonic() + CLONE_TIMEOUT
    try:
        while True:
            try:
                _, stderr = process.communicate(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                if (should_cancel is not None and should_cancel()) or time.monotonic() > deadline:
                    process.kill()
                    process.communicate()
                    if time.monotonic() > deadline:
                        return f"git clone took longer than {CLONE_TIMEOUT:.0f} s"
                    raise RetrievalCancelled(f"cloning {url} cancelled") from None
        if process.returncode != 0:
            lines = [line for line in stderr.decode(errors="replace").splitlines() if line.strip()]
            return lines[-1].strip() if lines else f"git clone exited with {process.returncode}"
        staging.rename(dest)
        return None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _roots(
    workspace: Path, sources: list[str], cache_dir: Path, online: bool,
    should_cancel: Callable[[], bool] | None, report: Callable[[str], None] | None,
) -> tuple[list[tuple[str, Path]], list[str]]:
    roots: list[tuple[str, Path]] = [("workspace", workspace)]
    notes: list[str] = []
    for source in sources:
        source = source.strip()
        if not source:
            continue
        if is_url(source):
            dest = _clone_dir(cache_dir, source)
            if not (dest / ".git").exists():
                if not online:
                    notes.append(f"prototype repository {source} skipped: offline mode and not cloned before")
                    continue
                if report is not None:
                    report(f"Cloning {source}")
                problem = clone(source, dest, should_cancel)
                if problem is not None:
                    notes.append(f"prototype repository {source} skipped: could not clone it ({problem})")
                    continue
            roots.append((source, dest))
            continue
        path = Path(source).expanduser()
        path = (path if path.is_absolute() else workspace / path).resolve()
        if not path.is_dir():
            notes.append(f"prototype folder {source} skipped: {path} is not a folder")
        elif path == workspace:
            continue
        else:
            roots.append((source, path))
    return roots, notes


def search_code(
    query: str,
    *,
    workspace: Path,
    sources: list[str],
    cache_dir: Path,
    k: int = 8,
    online: bool,
    should_cancel: Callable[[], bool] | None = None,
    report: Callable[[str], None] | None = None,
) -> CodeResult:
    """The `k` code chunks that best match `query` across the workspace and `sources`."""
    workspace = Path(workspace).resolve()
    cache_dir = Path(cache_dir)
    roots, notes = _roots(workspace, sources, cache_dir, online, should_cancel, report)

    files: dict[str, Path] = {}
    origins: dict[str, tuple[str, str]] = {}
    for label, root in roots:
        found, capped = _source_files(root)
        if capped:
            notes.append(f"{label}: only the first {MAX_FILES_PER_SOURCE} files are searched")
        for relpath, path in found.items():
            key = f"{label}::{relpath}"
            files[key] = path
            origins[key] = (label, relpath)

    digest = hashlib.sha256("\n".join(f"{label}\t{root}" for label, root in roots).encode()).hexdigest()[:16]
    corpus = FileCorpus(cache_dir / "index" / digest, _reader(origins), tokenizer="code")
    stats = corpus.update(files, should_cancel=should_cancel, report=report)
    skipped = len(stats.skipped)
    if skipped:
        log.info("code search skipped %d files (binary, not UTF-8 or over 1 MB)", skipped)

    chunks = [
        CodeChunk(
            source=doc["data"]["source"],
            path=doc["data"]["path"],
            start_line=doc["data"]["start"],
            end_line=doc["data"]["end"],
            text=doc["data"]["text"],
            score=score,
        )
        for doc, score in corpus.search(query, k)
    ]
    return CodeResult(chunks=chunks, notes=notes)
