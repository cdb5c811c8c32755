"""Files that are not readable papers give a PaperError naming the file and the problem."""

from __future__ import annotations

import pytest

from mlr_copilot.errors import MlrError
from mlr_copilot.paper import PaperError, parse_pdf, pdffile


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("missing.pdf", "no such file"),
        ("folder.pdf", "is a folder"),
        ("zero.pdf", "file is empty"),
        ("notes.pdf", "not a PDF"),
        ("corrupt.pdf", "cannot be opened (damaged"),
        ("truncated.pdf", "truncated"),
        ("encrypted.pdf", "encrypted and needs a password"),
        ("no-pages.pdf", "has no pages"),
        ("scanned.pdf", "no text layer"),
    ],
)
def test_unreadable_file(broken_dir, name, problem):
    before = sorted(p.name for p in broken_dir.iterdir())
    path = broken_dir / name

    with pytest.raises(PaperError) as caught:
        parse_pdf(path)

    message = str(caught.value)
    assert message.startswith(str(path))
    assert problem in message
    assert isinstance(caught.value, MlrError)
    assert sorted(p.name for p in broken_dir.iterdir()) == before


def test_encrypted_file_is_not_taken_for_an_empty_one(broken_dir):
    with pytest.raises(PaperError, match="encrypted") as caught:
        parse_pdf(broken_dir / "encrypted.pdf")
    assert "no pages" not in str(caught.value)


@pytest.mark.parametrize(("name", "problem"), [("notes.pdf", "not a PDF"), ("corrupt.pdf", "damaged"),
                                               ("encrypted.pdf", "encrypted"), ("scanned.pdf", "no text layer")])
def test_a_file_too_big_to_read_whole_gets_the_same_errors(broken_dir, monkeypatch, name, problem):
    monkeypatch.setattr(pdffile, "_IN_MEMORY", 16)
    with pytest.raises(PaperError, match=problem):
        parse_pdf(broken_dir / name)
