"""The Markdown outline of a paper: every part in order, and the paper's own text never
turned into markup (a PDF's text is untrusted)."""

from __future__ import annotations

import re

from mlr_copilot.paper.markdown import to_markdown
from mlr_copilot.paper.model import Paper, Section


def _paper(**fields) -> Paper:
    base = dict(title="Sparse Features", authors=["Ann Lee", "Bo Chen"], abstract="We study features.",
                sections=[Section("1 Introduction", "Text.\n\nMore text.")], references=["[1] A. Smith. 2020."],
                pages=3, path="/papers/p.pdf", sha256="0" * 64)
    return Paper(**{**base, **fields})


def test_outline_holds_title_authors_abstract_sections_and_numbered_references():
    markdown = to_markdown(_paper(references=["[1] A. Smith. 2020.", "2. B. Jones. 2021.", "C. Diaz. 2019."]))
    assert markdown.splitlines()[:3] == ["# Sparse Features", "", "**Authors:** Ann Lee, Bo Chen"]
    assert "## Abstract\n\nWe study features.\n\n## 1 Introduction\n\nText.\n\nMore text.\n" in markdown
    assert markdown.endswith("## References\n\n1. A. Smith. 2020.\n2. B. Jones. 2021.\n3. C. Diaz. 2019.\n")


def test_hostile_text_shows_as_written_and_never_as_markup():
    markdown = to_markdown(_paper(
        title="A [link](http://evil.example) <img src=x onerror=alert(1)>",
        abstract="1. not a list\n\n# not a heading\n\n- not an item ![pixel](http://evil.example/p.png)",
        sections=[Section("", "text with `code`, *stars* and | pipes"), Section("## Fake\nheading", "x")]))
    # Every sign that would start markup is escaped: no raw "<", "](" or "![" is left.
    assert not re.search(r"(?<!\\)<|(?<!\\)\]\(", markdown) and "![" not in markdown
    assert "\n1\\. not a list\n" in markdown and "\n\\# not a heading\n" in markdown and "\n\\- not an item" in markdown
    assert "\\`code\\`, \\*stars\\* and \\| pipes" in markdown
    assert "## (untitled)" in markdown
    headings = [line for line in markdown.splitlines() if line.startswith("#")]
    assert headings == ["# A \\[link\\](http://evil.example) \\<img src=x onerror=alert(1)\\>", "## Abstract",
                        "## (untitled)", "## \\#\\# Fake heading", "## References"]
