"""Hostile layouts: documents of random lines (any size, place, order and text a PDF may hold)
are cut into parts and rendered without an error, and nothing but strings comes out."""

from __future__ import annotations

import random

from mlr_copilot.paper.layout import TextLine, join_row_pieces, mark_paragraphs
from mlr_copilot.paper.markdown import to_markdown
from mlr_copilot.paper.model import Paper, Section
from mlr_copilot.paper.structure import build_parts

_TEXTS = ["", " ", "1.", "[1]", "1", "Abstract", "ABSTRACT", "Abstract—", "References", "REFERENCES",
          "1 Introduction", "II. SYSTEM PARAMETERS", "A Proofs", "•", "∑ x", "rouge-1_f1", "Received July 1, 2003",
          "https://doi.org/10.1/x", "experi-", "ment", "\ufffe", "Smith, J. (2019). A title.", "Nature, 12, 1-9.",
          "Journal of Statistical Software", "arXiv:2004.07180v1", "Fig. 2", "a" * 500, "12. In Proc.",
          "Alice Martin†∗ Bruno Chen", "Competing interests", "Methods", "<script>", "# x", "](http://e)"]
CASES = 400


def _document(rng: random.Random) -> list[TextLine]:
    lines = []
    for _ in range(rng.randint(0, 120)):
        text = " ".join(rng.choice(_TEXTS) for _ in range(rng.randint(1, 4))).strip() or "x"
        x0 = rng.uniform(-50, 700)
        bottom = rng.uniform(-50, 900)
        size = rng.choice([0.5, 4, 8, 9.5, 10, 10, 10, 12, 14, 24, 60])
        lines.append(TextLine(rng.randint(0, 5), text, x0, x0 + rng.uniform(0, 500), bottom, bottom + size,
                              size, rng.random() < 0.3))
    lines.sort(key=lambda ln: (ln.page, -ln.bottom))
    return lines


def test_random_documents_are_cut_and_rendered_without_error():
    handled = 0
    for seed in range(CASES):
        rng = random.Random(seed)
        lines = join_row_pieces(_document(rng))
        mark_paragraphs(lines)
        outline = [rng.choice(_TEXTS) for _ in range(rng.randint(0, 6))]
        parts = build_parts(lines, rng.choice(["", "Untitled", "A Real Title"]), outline)
        assert isinstance(parts.title, str) and isinstance(parts.abstract, str)
        assert all(isinstance(h, str) and isinstance(t, str) for h, t in parts.sections)
        assert all(isinstance(r, str) and r for r in parts.references)
        paper = Paper(title=parts.title, authors=parts.authors, abstract=parts.abstract,
                      sections=[Section(h, t) for h, t in parts.sections], references=parts.references,
                      pages=6, path="/p.pdf", sha256="0" * 64)
        assert to_markdown(paper).startswith("# ")
        handled += 1
    assert handled == CASES
