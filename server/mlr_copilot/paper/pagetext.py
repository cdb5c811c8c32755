"""One page of a PDF read into plain `TextLine`s through PDFium's own calls.

Text comes from PDFium's page text in one call; positions and fonts are looked up only at the
ends of each line, which keeps a page to a few hundred native calls. The caller holds
`PDFIUM_LOCK` (see `pdf.py`) and passes pypdfium2's `raw` module, which it imports only when a
PDF is read.
"""

from __future__ import annotations

import ctypes
import functools
import re
from collections.abc import Callable
from types import ModuleType, SimpleNamespace
from typing import Any

from mlr_copilot.paper.layout import PageLines, TextLine, find_gutter, gutter_holds

# A text line with its surrounding whitespace left out of group 1 (`\s` is `str.isspace`).
_LINE = re.compile(r"[^\S\r\n]*([^\r\n]*\S)")
_BOLD_NAME = re.compile(r"bold|black|heavy|semibold|demi|medi|cmbx|\bbx|-b\b|\.b\b", re.I)
# (font name, loose box height of a line's first character) -> (font size, bold)
Styles = dict[tuple[bytes, float], tuple[float, bool]]
PDFIUM_ERRORS = {1: "unknown error", 2: "file access error", 3: "damaged or not a valid PDF",
                 4: "password required", 5: "unsupported security scheme", 6: "page not found"}
# A PDFium handle (document, page, text page) from pypdfium2, which ships no types.
Handle = Any


def read_page(document: Handle, index: int, styles: Styles, hint: float | None = None) -> PageLines:
    """The page's lines, through PDFium's own calls: pypdfium2's page and text-page objects
    (weak references, finalizers, parent tracking) cost a few percent of a paper's parse."""
    import pypdfium2.raw as raw  # loaded already by whoever opened `document`

    page = raw.FPDF_LoadPage(document.raw, index)
    if not page:
        raise pdfium_error(raw)
    try:
        result = PageLines(index, raw.FPDF_GetPageWidthF(page), raw.FPDF_GetPageHeightF(page), [])
        textpage = raw.FPDFText_LoadPage(page)
        if not textpage:
            raise pdfium_error(raw)
        try:
            _page_text(textpage, raw, result, styles, hint)
        finally:
            raw.FPDFText_ClosePage(textpage)
    finally:
        raw.FPDF_ClosePage(page)
    return result


def pdfium_error(raw: ModuleType) -> Exception:
    import pypdfium2 as pdfium  # loaded already by whoever opened the document

    code = raw.FPDF_GetLastError()
    error: Exception = pdfium.PdfiumError(PDFIUM_ERRORS.get(code, "unknown error"), err_code=code)
    return error


def _text(textpage: Handle, raw: ModuleType) -> str:
    """All the text of a PDFium text page, as pypdfium2's `get_text_range` reads it.

    Characters PDFium leaves out of the text at either end are skipped first: asked for a
    range that ends on one, PDFium reads past it (crbug.com/pdfium/2079).
    """
    text_index = raw.FPDFText_GetTextIndexFromCharIndex
    first, last = 0, raw.FPDFText_CountChars(textpage) - 1
    while first <= last and text_index(textpage, first) == -1:
        first += 1
    while last >= first and text_index(textpage, last) == -1:
        last -= 1
    if first > last:
        return ""
    size = text_index(textpage, last) - text_index(textpage, first) + 2
    # ctypes makes a new array type for each length it has not seen (some 25 us); a page's
    # text length seldom repeats, so buffers come in powers of two.
    buffer = (ctypes.c_ushort * (1 << (size - 1).bit_length()))()
    written = raw.FPDFText_GetText(textpage, first, last - first + 1, buffer)
    return bytes(memoryview(buffer)[: max(written - 1, 0)]).decode("utf-16-le", errors="ignore")


class _Chars:
    """Position and font lookups for single characters of a PDFium text page.

    A line costs three PDFium calls in the usual case, and a two-column page in row order one
    per character, so the calls and their out-parameters are bound once here. A line's size
    and weight are asked once per font name and height of its first character (`styles`,
    shared by the pages of a document): PDFium's loose box height is the size times a
    constant of the font, and a paper sets thousands of lines in a handful of styles.
    """

    def __init__(self, textpage: Handle, raw: ModuleType, text: str, styles: Styles) -> None:
        calls = _unchecked(raw)
        # The handle and out-parameters are ctypes objects already, as unchecked calls need.
        self.handle = ctypes.cast(textpage, ctypes.c_void_p)
        self.text = text
        self.styles = styles
        self.box = raw.FS_RECTF()
        self.box_ref = ctypes.byref(self.box)
        self.name = ctypes.create_string_buffer(128)
        self.name_size = ctypes.c_ulong(128)
        self.flags = ctypes.byref(ctypes.c_int())
        self.count_rects, self.get_rect = calls.FPDFText_CountRects, calls.FPDFText_GetRect
        self.get_box, self.get_angle = calls.FPDFText_GetLooseCharBox, calls.FPDFText_GetCharAngle
        self.get_size, self.get_weight = calls.FPDFText_GetFontSize, calls.FPDFText_GetFontWeight
        self.get_font = calls.FPDFText_GetFontInfo
        self.to_index: Callable[[ctypes.c_void_p, int], int] = calls.FPDFText_GetCharIndexFromTextIndex
        self.units: list[int] | None = None
        if len(text) != calls.FPDFText_CountChars(self.handle):
            # PDFium counts in UTF-16 units; a character outside the BMP takes two.
            self.units, unit = [], 0
            for ch in text:
                self.units.append(unit)
                unit += 2 if ord(ch) > 0xFFFF else 1

    def rects(self, start: int = 0, end: int | None = None) -> list[tuple[float, float, float, float]]:
        """(left, bottom, right, top) of each run of text PDFium sees in text[start:end]."""
        handle, get_rect = self.handle, self.get_rect
        left, top, right, bottom = (ctypes.c_double() for _ in range(4))
        refs = [ctypes.byref(v) for v in (left, top, right, bottom)]
        first = self.index(start)
        count = -1 if end is None else self.index(end - 1) - first + 1
        out = []
        for i in range(self.count_rects(handle, first, count)):
            get_rect(handle, i, *refs)
            out.append((left.value, bottom.value, right.value, top.value))
        return out

    def index(self, i: int) -> int:
        if self.units is None:
            return i
        return self.to_index(self.handle, self.units[i])

    def lines(self, page: int, spans: list[tuple[int, int]]) -> list[TextLine | None]:
        """The line made of text[start:end] for each span, None for rotated text (margin stamps).

        This is the reader's inner loop, a few thousand lines a paper, hence the local names.
        """
        handle, box, get_box, box_ref, text = self.handle, self.box, self.get_box, self.box_ref, self.text
        get_size, get_angle, get_font, get_weight = self.get_size, self.get_angle, self.get_font, self.get_weight
        name, name_size, flags, styles = self.name, self.name_size, self.flags, self.styles
        index = None if self.units is None else self.index
        out: list[TextLine | None] = []
        add = out.append
        for start, end in spans:
            first, last = (start, end - 1) if index is None else (index(start), index(end - 1))
            get_box(handle, first, box_ref)
            left, bottom, top = box.left, box.bottom, box.top
            get_font(handle, first, name, name_size, flags)
            font = name.value
            key = (font, top - bottom)
            style = styles.get(key)
            if style is None:
                size = get_size(handle, first)
                if size < 2:
                    size = top - bottom
                style = (size, get_weight(handle, first) >= 600 or _bold_font(font))
                if font:
                    styles[key] = style
            size, bold = style
            get_box(handle, last, box_ref)
            right, last_bottom, last_top = box.right, box.bottom, box.top
            # Only a line whose ends do not sit side by side may be rotated; only then is the
            # angle worth a call.
            if ((right < left or abs(last_bottom - bottom) > 0.5 * size)
                    and 0.05 < get_angle(handle, first) < 6.23):
                add(None)
                continue
            add(TextLine(page, text[start:end], left, right, bottom if bottom < last_bottom else last_bottom,
                         top if top > last_top else last_top, size, bold))
        return out

    def crosses(self, start: int, end: int, x: float) -> bool:
        """Whether one run of text in text[start:end] crosses x (a real full-width line)."""
        return any(left < x - 1 and right > x + 1 for left, _, right, _ in self.rects(start, end))

    def pieces(self, start: int, end: int, gutter: float | None) -> list[tuple[int, int]]:
        """Cut text[start:end] where it jumps to another physical line or across the gutter.

        PDFium joins a hyphenated word with the next line, and follows the file's order, which
        may put the two columns of a row on one text line; this undoes both.
        """
        text, handle, box, box_ref, get_box = self.text, self.handle, self.box, self.box_ref, self.get_box
        index = self.index
        out: list[tuple[int, int]] = []
        piece_start = start
        last_end = start
        last_bottom = last_right = 0.0
        size = 1.0
        for i in range(start, end):
            if text[i].isspace():
                continue
            get_box(handle, index(i), box_ref)
            left, bottom = box.left, box.bottom
            if last_end > start and (
                    abs(bottom - last_bottom) > 0.5 * size or left < last_right - size
                    or left - last_right > 1.5 * size
                    or (gutter is not None and last_right <= gutter + 2 and left >= gutter - 2
                        and left > last_right + 1)):
                out.append((piece_start, last_end))
                piece_start = i
            size = max(box.top - bottom, 1.0)
            last_bottom, last_right = bottom, box.right
            last_end = i + 1
        out.append((piece_start, last_end))
        return out


@functools.cache
def _unchecked(raw: ModuleType) -> SimpleNamespace:
    """The PDFium text functions `_Chars` calls, without ctypes' argument checks.

    pypdfium2 declares argument types, and checking and converting them costs as much as the
    call itself: about 6,000 machine instructions a call with them, 3,400 without. The price
    is that every argument must already be a ctypes object of the right kind, or a Python int
    for a C int.
    """
    results: dict[str, type[ctypes.c_int | ctypes.c_float | ctypes.c_double | ctypes.c_ulong]] = {
        "FPDFText_CountChars": ctypes.c_int, "FPDFText_CountRects": ctypes.c_int,
        "FPDFText_GetRect": ctypes.c_int, "FPDFText_GetLooseCharBox": ctypes.c_int,
        "FPDFText_GetCharAngle": ctypes.c_float, "FPDFText_GetFontSize": ctypes.c_double,
        "FPDFText_GetFontWeight": ctypes.c_int, "FPDFText_GetFontInfo": ctypes.c_ulong,
        "FPDFText_GetCharIndexFromTextIndex": ctypes.c_int,
    }
    calls = SimpleNamespace()
    for name, result in results.items():
        address = ctypes.cast(getattr(raw, name), ctypes.c_void_p).value
        if not address:
            raise RuntimeError(f"PDFium has no {name}")
        setattr(calls, name, ctypes.CFUNCTYPE(result)(address))
    return calls


@functools.lru_cache(maxsize=256)
def _bold_font(name: bytes) -> bool:
    """Whether a font's name says bold; a paper uses a handful of fonts on thousands of lines."""
    return bool(_BOLD_NAME.search(name.decode("latin-1")))


def _line_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each line of PDFium's page text, surrounding whitespace left out.

    PDFium ends its lines with CRLF; splitting on that is three times quicker than a regular
    expression over the page, which is kept for a page holding a lone CR or LF.
    """
    pieces = text.split("\r\n")
    if text.count("\r") >= len(pieces) or text.count("\n") >= len(pieces):
        return [m.span(1) for m in _LINE.finditer(text)]
    spans: list[tuple[int, int]] = []
    pos = 0
    for piece in pieces:
        length = len(piece)
        if length and not piece[0].isspace() and not piece[-1].isspace():
            spans.append((pos, pos + length))
        else:
            stripped = piece.lstrip()
            if stripped:
                start = pos + length - len(stripped)
                spans.append((start, start + len(stripped.rstrip())))
        pos += length + 2
    return spans


def _page_text(textpage: Handle, raw: ModuleType, target: PageLines, styles: Styles, hint: float | None) -> None:
    """Fill `target` with the page's lines and its column gutter.

    PDFium may put a left-column line and the right-column line beside it on one text line
    when the file writes them in that order; the gutter is then found from PDFium's runs of
    text instead of the lines, and such lines are cut at it. `hint` is the previous page's
    gutter, kept when it still parts the lines (see `gutter_holds`).
    """
    page = target.index
    text = _text(textpage, raw)
    if page == 0:
        target.text = text
    if not text.strip():
        return
    chars = _Chars(textpage, raw, text, styles)
    spans = _line_spans(text)
    found = chars.lines(page, spans)
    kept = [ln for ln in found if ln is not None]
    if hint is not None and gutter_holds(kept, hint, target.height):
        gutter: float | None = hint
    else:
        gutter = find_gutter([(ln.x0, ln.bottom, ln.x1, ln.top) for ln in kept], target.width, target.height)
    if gutter is None:
        gutter = find_gutter(chars.rects(), target.width, target.height)
    result: list[TextLine] = []
    for line, (start, end) in zip(found, spans):
        if line is None:
            continue
        if (line.top - line.bottom > 1.8 * line.size or line.x1 < line.x0
                or (gutter is not None and line.x0 < gutter - 2 and line.x1 > gutter + 2
                    and not chars.crosses(start, end, gutter))):
            result += [piece for piece in chars.lines(page, chars.pieces(start, end, gutter)) if piece is not None]
        else:
            result.append(line)
    target.lines = result
    target.gutter = gutter

