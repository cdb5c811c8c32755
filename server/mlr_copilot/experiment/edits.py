"""Edits applied in memory before anyone accepts them, then written to disk once accepted.

Several edits to one file apply in order, each to the result of the previous one (where a
SEARCH applies is `edit_match.py`'s rule). Nothing touches the disk until `write_changes`,
which first checks that every file still holds the content the change was computed from.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path

from mlr_copilot.workspace.paths import read_regular, relative_posix, safe_path

from .edit_blocks import (
    Edit,
    EditNoMatchError,
    EditTargetError,
    FileChange,
    SearchReplace,
    StaleEditError,
    WholeFile,
)
from .edit_match import apply_search_replace

MAX_EDITABLE_BYTES = 5 * 1024 * 1024


def _read_text(target: Path, rel: str) -> str | None:
    try:
        info = target.stat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise EditTargetError(f"{rel} cannot be read: {exc.strerror}", rel) from None
    if info.st_size > MAX_EDITABLE_BYTES:
        raise EditTargetError(f"{rel} is too large to edit as text ({info.st_size} bytes)", rel)
    try:
        data = read_regular(target, MAX_EDITABLE_BYTES + 1)
    except OSError as exc:
        raise EditTargetError(f"{rel} cannot be read: {exc.strerror}", rel) from None
    if data is None:
        raise EditTargetError(f"{rel} is not a regular file", rel)
    if len(data) > MAX_EDITABLE_BYTES:
        raise EditTargetError(f"{rel} is too large to edit as text", rel)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise EditTargetError(f"{rel} is not UTF-8 text and cannot be edited", rel) from None


def apply_edits(workspace: Path, edits: Iterable[Edit], cancel: threading.Event | None = None) -> list[FileChange]:
    """The files `edits` would change, computed in memory; nothing is written. Setting
    `cancel` cuts the search for the closest lines of a SEARCH that matches nowhere short."""
    workspace = Path(workspace)
    original: dict[str, str | None] = {}
    current: dict[str, str | None] = {}
    crlf: dict[str, bool] = {}
    for edit in edits:
        rel = relative_posix(workspace, edit.path)
        if rel not in original:
            text = _read_text(safe_path(workspace, rel), rel)
            original[rel] = text
            crlf[rel] = text is not None and text.count("\r\n") * 2 > text.count("\n")
            # Match against LF text; CRLF files get their line endings back at the end.
            current[rel] = text.replace("\r\n", "\n") if text is not None and crlf[rel] else text
        if isinstance(edit, SearchReplace):
            current[rel] = apply_search_replace(rel, current[rel], edit, cancel)
        elif isinstance(edit, WholeFile):
            current[rel] = edit.content
        else:
            if current[rel] is None:
                raise EditNoMatchError(f"cannot delete {rel}: it does not exist", rel)
            current[rel] = None
    changes = []
    for rel, before in original.items():
        after = current[rel]
        if after is not None and crlf[rel]:
            after = after.replace("\n", "\r\n")
        if after != before:
            changes.append(FileChange(path=rel, before=before, after=after))
    return changes


def content_sha256(text: str | None) -> str | None:
    return None if text is None else hashlib.sha256(text.encode("utf-8")).hexdigest()


def holds_text(target: Path, text: str | None) -> bool:
    """Whether `target` holds exactly `text` (None: does not exist), reading it only if it may."""
    try:
        info = target.lstat()
    except FileNotFoundError:
        return text is None
    except OSError:
        return False
    if text is None or not target.is_file():
        return False
    wanted = text.encode("utf-8")
    return info.st_size == len(wanted) and target.read_bytes() == wanted


def _write_atomic(target: Path, text: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = target.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".mlr-tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _put(target: Path, text: str | None) -> None:
    if text is None:
        target.unlink(missing_ok=True)
    else:
        _write_atomic(target, text)


def write_changes(
    workspace: Path, changes: list[FileChange], expected: dict[str, str | None] | None = None
) -> None:
    """Write `changes` after checking every file still holds its `before` content.

    `expected` optionally maps paths to the sha256 (`content_sha256`) the file must have now,
    None meaning it must not exist. If any file differs, `StaleEditError` and nothing is
    written. Each file is replaced atomically; if a write fails, the files already written are
    restored.
    """
    workspace = Path(workspace)
    targets = []
    stale = []
    for change in changes:
        target = safe_path(workspace, change.path)
        # the file must hold what the caller was promised, where it named a promise
        drifted = expected is not None and change.path in expected and expected[change.path] != content_sha256(change.before)
        if not holds_text(target, change.before) or drifted:
            stale.append(change.path)
        targets.append(target)
    if stale:
        raise StaleEditError(
            f"{', '.join(stale)} changed on disk since the edit was proposed; nothing was written. "
            "Propose the edit again against the current files.",
            stale[0],
        )
    written: list[tuple[Path, FileChange]] = []
    try:
        for target, change in zip(targets, changes):
            _put(target, change.after)
            written.append((target, change))
    except OSError as exc:
        for done_target, done in reversed(written):
            try:
                _put(done_target, done.before)
            except OSError:
                continue
        raise EditTargetError(f"could not write {change.path}: {exc}; no file was changed", change.path) from None


def unified_diff(changes: Iterable[FileChange]) -> str:
    """A git-style unified diff of `changes`."""
    out: list[str] = []
    for change in changes:
        before = (change.before or "").splitlines(keepends=True)
        after = (change.after or "").splitlines(keepends=True)
        out.append(f"diff --git a/{change.path} b/{change.path}\n")
        if change.created:
            out.append("new file mode 100644\n")
        elif change.deleted:
            out.append("deleted file mode 100644\n")
        lines = difflib.unified_diff(
            before,
            after,
            fromfile="/dev/null" if change.before is None else f"a/{change.path}",
            tofile="/dev/null" if change.after is None else f"b/{change.path}",
        )
        for line in lines:
            if line.endswith("\n"):
                out.append(line)
            else:
                out.append(line + "\n\\ No newline at end of file\n")
    return "".join(out)
