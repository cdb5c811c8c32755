"""Real PDFs for the paper tests, made once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pdfs import (
    make_corrupt_pdf,
    make_empty_pdf,
    make_encrypted_pdf,
    make_image_only_pdf,
    make_paper_pdf,
    make_truncated_pdf,
)


@pytest.fixture(scope="session")
def pdf_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("pdfs")


@pytest.fixture(scope="session")
def one_column_pdf(pdf_dir) -> Path:
    return make_paper_pdf(pdf_dir / "one-column.pdf", pages=3)


@pytest.fixture(scope="session")
def two_column_pdf(pdf_dir) -> Path:
    # Row order: the file holds each left-column line next to the right-column line beside it.
    return make_paper_pdf(pdf_dir / "two-column.pdf", columns=2, row_order=True)


@pytest.fixture(scope="session")
def ten_page_pdf(pdf_dir) -> Path:
    return make_paper_pdf(pdf_dir / "ten-pages.pdf", columns=2, pages=10)


@pytest.fixture(scope="session")
def author_year_pdf(pdf_dir) -> Path:
    return make_paper_pdf(pdf_dir / "author-year.pdf", columns=2, reference_style="author-year")


@pytest.fixture(scope="session")
def broken_dir(pdf_dir, one_column_pdf) -> Path:
    """A folder of unreadable papers, one per failure, next to nothing else."""
    tmp_path = pdf_dir / "broken"
    tmp_path.mkdir()
    make_corrupt_pdf(tmp_path / "corrupt.pdf")
    make_truncated_pdf(tmp_path / "truncated.pdf", one_column_pdf)
    make_encrypted_pdf(tmp_path / "encrypted.pdf", one_column_pdf)
    make_empty_pdf(tmp_path / "no-pages.pdf")
    make_image_only_pdf(tmp_path / "scanned.pdf", pages=2)
    (tmp_path / "notes.pdf").write_text("These are my notes, not a PDF.\n")
    (tmp_path / "zero.pdf").write_bytes(b"")
    (tmp_path / "folder.pdf").mkdir()
    return tmp_path
