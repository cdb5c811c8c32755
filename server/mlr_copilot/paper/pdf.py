"""Read a paper PDF into a `Paper` with PDFium, one page at a time.

Each page is opened, turned into plain `TextLine`s and closed before the next one, so memory
stays flat however long the document is (`pagetext.py` reads a page, `pdffile.py` checks the
file). pypdfium2 is imported only when a PDF is read: the `Paper` type, which many modules use,
does not load it.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from mlr_copilot.paper.errors import PaperError, ParseCancelled
from mlr_copilot.paper.identifiers import find_identifiers
from mlr_copilot.paper.layout import (
    PageLines,
    drop_furniture,
    join_row_pieces,
    mark_paragraphs,
    reading_order,
)
from mlr_copilot.paper.model import Paper, Section
from mlr_copilot.paper.pagetext import Styles, read_page
from mlr_copilot.paper.pdffile import open_error, read_checked, sha256_of
from mlr_copilot.paper.structure import build_parts

if TYPE_CHECKING:
    from pypdfium2 import PdfDocument

log = logging.getLogger(__name__)

# PDFium must never run on two threads at once, and the server reads papers from worker
# threads; every PDFium call in the project should hold this lock. It is taken per page, so
# a long paper does not hold up other readers.
PDFIUM_LOCK = threading.RLock()

# A paper's outline has tens of entries; a book's thousands are more than headings need.
_MAX_OUTLINE = 500
# Fewer visible characters than this in the whole file means there is no real text layer.
_MIN_TEXT_CHARS = 20


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
    data = read_checked(file)
    import pypdfium2 as pdfium  # PDFium only when a PDF is read

    digest = hashlib.sha256(data).hexdigest() if data is not None else sha256_of(file)
    try:
        with PDFIUM_LOCK:
            document = pdfium.PdfDocument(data if data is not None else str(file))
    except pdfium.PdfiumError as exc:
        raise open_error(file, getattr(exc, "err_code", None)) from None
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


def _read_pages(document: PdfDocument, file: Path, count: int, should_cancel: Callable[[], bool] | None,
                report: Callable[[str], None] | None) -> list[PageLines]:
    """Every page's lines, one page open at a time; the previous page's gutter is the hint."""
    import pypdfium2 as pdfium

    pages: list[PageLines] = []
    styles: Styles = {}
    for index in range(count):
        if should_cancel is not None and should_cancel():
            raise ParseCancelled(f"{file}: reading stopped at page {index + 1} of {count}")
        if report is not None:
            report(f"Reading page {index + 1} of {count}")
        try:
            with PDFIUM_LOCK:
                pages.append(read_page(document, index, styles, pages[-1].gutter if pages else None))
        except pdfium.PdfiumError as exc:
            raise PaperError(f"{file}: page {index + 1} of {count} cannot be read ({exc})") from None
    return pages


def _outline_titles(document: PdfDocument) -> list[str]:
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

