"""A reference list cut into entries: numbered, bracketed or author-year, with hanging indents."""

from __future__ import annotations

import re

from mlr_copilot.paper.layout import TextLine
from mlr_copilot.paper.text import join_lines, norm

_YEAR = re.compile(r"\b(?:19|20)\d{2}[a-z]?\b")
# Numbered labels: "[12] ", "12. " and "12 " (the last only in sequence, see `_numbering`).
_LABELS = {
    "bracket": re.compile(r"^\[(\d{1,3})\]"),
    "dotted": re.compile(r"^(\d{1,3})\.(?:\s|$)"),
    "plain": re.compile(r"^(\d{1,3})\s+[^\W\d_]"),
}
_KEYED = re.compile(r"^\[[A-Za-z][^\]\s]{0,24}\]\s")
_AUTHOR_YEAR_START = re.compile(r"^(?:[A-Z][A-Za-z'’\-]+|[A-Z][a-z]+ [A-Z][A-Za-z'’\-]+),\s")
# A line that goes on with an entry: a URL or DOI, or a word in lower case.
_CONTINUATION = re.compile(r"^(?:https?:|doi\b|www\.|(?!(?:van|von|de|der|den|del|di|da|du|la|le|ten|ter)\s)[a-z])")
# A line that opens the back matter after a list: no reference starts so.
_BACK_MATTER = re.compile(
    r"^(?:received\b|accepted\b|published\b|competing\s+interests?|conflicts?\s+of\s+interest|"
    r"acknowledge?ments?\b|author\s+contributions?|authors['’]?\s+contributions?|correspondence\b|"
    r"supplementary\s+(?:information|material)|publisher['’]?s\s+note|copyright\b|©|open\s+access\b|"
    r"this\s+article\s+is\s+licensed|additional\s+information|data\s+availability|funding\b|"
    r"submit\s+your\s+(?:next\s+)?manuscript|ready\s+to\s+submit)", re.I)
# An unheaded list is looked for in the last part of the document only.
_UNHEADED_FROM = 0.4
_MAX_TRIES = 50
# Indents within this many points of a column's left edge count as flush.
_FLUSH = 3.0


def split_references(lines: list[TextLine]) -> tuple[list[str], list[TextLine]]:
    """One string per reference entry, from the lines of the References section, and the
    lines after the list that open the back matter ("Received ...", "Competing interests").

    The signals, strongest first: numbered labels in sequence ([1], 1., 1), labels in
    brackets ([Smi19]), a hanging indent (or a first-line indent), then author-year shapes.
    A line never opens an entry when it starts with a URL or a lower-case word, or when the
    line before it ends in a broken word.
    """
    texts = [norm(ln.text) for ln in lines]
    style = _numbering(texts)
    keyed = sum(bool(_KEYED.match(t)) for t in texts) >= 3
    indents = _indents(lines)
    hanging = None if style or keyed else _hanging(indents, texts)
    entries: list[list[TextLine]] = []
    expected = 1
    for i, (line, text) in enumerate(zip(lines, texts)):
        if not text:
            continue
        if entries and _BACK_MATTER.match(text):
            return _joined(entries), lines[i:]
        if not entries:
            starts = True
        elif _CONTINUATION.match(text) or texts[i - 1][-1:] in "-\u00ad":
            starts = False
        elif style:
            match = _LABELS[style].match(text)
            # A label a little past the expected one resyncs after an entry the PDF lost.
            number = int(match.group(1)) if match else 0  # labels count from 1
            starts = expected <= number <= expected + 2
            if starts:
                expected = number
        elif keyed:
            starts = bool(_KEYED.match(text))
        elif hanging is not None:
            starts = (indents[i] < _FLUSH) == hanging
        else:
            ahead = text + " " + (texts[i + 1] if i + 1 < len(texts) else "")
            starts = _starts_author_year(line, ahead, entries)
        if starts or not entries:
            entries.append([])
            expected += 1
        entries[-1].append(line)
    return _joined(entries), []


def _joined(entries: list[list[TextLine]]) -> list[str]:
    result = []
    for entry in entries:
        for line in entry:
            line.paragraph_start = False
        joined = join_lines(entry).strip()
        if joined:
            result.append(joined)
    return result


def unheaded_list(lines: list[TextLine], body: float) -> int | None:
    """Where a numbered reference list with no heading starts (Nature's style), if there is one:
    a line labelled 1 ([1], 1.) in the last part of the document, no bigger than the body,
    followed by at least four more labels in sequence."""
    start = int(len(lines) * _UNHEADED_FROM)
    for style in ("bracket", "dotted"):
        label = _LABELS[style]
        ones = [i for i in range(start, len(lines)) if (match := label.match(lines[i].text.lstrip()))
                and match.group(1) == "1" and lines[i].size <= body + 0.5]
        # Each try reads at most 5 entries of 40 lines: a document of numbered lists stays quick.
        for i in ones[:_MAX_TRIES]:
            expected, j = 2, i + 1
            while j < len(lines) and j - i < 40 * expected:
                found = label.match(lines[j].text.lstrip())
                if found and int(found.group(1)) == expected:
                    expected += 1
                    if expected > 5:
                        return i
                j += 1
    return None


def _numbering(texts: list[str]) -> str | None:
    """The label style whose numbers run 1, 2, 3... down the lines, if one does."""
    for style, label in _LABELS.items():
        expected = 1
        for text in texts:
            match = label.match(text)
            if match and expected <= int(match.group(1)) <= expected + 2:
                expected = int(match.group(1)) + 1
        # Two in a row will do for a marked label; a bare number needs three.
        if expected >= (4 if style == "plain" else 3):
            return style
    return None


def _indents(lines: list[TextLine]) -> list[float]:
    """Each line's indent from the left edge of its column (lines of a page grouped by x)."""
    indents = [0.0] * len(lines)
    by_page: dict[int, list[int]] = {}
    for i, line in enumerate(lines):
        by_page.setdefault(line.page, []).append(i)
    for members in by_page.values():
        order = sorted(members, key=lambda i: lines[i].x0)
        edge = lines[order[0]].x0
        prev = edge
        for i in order:
            x0 = lines[i].x0
            if x0 - prev > 40:  # the next column
                edge = x0
            indents[i] = x0 - edge
            prev = x0
    return indents


def _hanging(indents: list[float], texts: list[str]) -> bool | None:
    """True for hanging indents (an entry's first line flush, the rest indented), False for
    first-line indents, None when the lines show neither. The group of lines that opens the
    entries is the one whose lines look more like openings (a capital, a name)."""
    flush = [t for t, d in zip(texts, indents) if t and d < _FLUSH]
    indented = [t for t, d in zip(texts, indents) if t and _FLUSH <= d < 40]
    if len(flush) < 2 or len(indented) < 2:
        return None

    def opening(group: list[str]) -> float:
        return sum(bool(_AUTHOR_YEAR_START.match(t) or (t[0].isupper() and not _CONTINUATION.match(t)))
                   for t in group) / len(group)

    return opening(flush) >= opening(indented)


def _starts_author_year(line: TextLine, ahead: str, entries: list[list[TextLine]]) -> bool:
    """Whether the line opens a new author-year entry; `ahead` is its text and the next line's."""
    if line.paragraph_start:
        return True
    so_far = " ".join(norm(ln.text) for ln in entries[-1])
    # "Surname, Given ... 2019." right after an entry that is complete (has a year, ends in ".").
    return bool(_AUTHOR_YEAR_START.match(ahead) and _YEAR.search(so_far) and so_far.endswith(".")
                and _YEAR.search(ahead))
