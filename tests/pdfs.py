"""Real PDF files for tests: a small sample ML paper laid out in one or two columns, and
broken inputs (corrupt, truncated, encrypted, empty, image-only, not a PDF).

The paper is laid out line by line here rather than by fpdf2's flowing text so that the
tests know exactly where each line sits, and so that a two-column page can be written in
row order (left line, right line, next row), which is the hard case for reading order.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

SAMPLE_TITLE = "Revisiting Bag-of-Words Baselines for Text Classification"
SAMPLE_AUTHORS = ["Alice Martin", "Bruno Chen", "Carla Diaz"]
SAMPLE_AFFILIATION = "Department of Computer Science, University of Lisbon"
RUNNING_HEADER = "Bag-of-Words Baselines Revisited"
HYPHEN_LINE_END = "experi-"
HYPHEN_JOINED = "experiment"

SAMPLE_ABSTRACT = (
    "Large pretrained language models dominate text classification benchmarks, yet their "
    "cost hides how far simple baselines can go. We revisit a TF-IDF bag-of-words "
    "representation with a logistic regression classifier on the AG News topic "
    "classification dataset. With word and character n-grams and careful regularisation, "
    "the baseline reaches 92.4 percent accuracy and a macro-F1 of 92.3, within three points "
    "of a fine-tuned transformer, while training in under a minute on a laptop CPU."
)

# (heading, level, paragraphs); level 1 headings are numbered "N Title", level 2 "N.M Title".
SAMPLE_SECTIONS: list[tuple[str, int, list[str]]] = [
    ("Introduction", 1, [
        "Text classification assigns a label to a document, such as its topic, its "
        "sentiment or whether it is spam. Recent work fine-tunes large transformer "
        "encoders for every new task, which needs accelerators and hours of training.",
        "Strong linear baselines are often reported with weak settings. We ask how close "
        "a well tuned bag-of-words model comes to a transformer when both are given the "
        "same care, and we report the cost of each in time and memory.",
    ]),
    ("Related Work", 1, [
        "Linear models over sparse n-gram features were the standard for text "
        "classification for two decades. FastText showed that averaged word embeddings "
        "with a linear layer match deep models on several benchmarks. Character-level "
        "convolutional networks introduced AG News as a benchmark dataset.",
    ]),
    ("Method", 1, [
        "Our model has two parts: a sparse feature extractor and a linear classifier "
        "trained with L2 regularisation.",
    ]),
    ("Features", 2, [
        "We extract word unigrams and bigrams and character n-grams of length two to five "
        "within word boundaries. Terms seen in fewer than two documents are dropped and "
        "the remaining counts are weighted with sublinear TF-IDF.",
    ]),
    ("Classifier", 2, [
        "A multinomial logistic regression is trained with the L-BFGS solver. The inverse "
        "regularisation strength C is chosen on a held-out tenth of the training set from "
        "a grid of five values.",
    ]),
    ("Experiments", 1, [
        "We use the AG News dataset with four classes: World, Sports, Business and "
        "Sci/Tech. It has 120,000 training and 7,600 test articles, balanced across "
        "classes. We report accuracy and macro-F1 on the test set.",
        "To reduce variance we repeat each " + HYPHEN_LINE_END + "\nment with five random "
        "seeds and report the mean and the standard deviation over the seeds.",
    ]),
    ("Results", 1, [
        "The bag-of-words baseline reaches 92.4 percent accuracy, against 95.1 percent for "
        "a fine-tuned transformer encoder. Character n-grams add 0.8 points over words "
        "alone. Training takes 41 seconds on four CPU cores, against two hours on a GPU "
        "for the transformer.",
    ]),
    ("Limitations", 1, [
        "We study one English news dataset with short documents and balanced classes. "
        "The gap may be larger on tasks that need word order, such as negation in "
        "sentiment, and on long documents. We did not tune the transformer beyond its "
        "published recipe.",
    ]),
    ("Conclusion", 1, [
        "A carefully regularised bag-of-words model is a strong, cheap baseline for topic "
        "classification and should be reported next to every neural model.",
    ]),
]

NUMBERED_REFERENCES = [
    "[1] Armand Joulin, Edouard Grave, Piotr Bojanowski, and Tomas Mikolov. Bag of tricks "
    "for efficient text classification. In Proceedings of EACL, pages 427-431, 2017.",
    "[2] Xiang Zhang, Junbo Zhao, and Yann LeCun. Character-level convolutional networks "
    "for text classification. In Advances in NeurIPS, 2015.",
    "[3] Jacob Devlin, Ming-Wei Chang, Kenton Lee, and Kristina Toutanova. BERT: "
    "Pre-training of deep bidirectional transformers for language understanding. In "
    "Proceedings of NAACL, 2019.",
    "[4] Sida Wang and Christopher Manning. Baselines and bigrams: Simple, good sentiment "
    "and topic classification. In Proceedings of ACL, 2012.",
]

AUTHOR_YEAR_REFERENCES = [
    "Devlin, Jacob, Ming-Wei Chang, Kenton Lee, and Kristina Toutanova. 2019. BERT: "
    "Pre-training of deep bidirectional transformers for language understanding. In "
    "Proceedings of NAACL.",
    "Joulin, Armand, Edouard Grave, Piotr Bojanowski, and Tomas Mikolov. 2017. Bag of "
    "tricks for efficient text classification. In Proceedings of EACL.",
    "Wang, Sida and Christopher Manning. 2012. Baselines and bigrams: Simple, good "
    "sentiment and topic classification. In Proceedings of ACL.",
]

_FILLER = [
    "Table {n} lists the per-class accuracy of the baseline for seed {n}.",
    "The confusion between Business and Sci/Tech accounts for most errors.",
    "Sports articles are the easiest class because of their distinctive vocabulary.",
    "Longer n-grams help little once character features are present.",
    "Halving the vocabulary costs less than a tenth of a point of accuracy.",
    "Regularisation matters more than the choice of solver in every setting we tried.",
    "World news is often mislabelled when an article mentions a company by name.",
    "The standard deviation across seeds stays below two tenths of a point.",
    "Memory use peaks while the sparse matrix of the training set is built.",
    "Removing stop words lowers accuracy slightly for this dataset.",
    "The learning curve flattens after about forty thousand training articles.",
    "Sublinear term frequency helps most on the longest articles.",
]


def appendix_paragraph(n: int) -> str:
    """A distinct paragraph of appendix text, used to pad a paper to a page count."""
    picks = [_FILLER[(n * k + k) % len(_FILLER)] for k in (1, 3, 5, 7)]
    return f"Appendix note {n}. " + " ".join(p.format(n=n) for p in picks)


@dataclass
class _Line:
    page: int
    x: float
    y: float  # baseline, mm from the top
    text: str
    style: str
    size: float


_A4_W, _A4_H = 210.0, 297.0
_MARGIN = 20.0
_TOP = 25.0
_BOTTOM = 270.0
_GUTTER = 8.0


def make_paper_pdf(
    path: str | Path,
    *,
    columns: int = 1,
    pages: int | None = None,
    title: str = SAMPLE_TITLE,
    authors: list[str] | None = None,
    with_references: bool = True,
    reference_style: str = "numbered",
    row_order: bool = False,
    set_metadata_title: bool = True,
) -> Path:
    """Write the sample paper as a real PDF and return its path.

    columns: 1 or 2. pages: pad with appendix paragraphs until the paper has exactly this
    many pages (if the body is shorter). row_order: for two columns, write each row's left
    and right lines one after the other so the file's text order is not the reading order.
    Every page after the first has a running header; every page has its number as footer.
    """
    from fpdf import FPDF
    from fpdf.enums import MethodReturnValue

    if columns not in (1, 2):
        raise ValueError("columns must be 1 or 2")
    authors = SAMPLE_AUTHORS if authors is None else authors
    body = 9.5 if columns == 2 else 10.5
    pdf = FPDF(format="A4", unit="mm")
    pdf.set_auto_page_break(False)
    pdf.set_margins(_MARGIN, _TOP, _MARGIN)
    if set_metadata_title:
        pdf.set_title(title)
    pdf.set_author(", ".join(authors))

    lines: list[_Line] = []
    full_w = _A4_W - 2 * _MARGIN
    col_w = full_w if columns == 1 else (full_w - _GUTTER) / 2
    cursor = {"page": 0, "col": 0, "y": _TOP}

    # Wrapping is measured on a scratch document so the real one gets pages only at the end.
    scratch = FPDF(format="A4", unit="mm")
    scratch.add_page()

    def wrap(text: str, style: str, size: float, width: float) -> list[str]:
        scratch.set_font("Helvetica", style, size)
        out: list[str] = []
        for chunk in text.split("\n"):
            out += scratch.multi_cell(width, text=chunk, dry_run=True, output=MethodReturnValue.LINES)
        return out

    def centred(text: str, style: str, size: float, gap: float) -> None:
        for line in wrap(text, style, size, full_w):
            x = (_A4_W - scratch.get_string_width(line)) / 2
            cursor["y"] += size * 0.3528 * 1.35
            lines.append(_Line(0, x, cursor["y"], line, style, size))
        cursor["y"] += gap

    def place(text: str, style: str, size: float, *, before: float = 0.0, keep: int = 1) -> None:
        step = size * 0.3528 * 1.3
        cursor["y"] += before
        for i, line in enumerate(wrap(text, style, size, col_w)):
            need = step * (keep if i == 0 else 1)
            if cursor["y"] + need > _BOTTOM:
                if cursor["col"] + 1 < columns:
                    cursor["col"] += 1
                else:
                    cursor["col"] = 0
                    cursor["page"] += 1
                cursor["y"] = _TOP if cursor["page"] > 0 else col_top
            cursor["y"] += step
            x = _MARGIN + cursor["col"] * (col_w + _GUTTER)
            lines.append(_Line(cursor["page"], x, cursor["y"], line, style, size))

    centred(title, "B", 16, 3)
    centred(", ".join(authors[:-1]) + (" and " if len(authors) > 1 else "") + authors[-1], "", 11, 0)
    centred(SAMPLE_AFFILIATION, "I", 9.5, 6)
    col_top = cursor["y"]

    place("Abstract", "B", 11, keep=3)
    place(SAMPLE_ABSTRACT, "", body)
    number = [0, 0]
    for heading, level, paragraphs in SAMPLE_SECTIONS:
        if level == 1:
            number = [number[0] + 1, 0]
            place(f"{number[0]} {heading}", "B", 12, before=4, keep=3)
        else:
            number[1] += 1
            place(f"{number[0]}.{number[1]} {heading}", "B", 10.5, before=2, keep=3)
        for para in paragraphs:
            place(para, "", body, before=1.5)
    if with_references:
        place("References", "B", 12, before=4, keep=3)
        refs = NUMBERED_REFERENCES if reference_style == "numbered" else AUTHOR_YEAR_REFERENCES
        # Author-year entries get no gap between them, as in many styles: only their text
        # tells where one ends.
        gap = 1.2 if reference_style == "numbered" else 0.0
        for ref in refs:
            place(ref, "", body - 1, before=gap)
    if pages is not None and cursor["page"] + 1 < pages:
        place("Appendix", "B", 12, before=4, keep=3)
        n = 1
        while cursor["page"] + 1 < pages:
            place(appendix_paragraph(n), "", body, before=1.5)
            n += 1

    if row_order:
        lines.sort(key=lambda ln: (ln.page, round(ln.y, 1), ln.x))
    for page in range(cursor["page"] + 1):
        pdf.add_page()
        if page > 0:
            pdf.set_font("Helvetica", "I", 8)
            pdf.text((_A4_W - pdf.get_string_width(RUNNING_HEADER)) / 2, 14, RUNNING_HEADER)
        for ln in (ln for ln in lines if ln.page == page):
            pdf.set_font("Helvetica", ln.style, ln.size)
            pdf.text(ln.x, ln.y, ln.text)
        pdf.set_font("Helvetica", "", 9)
        number_text = str(page + 1)
        pdf.text((_A4_W - pdf.get_string_width(number_text)) / 2, 285, number_text)
    path = Path(path)
    pdf.output(str(path))
    return path


def make_image_only_pdf(path: str | Path, *, pages: int = 1) -> Path:
    """A scanned-looking PDF: a drawn rectangle and a raster image on each page, no text."""
    from fpdf import FPDF
    from PIL import Image

    image = Image.new("RGB", (200, 260), (245, 245, 240))
    for x in range(20, 180):
        for y in range(40, 44):
            image.putpixel((x, y), (10, 10, 10))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    pdf = FPDF(format="A4", unit="mm")
    for _ in range(pages):
        pdf.add_page()
        pdf.rect(15, 15, 180, 267)
        pdf.image(io.BytesIO(buf.getvalue()), x=20, y=20, w=170)
    path = Path(path)
    pdf.output(str(path))
    return path


def make_empty_pdf(path: str | Path) -> Path:
    """A well-formed PDF with no pages at all."""
    from pypdf import PdfWriter

    path = Path(path)
    with path.open("wb") as fh:
        PdfWriter().write(fh)
    return path


def make_encrypted_pdf(path: str | Path, source: str | Path, *, password: str = "secret") -> Path:
    """A copy of `source` that needs a user password to open (AES-256)."""
    from pypdf import PdfWriter

    writer = PdfWriter(clone_from=str(source))
    writer.encrypt(user_password=password, owner_password=password + "-owner", algorithm="AES-256")
    path = Path(path)
    with path.open("wb") as fh:
        writer.write(fh)
    return path


def make_truncated_pdf(path: str | Path, source: str | Path, *, keep: float = 0.5) -> Path:
    """The first `keep` fraction of a real PDF's bytes, as an interrupted download leaves it."""
    data = Path(source).read_bytes()
    path = Path(path)
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def make_corrupt_pdf(path: str | Path) -> Path:
    """A file that starts and ends like a PDF and holds garbage in between."""
    path = Path(path)
    path.write_bytes(b"%PDF-1.7\n" + bytes((i * 37 + 11) % 256 for i in range(4000)) + b"\n%%EOF\n")
    return path
