"""Tables and colour for the terminal, in plain text: a header row and columns as wide as their
widest cell, two spaces apart. On a terminal, a table wider than the window has its free-text
columns (a title, a note) cut to fit, with an ellipsis, and styles (the queue's state colours)
show unless `NO_COLOR` is set; piped, every line is whole and plain, as scripts and tests read
them. Every cell goes through `untrusted.one_line`, so control characters from workspace or LLM
text stay visible and a line break cannot forge a row.

Not Rich: importing it took 30-40 ms, a third of what a command that only reads may take to start."""

from __future__ import annotations

import os
import sys
from collections.abc import Collection, Iterable, Sequence
from typing import TextIO

from ..untrusted import one_line

GAP = "  "
ELLIPSIS = "…"
# a free column is never cut narrower than this (nor than its header): a stub helps nobody
MIN_FREE = 10
_SGR = {"bold": "1", "red": "31", "green": "32", "yellow": "33", "magenta": "35", "cyan": "36"}


class Styled:
    """A cell shown in `style` ("green", "bold red") when the terminal shows colour."""

    __slots__ = ("style", "text")

    def __init__(self, text: object, style: str) -> None:
        self.text = text
        self.style = style


def wants_colour(stream: TextIO) -> bool:
    """Colour only for a terminal, and never when `NO_COLOR` (no-color.org) or `TERM=dumb` says no."""
    return stream.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def paint(text: str, style: str, colour: bool) -> str:
    """`text` (already visible) wrapped in the SGR codes of `style`, when `colour`."""
    if not (colour and style and text):
        return text
    return f"\x1b[{';'.join(_SGR[name] for name in style.split())}m{text}\x1b[0m"


def terminal_columns(stream: TextIO) -> int | None:
    """The window's width for a terminal (`COLUMNS` first, as `shutil` reads it); None when piped."""
    if not stream.isatty():
        return None
    given = os.environ.get("COLUMNS", "")
    if given.isdigit() and int(given) > 0:
        return int(given)
    try:
        return os.get_terminal_size(stream.fileno()).columns or None
    except (OSError, ValueError):
        return None


def display_width(text: str) -> int:
    """Columns `text` takes on a terminal: wide (CJK) characters two, combining marks and
    format characters (joiners) none."""
    if text.isascii():
        return len(text)
    return sum(_char_width(c) for c in text)


def _char_width(char: str) -> int:
    import unicodedata  # only for text that is not ASCII

    if unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def clip(text: str, columns: int) -> str:
    """`text` cut to at most `columns` display columns, its end an ellipsis when cut."""
    if display_width(text) <= columns:
        return text
    room = columns - 1  # the ellipsis
    kept = []
    for char in text:
        room -= _char_width(char)
        if room < 0:
            break
        kept.append(char)
    return "".join(kept) + ELLIPSIS


def _cell(value: object) -> tuple[str, str]:
    if isinstance(value, Styled):
        return _cell(value.text)[0], value.style
    return one_line(value).replace("\t", " "), ""  # a tab would break the columns


def _fit(widths: list[int], free: Collection[int], floors: list[int], limit: int) -> list[int]:
    """`widths` with the widest free columns narrowed, in turn, until the row fits `limit`
    columns or each is down to its floor."""
    widths = list(widths)
    excess = sum(widths) + len(GAP) * (len(widths) - 1) - limit
    while excess > 0:
        shrinkable = [i for i in free if widths[i] > floors[i]]
        if not shrinkable:
            break
        top = max(widths[i] for i in shrinkable)
        widest = [i for i in shrinkable if widths[i] == top]
        below = max((widths[i] for i in shrinkable if widths[i] < top), default=0)
        # the widest share the cut, each down to the next widest at most: a long title is cut
        # before a short note is
        share = -(-excess // len(widest))
        for i in widest:
            cut = min(share, excess, widths[i] - max(floors[i], below))
            widths[i] -= cut
            excess -= cut
    return widths


def table_lines(header: Sequence[str], rows: Iterable[Sequence[object]], *, free: Collection[int] = (),
                limit: int | None = None, colour: bool = False) -> list[str]:
    """The table's lines: the header, then a line per row (none when there is no row). `free`:
    the columns (indexes) of free text that may be cut to fit `limit` display columns; None
    keeps every cell whole. `colour`: the header bold and each `Styled` cell in its style."""
    heads = [_cell(h)[0] for h in header]
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [max([display_width(h)] + [display_width(row[i][0]) for row in cells]) for i, h in enumerate(heads)]
    if limit is not None:
        floors = [min(widths[i], max(MIN_FREE, display_width(h))) for i, h in enumerate(heads)]
        widths = _fit(widths, free, floors, limit)
    header_cells = [(h, "bold") for h in heads]
    return [_line(row, widths, colour) for row in [header_cells, *cells]]


def _line(row: Sequence[tuple[str, str]], widths: Sequence[int], colour: bool) -> str:
    parts = []
    for i, ((text, style), width) in enumerate(zip(row, widths)):
        shown = clip(text, width)
        padding = "" if i == len(widths) - 1 else " " * (width - display_width(shown))
        parts.append(paint(shown, style, colour) + padding)
    return GAP.join(parts).rstrip()


def print_table(header: Sequence[str], rows: Iterable[Sequence[object]], *, free: Collection[int] = ()) -> None:
    """The table on stdout, fitted to the terminal's width and coloured when it is one."""
    out = sys.stdout
    for line in table_lines(header, rows, free=free, limit=terminal_columns(out), colour=wants_colour(out)):
        print(line, file=out)
