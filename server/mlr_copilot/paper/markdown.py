"""A parsed paper as a readable Markdown outline, so a wrong parse is seen before it drives
the ideas: title, authors, abstract, each section under its heading, numbered references.

The paper's text is untrusted (it is whatever the PDF holds): every Markdown sign in it is
escaped, so it shows as written and never becomes a link, an image, HTML or a heading.
"""

from __future__ import annotations

import re

from mlr_copilot.paper.model import Paper
from mlr_copilot.untrusted import MARKDOWN_SIGNS as _SIGNS
from mlr_copilot.untrusted import markdown_inline

# A paragraph Markdown would read as a list item or a rule: "1.", "-", "+", "=".
_BLOCK_START = re.compile(r"^(\s*)(\d{1,9})([.)])(?=\s|$)|^(\s*)([-+=])")
_OWN_LABEL = re.compile(r"^(?:\[\d{1,4}\]|\d{1,4}\.)\s+")


def to_markdown(paper: Paper) -> str:
    """The outline of `paper` as one Markdown document."""
    out = [f"# {_inline(paper.title) or '(untitled paper)'}", ""]
    if paper.authors:
        out += [f"**Authors:** {_inline(', '.join(paper.authors))}", ""]
    out += [f"*{paper.pages} pages, {len(paper.sections)} sections, {len(paper.references)} references; "
            f"read from {_inline(paper.path)}*", ""]
    if paper.abstract:
        out += ["## Abstract", "", _block(paper.abstract), ""]
    for section in paper.sections:
        out += [f"## {_inline(section.heading) or '(untitled)'}", ""]
        if section.text:
            out += [_block(section.text), ""]
    if paper.references:
        out += ["## References", ""]
        out += [f"{i}. {_inline(_OWN_LABEL.sub('', ref))}" for i, ref in enumerate(paper.references, 1)]
        out.append("")
    return "\n".join(out)


def _inline(text: str) -> str:
    """One line of text with its Markdown signs escaped."""
    return markdown_inline(text)


def _block(text: str) -> str:
    """Paragraphs of text, escaped line by line; blank lines between paragraphs kept."""
    paragraphs = [" ".join(p.split()) for p in text.split("\n\n")]
    return "\n\n".join(_BLOCK_START.sub(_quote_start, _SIGNS.sub(r"\\\1", p)) for p in paragraphs if p)


def _quote_start(match: re.Match[str]) -> str:
    if match.group(2):
        return f"{match.group(1)}{match.group(2)}\\{match.group(3)}"
    return f"{match.group(4)}\\{match.group(5)}"
