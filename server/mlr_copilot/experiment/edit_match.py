"""Where a SEARCH block applies: it must match exactly one place in the file, as whole lines.
An exact match is tried first, then one that ignores trailing whitespace and a consistent
difference in indentation (the replacement is then re-indented by the same offset). A SEARCH
that matches nowhere is answered with the closest lines of the file, found within a bounded
effort whatever the sizes.
"""

from __future__ import annotations

import difflib
import os
import threading
import time
from collections import Counter
from collections.abc import Iterable

from .edit_blocks import EditAmbiguousError, EditNoMatchError, SearchReplace

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


def apply_search_replace(path: str, content: str | None, edit: SearchReplace,
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
