"""The head of a PDF for indexing: title, abstract and the text of its first pages.

Only what ranking needs; the full paper parser lives in `mlr_copilot.paper`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium

from mlr_copilot.retrieval.corpus import UnreadableFile

_ABSTRACT_START = re.compile(r"(?im)^\s*abstract\b[\s.:\u2014\u2013-]*")
_ABSTRACT_END = re.compile(
    r"(?im)^\s*(?:(?:1|I)\.?\s+)?(?:introduction|keywords|index terms|ccs concepts)\b|^\s*1\s*\n"
)
_NOT_A_TITLE = re.compile(
    r"(?i)arxiv|published as|proceedings|preprint|under review|workshop|conference|journal|"
    r"https?://|www\.|@|^page \d|^\d+$|copyright|licen[cs]e"
)
_BAD_META_TITLE = re.compile(r"(?i)^(untitled|microsoft word|title|paper|\S+\.(dvi|tex|docx?|pdf))\b")
_MAX_ABSTRACT = 2500


@dataclass(frozen=True)
class PdfHead:
    title: str
    abstract: str
    text: str


def _clean(text: str) -> str:
    # Rejoin words hyphenated across lines, then fold runs of whitespace.
    text = re.sub(r"(\w)-\s*\n\s*(\w)", r"\1\2", text)
    return re.sub(r"\s+", " ", text).strip()


def _title(meta_title: str, lines: list[str], fallback: str) -> str:
    meta_title = meta_title.strip()
    if len(meta_title) >= 8 and not _BAD_META_TITLE.match(meta_title):
        return meta_title
    for line in lines[:15]:
        line = line.strip()
        if len(line) >= 12 and len(line.split()) >= 2 and not _NOT_A_TITLE.search(line):
            if _ABSTRACT_START.match(line):
                break
            return line
    return fallback


def _abstract(text: str) -> str:
    start = _ABSTRACT_START.search(text)
    if start is None:
        body = text
    else:
        body = text[start.end():]
        end = _ABSTRACT_END.search(body)
        if end is not None:
            body = body[: end.start()]
    return _clean(body)[:_MAX_ABSTRACT]


def read_pdf_head(path: Path, pages: int = 2) -> PdfHead:
    """Title, abstract and first-pages text of `path`; UnreadableFile if pdfium cannot open it."""
    try:
        pdf = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        reason = str(exc)
        if "password" in reason.lower():
            raise UnreadableFile("encrypted (needs a password)") from exc
        raise UnreadableFile(f"not a readable PDF ({reason})") from exc
    except OSError as exc:
        raise UnreadableFile(f"cannot be opened ({exc.strerror or exc})") from exc
    try:
        meta_title = pdf.get_metadata_dict().get("Title", "") or ""
        parts: list[str] = []
        for number in range(min(pages, len(pdf))):
            page = pdf[number]
            textpage = page.get_textpage()
            try:
                parts.append(textpage.get_text_range().replace("\r\n", "\n").replace("\r", "\n"))
            finally:
                textpage.close()
                page.close()
    except pdfium.PdfiumError as exc:
        raise UnreadableFile(f"text could not be extracted ({exc})") from exc
    finally:
        pdf.close()
    raw = "\n".join(parts)
    if not raw.strip():
        raise UnreadableFile("no extractable text (scanned images?)")
    lines = [line for line in raw.split("\n") if line.strip()]
    title = _title(meta_title, lines, fallback=path.stem)
    return PdfHead(title=_clean(title), abstract=_abstract(raw), text=_clean(raw))
