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

Applying them is `edits.py`'s work.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from mlr_copilot.errors import MlrError

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
