"""parse_pdf on real PDFs laid out like ML papers."""

from __future__ import annotations

import hashlib
import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from mlr_copilot.paper import Paper, PaperError, ParseCancelled, parse_pdf, pdffile
from tests.pdfs import (
    AUTHOR_YEAR_REFERENCES,
    HYPHEN_JOINED,
    HYPHEN_LINE_END,
    NUMBERED_REFERENCES,
    RUNNING_HEADER,
    SAMPLE_ABSTRACT,
    SAMPLE_AUTHORS,
    SAMPLE_SECTIONS,
    SAMPLE_TITLE,
    appendix_paragraph,
    make_paper_pdf,
)

BODY_HEADINGS = ["1 Introduction", "2 Related Work", "3 Method", "3.1 Features", "3.2 Classifier",
                 "4 Experiments", "5 Results", "6 Limitations", "7 Conclusion"]


def _flat(text: str) -> str:
    return " ".join(text.split())


def _expected_text(heading: str) -> str:
    paragraphs = next(p for h, _, p in SAMPLE_SECTIONS if heading.endswith(" " + h))
    return _flat(" ".join(p.replace(HYPHEN_LINE_END + "\n", HYPHEN_LINE_END[:-1]) for p in paragraphs))


def _assert_body_exact(paper: Paper) -> None:
    """Every body section holds exactly the sample text: nothing lost, added or reordered."""
    for heading in BODY_HEADINGS:
        section = next(s for s in paper.sections if s.heading == heading)
        assert _flat(section.text) == _expected_text(heading), heading


def _assert_appendix_exact(paper: Paper) -> None:
    appendix = paper.section("Appendix")
    assert appendix is not None
    count = len(re.findall(r"Appendix note \d+\.", appendix.text))
    assert count >= 2
    assert _flat(appendix.text) == _flat(" ".join(appendix_paragraph(n) for n in range(1, count + 1)))


def test_one_column_paper(one_column_pdf):
    paper = parse_pdf(one_column_pdf)

    assert paper.pages == 3
    assert paper.title == SAMPLE_TITLE
    assert paper.authors == SAMPLE_AUTHORS
    assert _flat(paper.abstract) == _flat(SAMPLE_ABSTRACT)
    assert [s.heading for s in paper.sections] == BODY_HEADINGS + ["Appendix"]
    _assert_body_exact(paper)
    _assert_appendix_exact(paper)
    # Running header and page numbers are gone; the title survives only as the title.
    assert RUNNING_HEADER not in paper.full_text()
    assert paper.full_text().count(SAMPLE_TITLE) == 1
    # The word split at a line end is whole again.
    assert f"repeat each {HYPHEN_JOINED} with five random seeds" in paper.section("Experiments").text
    assert "experi-" not in paper.full_text()
    # Paragraphs stay apart.
    assert paper.section("Introduction").text.count("\n\n") == 1
    assert paper.references == NUMBERED_REFERENCES


def test_two_column_paper_reads_column_by_column(two_column_pdf):
    paper = parse_pdf(two_column_pdf)

    assert paper.pages == 1
    assert paper.title == SAMPLE_TITLE
    assert paper.authors == SAMPLE_AUTHORS
    assert [s.heading for s in paper.sections] == BODY_HEADINGS
    text = paper.full_text()
    # Introduction sits in the left column, Experiments at the top of the right one, level
    # with the abstract; the file interleaves them line by line.
    assert text.index("Text classification assigns a label") < text.index("We use the AG News dataset")
    assert _flat(paper.abstract) == _flat(SAMPLE_ABSTRACT)
    _assert_body_exact(paper)
    assert paper.references == NUMBERED_REFERENCES


def test_ten_page_two_column_paper(ten_page_pdf):
    paper = parse_pdf(ten_page_pdf)

    assert paper.pages == 10
    assert [s.heading for s in paper.sections] == BODY_HEADINGS + ["Appendix"]
    _assert_body_exact(paper)
    _assert_appendix_exact(paper)
    assert RUNNING_HEADER not in paper.full_text()
    assert len(paper.references) == len(NUMBERED_REFERENCES)
    assert paper.references[0] == NUMBERED_REFERENCES[0]


def test_a_paper_too_big_to_read_whole_is_read_from_disk_alike(ten_page_pdf, monkeypatch):
    in_memory = parse_pdf(ten_page_pdf)
    monkeypatch.setattr(pdffile, "_IN_MEMORY", ten_page_pdf.stat().st_size - 1)
    assert parse_pdf(ten_page_pdf) == in_memory
    assert in_memory.sha256 == hashlib.sha256(ten_page_pdf.read_bytes()).hexdigest()


def test_author_year_references_split_per_entry(author_year_pdf):
    paper = parse_pdf(author_year_pdf)

    assert paper.references == AUTHOR_YEAR_REFERENCES


def test_title_from_font_size_without_metadata(tmp_path):
    path = make_paper_pdf(tmp_path / "plain.pdf", title="Sparse Features Still Matter", set_metadata_title=False)
    assert parse_pdf(path).title == "Sparse Features Still Matter"


def test_paper_round_trips_through_json(one_column_pdf):
    paper = parse_pdf(one_column_pdf)

    again = Paper.model_validate_json(paper.model_dump_json())
    assert again == paper
    assert Paper.model_validate(paper.model_dump()) == paper
    assert paper.slug == "revisiting-bag-of-words-baselines-for-text"
    assert paper.path == str(one_column_pdf.resolve())
    assert len(paper.sha256) == 64


def test_progress_and_cancellation(one_column_pdf):
    messages: list[str] = []
    parse_pdf(one_column_pdf, report=messages.append)
    assert messages == ["Reading page 1 of 3", "Reading page 2 of 3", "Reading page 3 of 3"]

    with pytest.raises(ParseCancelled, match="page 2 of 3") as caught:
        parse_pdf(one_column_pdf, should_cancel=lambda: len(messages) >= 4, report=messages.append)
    assert isinstance(caught.value, PaperError)


def test_paper_data_with_a_bad_field_is_refused(one_column_pdf):
    data = parse_pdf(one_column_pdf).to_dict()
    data["pages"] = "three"
    with pytest.raises(PaperError, match="field 'pages' must be int"):
        Paper.from_dict(data)
    del data["pages"]
    with pytest.raises(PaperError, match="missing field 'pages'"):
        Paper.model_validate(data)
    with pytest.raises(PaperError, match="not valid JSON"):
        Paper.model_validate_json("{broken")


def test_papers_read_on_several_threads_at_once(one_column_pdf, two_column_pdf, ten_page_pdf):
    paths = [one_column_pdf, two_column_pdf, ten_page_pdf] * 3
    alone = [parse_pdf(p) for p in paths]
    with ThreadPoolExecutor(max_workers=6) as pool:
        together = list(pool.map(parse_pdf, paths))
    assert together == alone


def test_unchecked_pdfium_calls_answer_as_the_checked_bindings(two_column_pdf):
    """The reader calls PDFium without ctypes' argument checks; they must read the same values."""
    import ctypes

    import pypdfium2 as pdfium
    import pypdfium2.raw as raw

    from mlr_copilot.paper.pagetext import _Chars

    document = pdfium.PdfDocument(str(two_column_pdf))
    page = document[0]
    textpage = page.get_textpage()
    try:
        chars = _Chars(textpage.raw, raw, textpage.get_text_range(), {})
        handle, box, name, flags = textpage.raw, raw.FS_RECTF(), ctypes.create_string_buffer(128), ctypes.c_int()
        checked_rects = []
        for i in range(raw.FPDFText_CountRects(handle, 0, -1)):
            left, top, right, bottom = (ctypes.c_double() for _ in range(4))
            raw.FPDFText_GetRect(handle, i, left, top, right, bottom)
            checked_rects.append((left.value, bottom.value, right.value, top.value))
        assert chars.rects() == checked_rects and checked_rects
        for i in range(0, raw.FPDFText_CountChars(handle), 7):
            raw.FPDFText_GetLooseCharBox(handle, i, box)
            raw.FPDFText_GetFontInfo(handle, i, name, 128, flags)
            [line] = chars.lines(0, [(i, i + 1)])
            assert (line.x0, line.bottom, line.x1, line.top) == (box.left, box.bottom, box.right, box.top)
            size = raw.FPDFText_GetFontSize(handle, i)
            assert line.size == (size if size >= 2 else box.top - box.bottom)
            assert line.bold == (raw.FPDFText_GetFontWeight(handle, i) >= 600
                                 or "bold" in name.value.decode("latin-1").lower())
            assert chars.get_angle(chars.handle, i) == raw.FPDFText_GetCharAngle(handle, i)
    finally:
        textpage.close()
        page.close()
        document.close()


def test_page_text_reads_as_pypdfium2_reads_it(one_column_pdf, two_column_pdf, ten_page_pdf):
    """The reader takes a page's text with PDFium's calls; it must match pypdfium2's helper."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as raw

    from mlr_copilot.paper.pagetext import _text

    for path in (one_column_pdf, two_column_pdf, ten_page_pdf):
        document = pdfium.PdfDocument(str(path))
        try:
            for page in document:
                textpage = page.get_textpage()
                assert _text(textpage.raw, raw) == textpage.get_text_range() != ""
                textpage.close()
                page.close()
        finally:
            document.close()
