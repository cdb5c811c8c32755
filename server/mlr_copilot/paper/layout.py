"""Page geometry: running headers and footers, columns and reading order.

Everything here works on `TextLine`s in PDF units (points, y growing upwards), so it knows
nothing of the PDF library that produced them.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import dataclass
from itertools import pairwise, repeat

# Running headers and page numbers live in these top and bottom fractions of the page.
_BAND = 0.09
# A page's outermost line may sit further in on a page with wide margins (A4 journals: 10%).
_REPEAT_BAND = 0.13
# A line counts as furniture if it repeats on at least this share of the pages.
_REPEAT_SHARE = 0.3
_PAGE_NUMBER = re.compile(r"^(?:page\s+)?(?:\d{1,4}|[ivxlcdm]{1,7})(?:\s*(?:/|of)\s*\d{1,4})?$", re.I)


@dataclass(slots=True)
class TextLine:
    """One line of text (or one column's part of it) on a page."""

    page: int
    text: str
    x0: float
    x1: float
    bottom: float
    top: float
    size: float
    bold: bool
    paragraph_start: bool = False

    @property
    def middle(self) -> float:
        return (self.top + self.bottom) / 2


@dataclass(slots=True)
class PageLines:
    """The lines of one page, in the order the file holds them, with the page's geometry."""

    index: int
    width: float
    height: float
    lines: list[TextLine]
    gutter: float | None = None
    text: str = ""  # page 1 only: PDFium's whole text, rotated margin stamps (arXiv's) included


def find_gutter(boxes: list[tuple[float, float, float, float]], width: float, height: float) -> float | None:
    """The x of the gap between two text columns, or None for a one-column page.

    `boxes` are (left, bottom, right, top) of text runs. The gutter is the x near the middle
    of the page crossed by the fewest runs, provided runs sit on both sides of it and few
    (a title, a wide figure caption) cross it.
    """
    low, high = height * _BAND, height * (1 - _BAND)
    spans = [(left, right) for left, bottom, right, top in boxes if right - left > 1 and bottom > low and top < high]
    if len(spans) < 8:
        return None
    total = len(spans)
    lefts, rights = (sorted(side) for side in zip(*spans))
    start = width * 0.35
    xs = [start + 2.0 * i for i in range(int((width * 0.65 - start) / 2.0) + 1)]
    # For each x: runs wholly left of it, runs wholly right of it, and those crossing it.
    left_of = list(map(bisect_right, repeat(rights), xs))
    right_of = [total - n for n in map(bisect_left, repeat(lefts), xs)]
    limit = 0.2 * total
    best = [(crossing, x) for x, a, b in zip(xs, left_of, right_of)
            if a >= 4 and b >= 4 and (crossing := total - a - b) <= limit]
    if not best:
        return None
    fewest = min(c for c, _ in best)
    candidates = [x for c, x in best if c == fewest]
    # The gap is a run of consecutive candidates; take the middle of the run nearest the centre.
    runs: list[list[float]] = [[candidates[0]]]
    for x in candidates[1:]:
        if x - runs[-1][-1] <= 2.5:
            runs[-1].append(x)
        else:
            runs.append([x])
    run = min(runs, key=lambda r: abs((r[0] + r[-1]) / 2 - width / 2))
    return (run[0] + run[-1]) / 2


def gutter_holds(lines: list[TextLine], gutter: float, height: float) -> bool:
    """Whether `gutter` (the previous page's, say) parts these lines as a search would want:
    none crosses it and at least four sit on each side, counted as `find_gutter` counts.

    A paper's columns stay put from page to page, and this check costs a sixth of a search.
    """
    low, high = height * _BAND, height * (1 - _BAND)
    left = right = 0
    for line in lines:
        if line.x1 - line.x0 > 1 and line.bottom > low and line.top < high:
            if line.x1 <= gutter:
                left += 1
            elif line.x0 >= gutter:
                right += 1
            else:
                return False
    return left >= 4 and right >= 4


def drop_furniture(pages: list[PageLines]) -> None:
    """Remove running headers, footers and page numbers from every page, in place.

    A candidate is one of the two outermost lines at the top or bottom of a page inside the
    margin band. It goes if it is a bare page number, or if the same text (digits ignored)
    recurs at the same height on several pages. The outermost line of each end may sit in a
    wider band: a header's height is the journal's choice.
    """
    # (page, index of the line on it, its row's text and height as a key)
    candidates: list[tuple[PageLines, int, tuple[str, int]]] = []
    seen: dict[tuple[str, int], set[int]] = defaultdict(set)
    for page in pages:
        if not page.lines:
            continue
        lines = page.lines
        heights = [ln.top + ln.bottom for ln in lines]  # twice the middle: the same order
        by_height = sorted(range(len(lines)), key=heights.__getitem__)
        last = len(by_height) - 1
        for at in dict.fromkeys((0, min(1, last), max(last - 1, 0), last)):
            i = by_height[at]
            if not _in_band(lines[i], page.height, _REPEAT_BAND if at in (0, last) else _BAND):
                continue
            # A header may come in pieces ("Journal of Statistical Software" and "11"): the
            # row is keyed whole, so the pieces go together. They sit next to it by height.
            low = high = at
            while low > 0 and heights[i] - heights[by_height[low - 1]] < 4:
                low -= 1
            while high < last and heights[by_height[high + 1]] - heights[i] < 4:
                high += 1
            row = sorted(by_height[low:high + 1], key=lambda j: lines[j].x0)
            text = " ".join(lines[j].text for j in row)
            key = (re.sub(r"\d+", "#", " ".join(text.lower().split())), round(lines[i].middle / 4))
            for j in row:
                candidates.append((page, j, key))
            seen[key].add(page.index)
    with_text = sum(1 for p in pages if p.lines)
    needed = max(2, math.ceil(_REPEAT_SHARE * with_text))
    # Deleted by index, last first, so the indices still to come stay valid.
    doomed = sorted({(page.index, i): page for page, i, key in candidates
                     if len(seen[key]) >= needed or (_PAGE_NUMBER.match(page.lines[i].text.strip())
                                                     and _in_band(page.lines[i], page.height, _BAND))}.items(),
                    reverse=True)
    for (_, i), page in doomed:
        del page.lines[i]


def _in_band(line: TextLine, height: float, band: float) -> bool:
    return line.middle < height * band or line.middle > height * (1 - band)


def reading_order(page: PageLines) -> list[TextLine]:
    """The page's lines top to bottom; on a two-column page, column by column.

    Lines that cross the gutter (a title, a wide caption) cut the page into bands; within a
    band the left column is read before the right one.
    """
    # Lines whose bottoms share a whole point make one row, read left to right (`int` cuts the
    # fraction off at a third of what `round` costs). Bottoms, not tops: an accent or a
    # superscript at the start of a piece raises its top.
    lines = sorted(page.lines, key=lambda ln: (-int(ln.bottom), ln.x0))
    gutter = page.gutter
    if gutter is None:
        return lines
    low, high = gutter - 2, gutter + 2
    ordered: list[TextLine] = []
    left: list[TextLine] = []
    right: list[TextLine] = []
    for line in lines:
        if line.x1 <= high:
            left.append(line)
        elif line.x0 >= low:
            right.append(line)
        else:
            ordered += left
            ordered += right
            ordered.append(line)
            left, right = [], []
    ordered += left
    ordered += right
    return ordered


def join_row_pieces(lines: list[TextLine]) -> list[TextLine]:
    """Lines in reading order with the pieces of one line joined: PDFium cuts a line at a wide
    space (justified text in a narrow column), which would make "Semi-" a line of its own.
    Pieces farther apart than two font sizes stay apart (table cells, plot labels)."""
    if not lines:
        return lines
    out: list[TextLine] = [lines[0]]
    for line in lines[1:]:
        prev = out[-1]
        # The cheapest test first: most lines sit on a row of their own.
        if (-1 < prev.bottom - line.bottom < 1 and 0 <= line.x0 - prev.x1 <= 2 * line.size
                and prev.page == line.page and -0.3 < prev.size - line.size < 0.3):
            out[-1] = TextLine(prev.page, f"{prev.text} {line.text}", prev.x0, line.x1, min(prev.bottom, line.bottom),
                               max(prev.top, line.top), prev.size, prev.bold, prev.paragraph_start)
        else:
            out.append(line)
    return out


def mark_paragraphs(lines: list[TextLine]) -> None:
    """Flag lines that start a paragraph: after a vertical gap wider than the usual leading.

    The usual leading is learnt from the document itself as a multiple of the font size.
    """
    ratios = []
    for prev, line in pairwise(lines):
        size = line.size
        step = prev.bottom - line.bottom
        if prev.page == line.page and 0 < step < 3 * size and abs(prev.size - size) < 0.3:
            ratios.append(step / size)
    ratios.sort()
    leading = ratios[len(ratios) // 2] if ratios else 1.2
    if lines:
        lines[0].paragraph_start = True
    for prev, line in pairwise(lines):
        # A jump to the next column or page goes upwards and so never counts as a gap.
        size = line.size if line.size > prev.size else prev.size
        line.paragraph_start = prev.page == line.page and prev.bottom - line.bottom > leading * size * 1.2
