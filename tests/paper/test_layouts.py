"""The reader on the layouts real papers use, each written as a PDF by the test: one test per
failure pattern seen on real journals, conferences and Word papers."""

from __future__ import annotations

from mlr_copilot.paper import parse_pdf
from tests.paper.layouts import LEFT, Sheet, front, section, sentences

ABSTRACT = "We revisit sparse bag-of-words baselines for text classification on four benchmarks."


def _headings(paper) -> list[str]:
    return [s.heading for s in paper.sections]


def _numbered_refs(sheet: Sheet, n: int, size: float = 8.0, *, skip_label: int | None = None) -> None:
    for i in range(1, n + 1):
        label = "" if i == skip_label else f"{i}. "
        sheet.line(f"{label}Author{i} A, Writer B. Study number {i} of sparse features. J Text Res",
                   size, gap=2)
        sheet.line(f"2019;{i}:1-9. doi:10.1000/jtr.{i}", size, x=LEFT + 10)


def test_small_reference_heading_with_back_matter_after_the_list(tmp_path):
    sheet = Sheet()
    front(sheet, ["Sparse Features for Text"])
    section(sheet, "Abstract", 1)
    for n, name in enumerate(["Introduction", "Methods", "Results"], 1):
        section(sheet, f"{n} {name}", 2, seed=n)
    sheet.line("Competing interests", 8, "B", gap=10)
    sheet.paragraph("The authors declare that they have no competing interests.", 8)
    sheet.line("References", 8, "B", gap=10)
    _numbered_refs(sheet, 12)
    sheet.line("Authors' contributions", 8, "B", gap=10)
    sheet.paragraph("AM designed the study and BC ran the experiments. Both authors approved it.", 8)
    paper = parse_pdf(sheet.save(tmp_path / "journal.pdf"))

    assert len(paper.references) == 12
    assert all(ref.startswith(f"{i}. Author{i} ") for i, ref in enumerate(paper.references, 1))
    assert "contributions" not in paper.references[-1]
    assert _headings(paper) == ["1 Introduction", "2 Methods", "3 Results", "Competing interests",
                                "Authors' contributions"]
    assert "Author1" not in paper.sections[2].text


def test_nature_style_list_without_heading_and_methods_after_it(tmp_path):
    sheet = Sheet()
    front(sheet, ["Sparse Features for Text"])
    sheet.paragraph(ABSTRACT + " " + sentences(3), 10, "B", gap=12)
    sheet.paragraph("Text classification assigns labels to documents. " + sentences(5, 1), gap=10)
    for name, seed in [("Results", 2), ("Sparse features help", 3), ("Discussion", 4)]:
        sheet.line(name, 10, "B", gap=12)
        sheet.paragraph(sentences(6, seed))
    sheet.line("", 8, gap=10)
    _numbered_refs(sheet, 10)
    sheet.line("Methods", 10, "B", gap=12)
    sheet.paragraph(sentences(6, 5))
    paper = parse_pdf(sheet.save(tmp_path / "nature.pdf"))

    assert paper.abstract.startswith(ABSTRACT)
    assert "Text classification assigns" not in paper.abstract
    assert "Text classification assigns" in paper.sections[0].text
    assert [h for h in _headings(paper) if h] == ["Results", "Sparse features help", "Discussion", "Methods"]
    assert len(paper.references) == 10 and paper.references[-1].startswith("10. Author10")
    assert "Author10" not in paper.section("Methods").text


def test_author_year_entries_split_at_hanging_indents_only(tmp_path):
    entries = [
        ["Smith, J. and Jones, K. (2019). Sparse features for text. In Proceed-",
         "ings of the Conference on Text, pages 1-9."],
        ["Brown, A. (2020). Deep models of documents.", "Nature Methods, 12, 33-40."],
        ["Chen, B. (2018). A dataset of reviews. Available at:", "https://doi.org/10.1000/xyz.2018"],
        ["Diaz, C., Evans, D. (2017). Linear baselines revisited.", "Journal of Machine Learning, 8(2), 1-20."],
        ["Evans, D. (2016). Regularised logistic regression.", "Machine Learning, 4, 9-19."],
        ["Fox, E. (2015). Character n-grams. Technical report,", "University of Lisbon."],
    ]
    sheet = Sheet()
    front(sheet, ["Sparse Features for Text"])
    section(sheet, "1 Introduction", 2)
    sheet.line("References", 12, "B", gap=12)
    for first, *rest in entries:
        sheet.line(first, 9)
        for text in rest:
            sheet.line(text, 9, x=LEFT + 12)
    sheet.line("Received July 1, 2003; accepted August 2, 2003.", 9, gap=10)
    paper = parse_pdf(sheet.save(tmp_path / "hanging.pdf"))

    assert paper.references == [
        "Smith, J. and Jones, K. (2019). Sparse features for text. In Proceedings of the Conference on Text, "
        "pages 1-9.",
        "Brown, A. (2020). Deep models of documents. Nature Methods, 12, 33-40.",
        "Chen, B. (2018). A dataset of reviews. Available at: https://doi.org/10.1000/xyz.2018",
        "Diaz, C., Evans, D. (2017). Linear baselines revisited. Journal of Machine Learning, 8(2), 1-20.",
        "Evans, D. (2016). Regularised logistic regression. Machine Learning, 4, 9-19.",
        "Fox, E. (2015). Character n-grams. Technical report, University of Lisbon.",
    ]
    assert "Received July 1, 2003" in paper.sections[-1].text


def test_numbered_entries_resync_after_a_lost_label(tmp_path):
    sheet = Sheet()
    front(sheet, ["Sparse Features for Text"])
    section(sheet, "1 Introduction", 2)
    sheet.line("References", 12, "B", gap=12)
    _numbered_refs(sheet, 20, 9, skip_label=8)
    paper = parse_pdf(sheet.save(tmp_path / "resync.pdf"))

    assert len(paper.references) == 19
    assert paper.references[7].startswith("9. Author9")
    assert paper.references[-1].startswith("20. Author20")


def test_plot_labels_maths_and_bullets_are_not_headings(tmp_path):
    sheet = Sheet()
    front(sheet, ["Sparse Features for Text"])
    section(sheet, "1 Introduction", 2)
    sheet.line("rouge-1_f1", 14, gap=20)
    sheet.at(300, sheet.y, "FINE", 14)
    sheet.line("time", 14, gap=30)
    sheet.line("0.0", 14, gap=6)
    sheet.at(200, sheet.y, "0.5", 14)
    sheet.at(330, sheet.y, "1.0", 14)
    sheet.line("= 0.5 x + b", 12, "B", gap=10)
    sheet.paragraph(sentences(2, 7))
    sheet.line("* Sparse features", 10, "B", gap=10)
    sheet.paragraph(sentences(2, 8))
    sheet.line("Theorem 1 (Sparsity)", 10, "B", gap=10)
    sheet.paragraph(sentences(2, 9))
    section(sheet, "2 Method", 2, seed=9)
    paper = parse_pdf(sheet.save(tmp_path / "plots.pdf"))

    assert _headings(paper) == ["1 Introduction", "2 Method"]


def test_small_caps_roman_headings_and_a_heading_wrapped_on_two_lines(tmp_path):
    sheet = Sheet()
    front(sheet, ["Zone Based Routing for Mobile Sensor Networks"])
    sheet.paragraph("Abstract-" + ABSTRACT + " " + sentences(2), 9, "B", gap=10)
    sheet.paragraph("Index Terms-Data storage, scalable coding, video.", 9, "B", gap=4)
    for n, name in [("I", "INTRODUCTION"), ("II", "SYSTEM PARAMETERS")]:
        sheet.line(f"{n}. {name}", 10, x=200, gap=12)
        sheet.paragraph(sentences(4, len(name)))
    sheet.line("III. DATA PLACEMENT FOR SCALABLE VIDEO ON ONE DISK THAT", 10, x=120, gap=12)
    sheet.line("WRAPS ONTO TWO LINES", 10, x=220)
    sheet.paragraph(sentences(4, 3))
    paper = parse_pdf(sheet.save(tmp_path / "ieee.pdf"))

    assert paper.abstract.startswith(ABSTRACT) and "Index Terms" not in paper.abstract
    assert _headings(paper) == ["Index Terms", "I. INTRODUCTION", "II. SYSTEM PARAMETERS",
                                "III. DATA PLACEMENT FOR SCALABLE VIDEO ON ONE DISK THAT WRAPS ONTO TWO LINES"]


def test_title_under_a_bigger_masthead_and_on_two_lines(tmp_path):
    sheet = Sheet()
    sheet.line("Journal of Statistical Software", 26, "B")
    sheet.line("January 2007, Volume 18, Issue 3.", 10)
    front(sheet, ["TIMP: An R Package for Modeling", "Multi-way Spectroscopic Measurements"], size=17)
    section(sheet, "Abstract", 1)
    section(sheet, "1. Introduction", 2)
    path = sheet.save(tmp_path / "masthead.pdf")
    assert parse_pdf(path).title == "TIMP: An R Package for Modeling Multi-way Spectroscopic Measurements"
    titled = sheet.save(tmp_path / "titled.pdf", title="TIMP: An R Package for Modeling Multi-way Spectroscopic "
                                                      "Measurements")
    assert parse_pdf(titled).title == "TIMP: An R Package for Modeling Multi-way Spectroscopic Measurements"


def test_abstract_stops_at_an_untitled_introduction_and_skips_a_sidebar(tmp_path):
    sheet = Sheet()
    front(sheet, ["Sparse Features for Text"])
    sheet.line("ABSTRACT", 9, x=170, gap=12)
    top = sheet.y
    sheet.paragraph(ABSTRACT + " " + sentences(6), 9, width=300, x=170, gap=4)
    for i, text in enumerate(["1 Department of Psychology,", "Lisbon University, Portugal", "2 Institute of",
                              "Clinical Medicine, Porto", "Correspondence to", "Dr A Martin"]):
        sheet.at(40, top + 12 + 11 * i, text, 7)
    sheet.paragraph("Iron deficiency is a global problem. " + sentences(8, 2), 10, gap=16)
    section(sheet, "METHODS", 2, size=10, seed=3)
    paper = parse_pdf(sheet.save(tmp_path / "sidebar.pdf"))

    assert paper.abstract.startswith(ABSTRACT)
    for word in ("Psychology", "Clinical", "Correspondence", "Iron deficiency"):
        assert word not in paper.abstract
    assert paper.sections[0].heading == "" and paper.sections[0].text.startswith("Iron deficiency")
    assert paper.sections[1].heading == "METHODS"
    assert paper.authors == ["Alice Martin", "Bruno Chen"]


def test_running_heads_set_in_pieces_on_a4_pages_go(tmp_path):
    sheet = Sheet(header="Journal of Statistical Software")
    front(sheet, ["Sparse Features for Text"])
    section(sheet, "Abstract", 1)
    names = ["Introduction", "Data", "Model", "Training", "Results", "Discussion"]
    for n, name in enumerate(names, 1):
        section(sheet, f"{n}. {name}", 6, seed=n)
    paper = parse_pdf(sheet.save(tmp_path / "heads.pdf"))

    assert paper.pages >= 3
    assert _headings(paper) == [f"{n}. {name}" for n, name in enumerate(names, 1)]
    assert not any("Statistical Software" in s.text for s in paper.sections)


def test_the_outline_names_the_headings_when_the_pdf_has_one(tmp_path):
    sheet = Sheet()
    front(sheet, ["Sparse Features for Text"])
    section(sheet, "Abstract", 1)
    section(sheet, "1 Introduction", 2, bookmark=True)
    sheet.line("Residual plot of the model", 14, gap=12)  # a figure's title: big, alone, not in the outline
    sheet.paragraph(sentences(2, 5))
    sheet.line("2 Interactive Scientific Model Discovery With", 12, "B", gap=12, bookmark=True)
    sheet.outline[-1] = ("2 Interactive Scientific Model Discovery With Sparse Features", *sheet.outline[-1][1:])
    sheet.line("Sparse Features", 12, "B")
    sheet.paragraph(sentences(3, 6))
    section(sheet, "3 Results", 2, seed=7, bookmark=True)
    paper = parse_pdf(sheet.save(tmp_path / "outline.pdf"))

    assert _headings(paper) == ["1 Introduction", "2 Interactive Scientific Model Discovery With Sparse Features",
                                "3 Results"]
