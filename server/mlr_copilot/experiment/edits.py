"""Edits the LLM proposes, parsed from its reply and applied in memory before anyone accepts them.

Reply format: zero or more blocks, each preceded by a line holding the file's path relative to
the workspace root (a `File:` label, a markdown heading mark, surrounding backticks or `**` are
tolerated; so are markdown fence lines between the path and the block):

    path/to/file.py
    <<<<<<< SEARCH
    lines copied exactly from the current file
    =======
    the lines that replace them
    >>>>>>> REPLACE

An empty SEARCH section creates the file (or fills an empty one). To write a whole file:

    path/to/new_file.py
    <<<<<<< FILE
    full content
    >>>>>>> FILE

To delete a file:

    path/to/old_file.py
    <<<<<<< DELETE
    >>>>>>> DELETE

A block directly after another one may omit the path line to reuse the previous path. Text
outside blocks is ignored. Markers are whole lines; a line of `=======` inside a SEARCH
section always ends it.

Applying: each SEARCH must match exactly one place in the file, as whole lines. An exact
match is tried first, then one that ignores trailing whitespace and a consistent difference
in indentation (the replacement is then re-indented by the same offset). Several edits to one
file apply in order, each to the result of the previous one. Nothing touches the disk until
`write_changes`, which first checks that every file still holds the content the change was
computed from.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from mlr_copilot.errors import MlrError
from mlr_copilot.workspace.paths import read_regular, relative_posix, safe_path

MAX_EDITABLE_BYTES = 5 * 1024 * 1024
# The "closest lines" hint for a SEARCH that matches nowhere compares at most HINT_LINES lines
# of it, HINT_CHARS characters a side, in at most HINT_WINDOWS places of the file, for at most
# HINT_SECONDS: a SEARCH as long as a file, or a file of megabytes, costs what a normal one does.
HINT_LINES = 40
HINT_CHARS = 4_000
HINT_WINDOWS = 2_000
HINT_SECONDS = 0.2
HINT_LINE_CHARS = 200
# Places a match is checked line by line in; a SEARCH found in more is ambiguous anyway.
MAX_LOOSE_MATCHES = 10

_OPEN = re.compile(r"^<{5,9} (SEARCH|FILE|DELETE)\s*$")
_DIVIDER = re.compile(r"^={5,9}\s*$")
_CLOSE = re.compile(r"^>{5,9} (REPLACE|FILE|DELETE)\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_LABEL = re.compile(r"^(file|path)\s*:\s*", re.IGNORECASE)
_QUOTED_PATH = re.compile(r"`([^`\s]+)`")


class EditError(MlrError):
    """An edit that cannot be applied; the message is written to be shown to the LLM too."""

    def __init__(self, message: str, path: str | None = None):
        super().__init__(message)
        self.path = path


class MalformedEditError(EditError):
    pass


class EditNoMatchError(EditError):
    pass


class EditAmbiguousError(EditError):
    pass


class EditTargetError(EditError):
    """The file exists but cannot be edited as text (binary, too large, a folder)."""


class StaleEditError(EditError):
    """A file changed on disk after the edit was computed; nothing was written."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class SearchReplace(_Frozen):
    kind: Literal["search_replace"] = "search_replace"
    path: str
    search: str
    replace: str


class WholeFile(_Frozen):
    kind: Literal["file"] = "file"
    path: str
    content: str


class DeleteFile(_Frozen):
    kind: Literal["delete"] = "delete"
    path: str


Edit = Annotated[SearchReplace | WholeFile | DeleteFile, Field(discriminator="kind")]


class FileChange(_Frozen):
    """One file's content before and after; None means the file does not exist."""

    path: str
    before: str | None
    after: str | None

    @property
    def created(self) -> bool:
        return self.before is None and self.after is not None

    @property
    def deleted(self) -> bool:
        return self.before is not None and self.after is None


# -- parsing ------------------------------------------------------------------------------


def _clean_path(line: str) -> str:
    path = _LABEL.sub("", line.strip().lstrip("#").strip())
    for wrapper in ("**", "`", '"', "'"):
        if len(path) > 2 * len(wrapper) and path.startswith(wrapper) and path.endswith(wrapper):
            path = path[len(wrapper) : -len(wrapper)].strip()
    return path.removesuffix(":").strip()


def _path_before(lines: list[str], start: int, previous: str | None, block_end: int) -> str:
    """The path line above the block opened at `start`, skipping blank and fence lines."""
    i = start - 1
    while i > block_end and (not lines[i].strip() or _FENCE.match(lines[i])):
        i -= 1
    if i <= block_end:
        if previous is not None:
            return previous
        raise MalformedEditError(
            f"line {start + 1}: a '{lines[start].strip()}' block has no file path; put the path on the line above it"
        )
    path = _clean_path(lines[i])
    if any(ch.isspace() for ch in path):
        # Prose such as "In `train.py`:" names the file in backticks.
        quoted = _QUOTED_PATH.findall(lines[i])
        path = quoted[0] if len(quoted) == 1 else ""
    if not path:
        raise MalformedEditError(
            f"line {start + 1}: expected a file path on the line above '{lines[start].strip()}', "
            f"got {lines[i].strip()!r}"
        )
    return path


def _section(lines: list[str]) -> str:
    return "".join(line + "\n" for line in lines)


def parse_edits(text: str) -> list[Edit]:
    """Every edit block in `text`, in order; `MalformedEditError` names the first problem."""
    lines = text.replace("\r\n", "\n").split("\n")
    edits: list[Edit] = []
    previous_path: str | None = None
    block_end = -1
    i = 0
    while i < len(lines):
        line = lines[i]
        close = _CLOSE.match(line)
        if close:
            raise MalformedEditError(f"line {i + 1}: '{line.strip()}' without a matching opening marker")
        opened = _OPEN.match(line)
        if not opened:
            i += 1
            continue
        kind = opened.group(1)
        path = _path_before(lines, i, previous_path if block_end >= 0 else None, block_end)
        start = i
        if kind == "SEARCH":
            search, i = _collect(lines, i + 1, _DIVIDER, f"SEARCH block for {path} (line {start + 1}) has no '======='")
            replace, i = _collect(
                lines, i + 1, _closer("REPLACE"), f"SEARCH block for {path} (line {start + 1}) has no '>>>>>>> REPLACE'"
            )
            edits.append(SearchReplace(path=path, search=_section(search), replace=_section(replace)))
        else:
            body, i = _collect(
                lines, i + 1, _closer(kind), f"{kind} block for {path} (line {start + 1}) has no '>>>>>>> {kind}'"
            )
            if kind == "FILE":
                edits.append(WholeFile(path=path, content=_section(body)))
            else:
                if any(b.strip() for b in body):
                    raise MalformedEditError(f"DELETE block for {path} (line {start + 1}) must be empty")
                edits.append(DeleteFile(path=path))
        previous_path = path
        block_end = i
        i += 1
    return edits


def _closer(kind: str) -> re.Pattern[str]:
    return re.compile(r"^>{5,9} " + kind + r"\s*$")


def _collect(lines: list[str], i: int, end: re.Pattern[str], unclosed: str) -> tuple[list[str], int]:
    """Lines from `i` up to the line matching `end`; returns them and that line's index."""
    body: list[str] = []
    while i < len(lines):
        if end.match(lines[i]):
            return body, i
        if _OPEN.match(lines[i]) or (_CLOSE.match(lines[i]) and not end.match(lines[i])):
            raise MalformedEditError(f"{unclosed} before line {i + 1} ('{lines[i].strip()}')")
        body.append(lines[i])
        i += 1
    raise MalformedEditError(f"{unclosed}: the reply ends inside the block")


# -- matching -----------------------------------------------------------------------------


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _common_indent(lines: Iterable[str]) -> str:
    indents = [_indent(line) for line in lines if line.strip()]
    if not indents:
        return ""
    return os.path.commonprefix(indents)  # noqa: RUF071 (indents are strings: character by character is meant)


def _dedented(lines: list[str], indent: str) -> list[str] | None:
    out = []
    for line in lines:
        stripped = line.rstrip()
        if not stripped:
            out.append("")
        elif stripped.startswith(indent):
            out.append(stripped[len(indent) :])
        else:
            return None
    return out


_HASH_MOD = (1 << 61) - 1
_HASH_BASE = 1_000_003


def _find_exact(content: list[str], search: list[str]) -> list[int]:
    """Where `search` matches as whole lines. A rolling hash over the lines finds every place in
    one pass, whatever the lengths; places are compared line by line until MAX_LOOSE_MATCHES
    are confirmed, beyond that many the SEARCH is ambiguous anyway and the rest are counted."""
    n = len(search)
    if n == 0 or n > len(content):
        return []
    ids: dict[str, int] = {}
    for line in search:
        ids.setdefault(line, len(ids) + 1)
    want = 0
    for line in search:
        want = (want * _HASH_BASE + ids[line]) % _HASH_MOD
    power = pow(_HASH_BASE, n - 1, _HASH_MOD)
    values = [ids.get(line, 0) for line in content]  # 0: a line no match can hold
    hits, rolling = [], 0
    for i, value in enumerate(values):
        if i >= n:
            rolling = (rolling - values[i - n] * power) % _HASH_MOD
        rolling = (rolling * _HASH_BASE + value) % _HASH_MOD
        if rolling == want and i >= n - 1:
            hits.append(i - n + 1)
    checked: list[int] = []
    for k, start in enumerate(hits):
        if len(checked) == MAX_LOOSE_MATCHES:
            return checked + hits[k:]
        if content[start : start + n] == search:
            checked.append(start)
    return checked


def _find_loose(content: list[str], search: list[str]) -> list[tuple[int, str, str]]:
    """Matches ignoring trailing whitespace and a consistent indentation offset.

    Returns (start, indent of the file's lines, indent of the search lines) per match. Only
    places whose lines are equal once stripped can match; when there are more than
    MAX_LOOSE_MATCHES of them, they are returned unchecked: the SEARCH is ambiguous.
    """
    n = len(search)
    s_indent = _common_indent(search)
    target = _dedented(search, s_indent)
    if target is None or not any(target):
        return []
    places = _find_exact([line.strip() for line in content], [line.strip() for line in target])
    if len(places) > MAX_LOOSE_MATCHES:
        return [(i, "", s_indent) for i in places]
    matches = []
    for i in places:
        window = content[i : i + n]
        c_indent = _common_indent(window)
        if _dedented(window, c_indent) == target:
            matches.append((i, c_indent, s_indent))
    return matches


def _reindent(lines: list[str], c_indent: str, s_indent: str) -> list[str]:
    out = []
    for line in lines:
        if not line.strip():
            out.append(line.rstrip())
        elif line.startswith(s_indent):
            out.append(c_indent + line[len(s_indent) :])
        else:
            out.append(c_indent + line.lstrip())
    return out


def _hint_starts(content: list[str], search: list[str], count: int) -> list[int]:
    """Where the hint looks: every window of a small file; in a large one, the windows that
    share the most lines with `search` where they line up, then evenly spaced ones."""
    if count <= HINT_WINDOWS:
        return list(range(count))
    offsets: dict[str, list[int]] = {}
    for offset, line in enumerate(search):
        if line and len(offsets.setdefault(line, [])) < 3:
            offsets[line].append(offset)
    votes: Counter[int] = Counter()
    for index, line in enumerate(content):
        for offset in offsets.get(line, ()):
            if 0 <= index - offset < count:
                votes[index - offset] += 1
    starts = [start for start, _ in votes.most_common(HINT_WINDOWS // 2)]
    step = count / (HINT_WINDOWS - len(starts))
    return list(dict.fromkeys(starts + [int(k * step) for k in range(HINT_WINDOWS - len(starts))]))


def _closest(content: list[str], search: list[str], cancel: threading.Event | None = None) -> tuple[int, list[str]]:
    """The window of the file most similar to `search` (start index, lines), as far as the
    bounds above let it look; cancelling stops the search with the best window so far."""
    n = max(1, min(len(search), HINT_LINES))
    stripped = [line.strip()[:HINT_LINE_CHARS] for line in content]
    wanted = [line.strip()[:HINT_LINE_CHARS] for line in search[:n]]
    best, best_start = -1.0, 0
    matcher = difflib.SequenceMatcher(autojunk=False)
    matcher.set_seq2("\n".join(wanted)[:HINT_CHARS])
    deadline = time.monotonic() + HINT_SECONDS
    for tried, start in enumerate(_hint_starts(stripped, wanted, max(1, len(content) - n + 1))):
        if tried % 16 == 0 and (time.monotonic() > deadline or (cancel is not None and cancel.is_set())):
            break
        matcher.set_seq1("\n".join(stripped[start : start + n])[:HINT_CHARS])
        if matcher.real_quick_ratio() <= best or matcher.quick_ratio() <= best:
            continue
        ratio = matcher.ratio()
        if ratio > best:
            best, best_start = ratio, start
    return best_start, [line[:HINT_LINE_CHARS] for line in content[best_start : best_start + n]]


def _lines(text: str) -> list[str]:
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def _apply_search_replace(path: str, content: str | None, edit: SearchReplace,
                          cancel: threading.Event | None = None) -> str:
    search = _lines(edit.search)
    replace = _lines(edit.replace)
    if not any(line.strip() for line in search):
        if content is None or not content.strip():
            return edit.replace
        raise EditAmbiguousError(
            f"{path}: the SEARCH section is empty but the file already has content; copy the lines to "
            "replace into SEARCH, or rewrite the whole file with a FILE block",
            path,
        )
    if content is None:
        raise EditNoMatchError(
            f"{path} does not exist; to create it use an empty SEARCH section or a FILE block", path
        )
    ends_with_newline = content.endswith("\n")
    lines = content.split("\n")
    if ends_with_newline:
        lines.pop()

    exact = _find_exact(lines, search)
    if len(exact) == 1:
        start, new = exact[0], replace
    elif len(exact) > 1:
        raise _ambiguous(path, exact)
    else:
        loose = _find_loose(lines, search)
        if len(loose) > 1:
            raise _ambiguous(path, [m[0] for m in loose])
        if not loose:
            raise _no_match(path, lines, search, cancel)
        start, c_indent, s_indent = loose[0]
        new = _reindent(replace, c_indent, s_indent)
    result = lines[:start] + new + lines[start + len(search) :]
    if not result:
        return ""
    return "\n".join(result) + ("\n" if ends_with_newline else "")


def _ambiguous(path: str, starts: list[int]) -> EditAmbiguousError:
    where = ", ".join(str(s + 1) for s in starts[:10])
    return EditAmbiguousError(
        f"{path}: the SEARCH lines match {len(starts)} places (starting at lines {where}); "
        "include more surrounding lines so they match exactly one place",
        path,
    )


def _no_match(path: str, lines: list[str], search: list[str], cancel: threading.Event | None) -> EditNoMatchError:
    start, window = _closest(lines, search, cancel)
    shown = "\n".join(window)
    return EditNoMatchError(
        f"{path}: the SEARCH lines match nothing in the file. SEARCH must copy existing lines exactly. "
        f"The closest lines are {start + 1}-{start + len(window)}:\n{shown}",
        path,
    )


# -- applying and writing -----------------------------------------------------------------


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
            current[rel] = _apply_search_replace(rel, current[rel], edit, cancel)
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
