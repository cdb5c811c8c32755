"""Read a paper PDF into a `Paper` with PDFium, one page at a time.

Each page is opened, turned into plain `TextLine`s and closed before the next one, so memory
stays flat however long the document is. Text comes from PDFium's page text in one call;
positions and fonts are looked up only at the ends of each line, which keeps a page to a few
hundred native calls.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import math
import re
import threading
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

from mlr_copilot.paper.errors import PaperError, ParseCancelled
from mlr_copilot.paper.identifiers import find_identifiers
from mlr_copilot.paper.layout import (
    PageLines,
    TextLine,
    drop_furniture,
    find_gutter,
    gutter_holds,
    join_row_pieces,
    mark_paragraphs,
    reading_order,
)
from mlr_copilot.paper.model import Paper, Section
from mlr_copilot.paper.structure import build_parts

log = logging.getLogger(__name__)

# PDFium must never run on two threads at once, and the server reads papers from worker
# threads; every PDFium call in the project should hold this lock. It is taken per page, so
# a long paper does not hold up other readers.
PDFIUM_LOCK = threading.RLock()

# A text line with its surrounding whitespace left out of group 1 (`\s` is `str.isspace`).
_LINE = re.compile(r"[^\S\r\n]*([^\r\n]*\S)")
_BOLD_NAME = re.compile(r"bold|black|heavy|semibold|demi|medi|cmbx|\bbx|-b\b|\.b\b", re.I)
# A file up to this size is read once: its digest and PDFium share that read, and PDFium
# takes its objects from memory instead of seeking in the file (some 2% of a paper's parse).
# A bigger one (scans, mostly) is left on disk for PDFium to read piece by piece.
_IN_MEMORY = 64 << 20
# A paper's outline has tens of entries; a book's thousands are more than headings need.
_MAX_OUTLINE = 500
# Fewer visible characters than this in the whole file means there is no real text layer.
_MIN_TEXT_CHARS = 20
# (font name, loose box height of a line's first character) -> (font size, bold)
_Styles = dict[tuple[bytes, float], tuple[float, bool]]
_PDFIUM_ERRORS = {1: "unknown error", 2: "file access error", 3: "damaged or not a valid PDF",
                  4: "password required", 5: "unsupported security scheme", 6: "page not found"}


def parse_pdf(
    path: str | Path,
    *,
    should_cancel: Callable[[], bool] | None = None,
    report: Callable[[str], None] | None = None,
) -> Paper:
    """Read the PDF at `path` into a `Paper`.

    should_cancel is polled between pages (raises ParseCancelled when it returns True);
    report receives short progress messages. Raises PaperError for a missing, non-PDF,
    damaged, encrypted, empty or text-less file. Reads only; writes nothing.
    """
    file = Path(path).expanduser()
    data = _read_checked(file)
    import pypdfium2 as pdfium

    digest = hashlib.sha256(data).hexdigest() if data is not None else _sha256(file)
    try:
        with PDFIUM_LOCK:
            document = pdfium.PdfDocument(data if data is not None else str(file))
    except pdfium.PdfiumError as exc:
        raise _open_error(file, getattr(exc, "err_code", None)) from None
    try:
        with PDFIUM_LOCK:
            count = len(document)
            metadata_title = document.get_metadata_value("Title") or ""
            metadata = " ".join(document.get_metadata_value(key) or "" for key in ("Subject", "Keywords"))
            outline = _outline_titles(document)
        if count == 0:
            raise PaperError(f"{file}: the PDF has no pages")
        pages = _read_pages(document, file, count, should_cancel, report)
    finally:
        with PDFIUM_LOCK:
            document.close()
    if sum(len(ln.text) for page in pages for ln in page.lines) < _MIN_TEXT_CHARS:
        raise PaperError(f"{file}: the PDF has no text layer (scanned or image-only); run OCR on it first")

    identifiers = find_identifiers(pages[0].text, metadata)
    drop_furniture(pages)
    lines = [line for page in pages for line in join_row_pieces(reading_order(page))]
    mark_paragraphs(lines)
    parts = build_parts(lines, metadata_title, outline)
    log.debug("parsed %s: %d pages, %d sections, %d references", file, count, len(parts.sections), len(parts.references))
    return Paper(
        title=parts.title,
        authors=parts.authors,
        abstract=parts.abstract,
        sections=[Section(heading=h, text=t) for h, t in parts.sections],
        references=parts.references,
        pages=count,
        path=str(file.resolve()),
        sha256=digest,
        identifiers=identifiers,
    )


def _read_pages(document, file: Path, count: int, should_cancel, report) -> list[PageLines]:
    """Every page's lines, one page open at a time; the previous page's gutter is the hint."""
    import pypdfium2 as pdfium

    pages: list[PageLines] = []
    styles: _Styles = {}
    for index in range(count):
        if should_cancel is not None and should_cancel():
            raise ParseCancelled(f"{file}: reading stopped at page {index + 1} of {count}")
        if report is not None:
            report(f"Reading page {index + 1} of {count}")
        try:
            with PDFIUM_LOCK:
                pages.append(_read_page(document, index, styles, pages[-1].gutter if pages else None))
        except pdfium.PdfiumError as exc:
            raise PaperError(f"{file}: page {index + 1} of {count} cannot be read ({exc})") from None
    return pages


def _outline_titles(document) -> list[str]:
    """The titles of the document's bookmarks in order, at most `_MAX_OUTLINE` of them; a
    damaged outline counts as none (the rules then find the headings)."""
    titles: list[str] = []
    try:
        for item in document.get_toc(max_depth=4):
            titles.append(item.get_title() or "")
            if len(titles) >= _MAX_OUTLINE:
                break
    except Exception as exc:
        log.debug("outline unreadable: %s", exc)
        return []
    return titles


def _read_checked(file: Path) -> bytes | None:
    """The whole file if it is at most `_IN_MEMORY` bytes, else None; raises PaperError for a
    missing, empty, unreadable or non-PDF file."""
    if not file.exists():
        raise PaperError(f"{file}: no such file")
    if file.is_dir():
        raise PaperError(f"{file}: is a folder, not a PDF file")
    try:
        whole = file.stat().st_size <= _IN_MEMORY
        with file.open("rb") as fh:
            data = fh.read() if whole else fh.read(1024)
    except OSError as exc:
        raise PaperError(f"{file}: cannot be read ({exc.strerror or exc})") from None
    if not data:
        raise PaperError(f"{file}: the file is empty")
    if b"%PDF-" not in data[:1024]:
        raise PaperError(f"{file}: not a PDF (it does not start with a %PDF header)")
    return data if whole else None


def _sha256(file: Path) -> str:
    digest = hashlib.sha256()
    with file.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _open_error(file: Path, code: int | None) -> PaperError:
    """Name the reason PDFium refused the file; its own codes blur encrypted, empty and broken."""
    size = file.stat().st_size
    with file.open("rb") as fh:
        head = fh.read(1 << 16)
        fh.seek(max(0, size - (1 << 16)))
        tail = fh.read()
    if b"/Encrypt" in head or b"/Encrypt" in tail:
        return PaperError(f"{file}: the PDF is encrypted and needs a password to open")
    if b"%%EOF" not in tail[-2048:]:
        return PaperError(f"{file}: the PDF is truncated or damaged (no end-of-file marker)")
    if re.search(rb"/Count\s+0\b", head + tail) and not re.search(rb"/Type\s*/Page\b", head + tail):
        return PaperError(f"{file}: the PDF has no pages")
    reason = _PDFIUM_ERRORS.get(code or 1, "unknown error")
    return PaperError(f"{file}: the PDF cannot be opened ({reason})")


def _read_page(document, index: int, styles: _Styles, hint: float | None = None) -> PageLines:
    """The page's lines, through PDFium's own calls: pypdfium2's page and text-page objects
    (weak references, finalizers, parent tracking) cost a few percent of a paper's parse."""
    import pypdfium2.raw as raw

    page = raw.FPDF_LoadPage(document.raw, index)
    if not page:
        raise _pdfium_error(raw)
    try:
        result = PageLines(index, raw.FPDF_GetPageWidthF(page), raw.FPDF_GetPageHeightF(page), [])
        textpage = raw.FPDFText_LoadPage(page)
        if not textpage:
            raise _pdfium_error(raw)
        try:
            _page_text(textpage, raw, result, styles, hint)
        finally:
            raw.FPDFText_ClosePage(textpage)
    finally:
        raw.FPDF_ClosePage(page)
    return result


def _pdfium_error(raw):
    import pypdfium2 as pdfium

    code = raw.FPDF_GetLastError()
    return pdfium.PdfiumError(_PDFIUM_ERRORS.get(code, "unknown error"), err_code=code)


def _text(textpage, raw) -> str:
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

    def __init__(self, textpage, raw, text: str, styles: _Styles) -> None:
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
        self.to_index = calls.FPDFText_GetCharIndexFromTextIndex
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
            if last_end > start:
                if (abs(bottom - last_bottom) > 0.5 * size or left < last_right - size
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
def _unchecked(raw) -> SimpleNamespace:
    """The PDFium text functions `_Chars` calls, without ctypes' argument checks.

    pypdfium2 declares argument types, and checking and converting them costs as much as the
    call itself: about 6,000 machine instructions a call with them, 3,400 without. The price
    is that every argument must already be a ctypes object of the right kind, or a Python int
    for a C int.
    """
    results = {
        "FPDFText_CountChars": ctypes.c_int, "FPDFText_CountRects": ctypes.c_int,
        "FPDFText_GetRect": ctypes.c_int, "FPDFText_GetLooseCharBox": ctypes.c_int,
        "FPDFText_GetCharAngle": ctypes.c_float, "FPDFText_GetFontSize": ctypes.c_double,
        "FPDFText_GetFontWeight": ctypes.c_int, "FPDFText_GetFontInfo": ctypes.c_ulong,
        "FPDFText_GetCharIndexFromTextIndex": ctypes.c_int,
    }
    return SimpleNamespace(**{
        name: ctypes.CFUNCTYPE(result)(ctypes.cast(getattr(raw, name), ctypes.c_void_p).value)
        for name, result in results.items()})


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


def _page_text(textpage, raw, target: PageLines, styles: _Styles, hint: float | None) -> None:
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
    low, high = (-math.inf, math.inf) if gutter is None else (gutter - 2, gutter + 2)
    result: list[TextLine] = []
    for line, (start, end) in zip(found, spans):
        if line is None:
            continue
        if (line.top - line.bottom > 1.8 * line.size or line.x1 < line.x0
                or (line.x0 < low and line.x1 > high and not chars.crosses(start, end, gutter))):
            result += [piece for piece in chars.lines(page, chars.pieces(start, end, gutter)) if piece is not None]
        else:
            result.append(line)
    target.lines = result
    target.gutter = gutter
