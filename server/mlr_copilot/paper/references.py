"""A reference list cut into entries: numbered, bracketed or author-year, with hanging indents."""

from __future__ import annotations

import re

from mlr_copilot.paper.layout import TextLine
from mlr_copilot.paper.text import join_lines, norm

_YEAR = re.compile(r"\b(?:19|20)\d{2}[a-z]?\b")
_BRACKET_REF = re.compile(r"^\[(\d{1,3})\]")
_DOTTED_REF = re.compile(r"^(\d{1,3})\.\s")
_AUTHOR_YEAR_START = re.compile(r"^(?:[A-Z][A-Za-z'’\-]+|[A-Z][a-z]+ [A-Z][A-Za-z'’\-]+),\s")


def split_references(lines: list[TextLine]) -> list[str]:
    """One string per reference entry, from the lines of the References section."""
    texts = [norm(ln.text) for ln in lines]
    bracketed = sum(bool(_BRACKET_REF.match(t)) for t in texts)
    dotted = sum(bool(_DOTTED_REF.match(t)) for t in texts)
    entries: list[list[TextLine]] = []
    expected = 1
    for i, (line, text) in enumerate(zip(lines, texts)):
        if not text:
            continue
        if bracketed >= 2:
            starts = bool(_BRACKET_REF.match(text))
        elif dotted >= 2:
            match = _DOTTED_REF.match(text)
            starts = bool(match) and int(match.group(1)) == expected
        else:
            ahead = text + " " + (texts[i + 1] if i + 1 < len(texts) else "")
            starts = _starts_author_year(line, ahead, entries, lines[i - 1] if i else None)
        if starts or not entries:
            entries.append([])
            expected += 1
        entries[-1].append(line)
    result = []
    for entry in entries:
        for line in entry:
            line.paragraph_start = False
        joined = join_lines(entry).strip()
        if joined:
            result.append(joined)
    return result


def _starts_author_year(line: TextLine, ahead: str, entries: list[list[TextLine]], prev: TextLine | None) -> bool:
    """Whether the line opens a new author-year entry; `ahead` is its text and the next line's."""
    if prev is None or not entries:
        return True
    if line.paragraph_start:
        return True
    # A hanging indent: the entry's first line sits left of its continuation lines.
    if prev.page == line.page and line.x0 < prev.x0 - 3 and abs(line.bottom - prev.bottom) < 3 * line.size:
        return True
    so_far = " ".join(norm(ln.text) for ln in entries[-1])
    # "Surname, Given ... 2019." right after an entry that is complete (has a year, ends in ".").
    return bool(_AUTHOR_YEAR_START.match(ahead) and _YEAR.search(so_far) and so_far.endswith(".")
                and _YEAR.search(ahead))
