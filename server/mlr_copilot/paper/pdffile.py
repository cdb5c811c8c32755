"""The checks on a PDF file before and after PDFium opens it: a missing, empty, non-PDF,
encrypted, truncated or page-less file gets an error that names what is wrong."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from mlr_copilot.paper.errors import PaperError
from mlr_copilot.paper.pagetext import PDFIUM_ERRORS

# A file up to this size is read once: its digest and PDFium share that read, and PDFium
# takes its objects from memory instead of seeking in the file (some 2% of a paper's parse).
# A bigger one (scans, mostly) is left on disk for PDFium to read piece by piece.
_IN_MEMORY = 64 << 20


def read_checked(file: Path) -> bytes | None:
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


def sha256_of(file: Path) -> str:
    digest = hashlib.sha256()
    with file.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def open_error(file: Path, code: int | None) -> PaperError:
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
    reason = PDFIUM_ERRORS.get(code or 1, "unknown error")
    return PaperError(f"{file}: the PDF cannot be opened ({reason})")

