"""Papers laid out as real journals, conferences and Word set them, written with fpdf2 line by
line so each test knows where every line sits: small back-matter fonts, lists without a
heading, hanging indents, small capitals, mastheads, sidebars, plots beside the text.

A `Sheet` places lines on A4 pages in points (y measured down from the top, as fpdf2 does);
the helpers below it write the common parts of a paper.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

_WORDS = ["the", "model", "learns", "sparse", "features", "from", "each", "document", "and", "we", "measure", "how", "well", "a", "linear", "classifier", "trained", "on", "these", "features", "predicts", "the", "label", "of", "held", "out", "documents", "across", "several", "benchmarks", "while", "the", "cost", "in", "time", "and", "memory", "stays", "small"]
WIDTH, HEIGHT = 595.0, 842.0
LEFT = 72.0


def sentences(n: int, seed: int = 0) -> str:
    """`n` plain sentences of ten to sixteen words, the same for the same seed."""
    out = []
    for i in range(n):
        length = 10 + (seed + 3 * i) % 7
        words = [_WORDS[(seed * 7 + i * 5 + j * 3) % len(_WORDS)] for j in range(length)]
        out.append(" ".join(words).capitalize() + ".")
    return " ".join(out)


@dataclass
class Sheet:
    """Lines placed on A4 pages, written out as one PDF."""

    pages: list[list[tuple[float, float, str, float, str]]] = field(default_factory=lambda: [[]])
    outline: list[tuple[str, int, float]] = field(default_factory=list)  # (title, page, y)
    y: float = 80.0
    header: str | None = None

    def line(self, text: str, size: float = 10.0, style: str = "", *, x: float = LEFT, gap: float = 0.0,
             bookmark: bool = False) -> None:
        """Write one line below the last, moving to a new page at the bottom margin."""
        step = size * 1.3 + gap
        if self.y + step > HEIGHT - 80:
            self.pages.append([])
            self.y = 96.0
            step = size * 1.3
        self.y += step
        if bookmark:
            self.outline.append((text, len(self.pages) - 1, self.y - size))
        self.pages[-1].append((x, self.y, text, size, style))

    def at(self, x: float, y: float, text: str, size: float = 10.0, style: str = "") -> None:
        """Write a line at a fixed place on the current page (figure labels, sidebars)."""
        self.pages[-1].append((x, y, text, size, style))

    def paragraph(self, text: str, size: float = 10.0, style: str = "", *, width: float = 451.0, x: float = LEFT,
                  gap: float = 4.0, hang: float = 0.0) -> None:
        """Wrap `text` into lines of at most `width` points; `hang` indents every line but the first."""
        from fpdf import FPDF

        measure = FPDF(unit="pt", format="A4")
        measure.add_page()
        measure.set_font("Helvetica", style, size)
        words, current, first = text.split(), "", True
        for word in words:
            trial = f"{current} {word}".strip()
            if current and measure.get_string_width(trial) > width - (0 if first else hang):
                self.line(current, size, style, x=x + (0 if first else hang), gap=gap if first else 0.0)
                current, first = word, False
            else:
                current = trial
        if current:
            self.line(current, size, style, x=x + (0 if first else hang), gap=gap if first else 0.0)

    def save(self, path: Path, *, title: str | None = None) -> Path:
        from fpdf import FPDF

        pdf = FPDF(unit="pt", format="A4")
        pdf.set_auto_page_break(False)
        if title:
            pdf.set_title(title)
        for number, items in enumerate(self.pages):
            pdf.add_page()
            for mark, page, y in self.outline:
                if page == number:
                    pdf.set_y(y)
                    pdf.start_section(mark)
            if self.header and number > 0:
                # 10% down the page, as A4 journals set it; title and page number in two pieces.
                pdf.set_font("Helvetica", "", 9)
                pdf.text(LEFT, 84, self.header)
                pdf.text(WIDTH - LEFT - 20, 84, str(number + 1))
            for x, y, text, size, style in items:
                pdf.set_font("Helvetica", style, size)
                pdf.text(x, y, text)
        pdf.output(str(path))
        return path


def front(sheet: Sheet, title_lines: list[str], *, size: float = 18.0, authors: str = "Alice Martin and Bruno Chen"
          ) -> None:
    for i, text in enumerate(title_lines):
        sheet.line(text, size, "B", gap=0 if i else 10)
    sheet.line(authors, 11, gap=8)
    sheet.line("Department of Computer Science, University of Lisbon", 9, "I")


def section(sheet: Sheet, heading: str, paragraphs: int = 2, *, size: float = 12.0, style: str = "B",
            seed: int = 0, bookmark: bool = False) -> None:
    sheet.line(heading, size, style, gap=12, bookmark=bookmark)
    for i in range(paragraphs):
        sheet.paragraph(sentences(4, seed + i))
