"""The text and layout rules on hand-made lines, for cases the sample PDFs do not show."""

from __future__ import annotations

from mlr_copilot.paper.headings import heading_of
from mlr_copilot.paper.layout import (
    PageLines,
    TextLine,
    drop_furniture,
    find_gutter,
    gutter_holds,
    reading_order,
)
from mlr_copilot.paper.references import split_references
from mlr_copilot.paper.structure import split_names
from mlr_copilot.paper.text import join_lines


def _line(text, *, page=0, y=700.0, x0=72.0, x1=300.0, size=10.0, bold=False, para=False) -> TextLine:
    return TextLine(page, text, x0, x1, y, y + size, size, bold, para)


def _joined(*texts: str) -> str:
    return join_lines([_line(t, y=700.0 - 12 * i) for i, t in enumerate(texts)])


def test_line_end_hyphens():
    assert _joined("we ran each experi-", "ment twice") == "we ran each experiment twice"
    assert _joined("a state-of-the-", "art model") == "a state-of-the-art model"
    assert _joined("the Sci-", "Tech class") == "the Sci-Tech class"
    # PDFium itself joins a hyphenated word and marks the hyphen with U+FFFE.
    assert _joined("each experi\ufffement twice") == "each experiment twice"
    assert _joined("state-of-the\ufffeart") == "state-of-the-art"


def test_paragraphs_and_ligatures():
    lines = [_line("First \ufb01nding."), _line("Second.", y=680, para=True)]
    assert join_lines(lines) == "First finding.\n\nSecond."


def test_headings():
    assert heading_of(_line("1 I NTRODUCTION", bold=True), 10.0, False) == ("1 INTRODUCTION", "")
    assert heading_of(_line("2.1 Training Details", bold=True), 10.0, False) == ("2.1 Training Details", "")
    assert heading_of(_line("Limitations", para=True), 10.0, False) == ("Limitations", "")
    assert heading_of(_line("Abstract—We study sparse features."), 10.0, False) == ("Abstract", "We study sparse features.")
    # Body text that merely looks like a heading.
    assert heading_of(_line("results."), 10.0, False) is None
    assert heading_of(_line("2 We train for ten epochs"), 10.0, False) is None
    assert heading_of(_line("3 classes are balanced", bold=True), 10.0, False) is None
    # Lettered appendix headings count only once the references are behind.
    assert heading_of(_line("A Proofs", bold=True), 10.0, True) == ("A Proofs", "")
    assert heading_of(_line("A Proofs", bold=True), 10.0, False) is None


def test_dotted_references_follow_their_numbers():
    lines = [
        _line("1. A. Smith. Sparse features. 2020.", y=700),
        _line("12. In Proceedings of a workshop.", y=688),
        _line("2. B. Jones. Dense features. 2021.", y=676),
    ]
    assert split_references(lines)[0] == [
        "1. A. Smith. Sparse features. 2020. 12. In Proceedings of a workshop.",
        "2. B. Jones. Dense features. 2021.",
    ]


def test_labels_set_apart_from_their_entries_and_an_advert_after_the_list():
    lines = []
    for n in range(1, 4):
        lines += [_line(f"{n}.", y=700 - 24 * n, x0=40, x1=48),
                  _line(f"Author{n} A. Study {n}. J Text Res", y=700 - 24 * n, x0=72),
                  _line("2019;1:1-9.", y=688 - 24 * n, x0=72)]
    lines.append(_line("Submit your next manuscript to a publisher and take full advantage of:", y=500))
    entries, rest = split_references(lines)
    assert entries == [f"{n}. Author{n} A. Study {n}. J Text Res 2019;1:1-9." for n in range(1, 4)]
    assert [ln.text for ln in rest] == ["Submit your next manuscript to a publisher and take full advantage of:"]


def test_author_names():
    assert split_names("Alice Martin1, Bruno Chen2* and Carla Diaz (carla@uni.pt)") == [
        "Alice Martin", "Bruno Chen", "Carla Diaz"]
    assert split_names("Department of Computer Science, University of Lisbon") == []
    assert split_names("Ludwig van Beethoven & Ada Lovelace") == ["Ludwig van Beethoven", "Ada Lovelace"]
    # Footnote marks part names; a section title or a department is not a name.
    assert split_names("Arman Cohan†∗ Sergey Feldman†∗") == ["Arman Cohan", "Sergey Feldman"]
    assert split_names("Related Work") == [] and split_names("Brain & Cognitive Sciences") == []


def test_furniture_goes_and_body_stays():
    pages = []
    for i in range(3):
        lines = [
            _line("Sparse Features Revisited", page=i, y=780, x0=250, x1=350, size=8),
            _line(f"Body text of page {i + 1} at the top.", page=i, y=700),
            _line(f"Body text of page {i + 1} at the bottom.", page=i, y=100),
            _line(f"Page {i + 1} of 3", page=i, y=30, x0=280, x1=320, size=8),
        ]
        pages.append(PageLines(i, 612, 792, lines))
    drop_furniture(pages)
    assert [[ln.text for ln in p.lines] for p in pages] == [
        [f"Body text of page {i} at the top.", f"Body text of page {i} at the bottom."] for i in (1, 2, 3)]


def test_two_columns_are_read_left_then_right():
    title = _line("A Title Across Both Columns", y=740, x0=150, x1=460, size=16)
    left = [_line(f"left {i}", y=700 - 12 * i, x0=72, x1=295) for i in range(10)]
    right = [_line(f"right {i}", y=700 - 12 * i, x0=317, x1=540) for i in range(10)]
    boxes = [(ln.x0, ln.bottom, ln.x1, ln.top) for ln in [title, *left, *right]]
    gutter = find_gutter(boxes, 612, 792)
    assert gutter is not None and 295 < gutter < 317
    page = PageLines(0, 612, 792, [title, *[ln for pair in zip(left, right) for ln in pair]], gutter)
    assert [ln.text for ln in reading_order(page)] == [title.text] + [ln.text for ln in left + right]

    one_column = [_line(f"line {i}", y=700 - 12 * i, x0=72, x1=540) for i in range(20)]
    assert find_gutter([(ln.x0, ln.bottom, ln.x1, ln.top) for ln in one_column], 612, 792) is None


def test_a_known_gutter_holds_only_while_it_parts_the_columns():
    left = [_line(f"left {i}", y=700 - 12 * i, x0=72, x1=295) for i in range(10)]
    right = [_line(f"right {i}", y=700 - 12 * i, x0=317, x1=540) for i in range(10)]
    assert gutter_holds(left + right, 300.0, 792)
    assert gutter_holds(left + right + [_line("page 3", y=30, x0=72, x1=540)], 300.0, 792)  # in the margin band
    assert not gutter_holds(left + right + [_line("a wide caption", y=100, x0=72, x1=310)], 300.0, 792)
    assert not gutter_holds(left + right, 250.0, 792)  # crosses the left column
    assert not gutter_holds(left + right, 560.0, 792)  # every line on one side
    assert not gutter_holds(left[:3] + right, 300.0, 792)  # too few on one side
    # Where it holds, a search on the same page finds a gutter in the same gap.
    searched = find_gutter([(ln.x0, ln.bottom, ln.x1, ln.top) for ln in left + right], 612, 792)
    assert searched is not None and 295 <= searched <= 317


def test_line_spans_agree_with_the_plain_rule_on_any_text():
    """Lines split on PDFium's CRLF answer as the regular expression over the page would."""
    import random
    import re

    from mlr_copilot.paper.pagetext import _line_spans

    rule = re.compile(r"[^\S\r\n]*([^\r\n]*\S)")
    rng = random.Random(7)
    alphabet = ["a", "b", " ", "\t", "\r\n", "\r", "\n", "\u00a0", "\u2003", "é"]
    for _ in range(5000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        assert _line_spans(text) == [m.span(1) for m in rule.finditer(text)], repr(text)
