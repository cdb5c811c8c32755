"""Which lines head a section: the document's outline when it has one, else font, numbering
and layout rules."""

from __future__ import annotations

import re

from mlr_copilot.paper.layout import TextLine
from mlr_copilot.paper.text import alpha_share, norm

KNOWN_HEADINGS = {
    "abstract", "introduction", "related work", "related works", "background", "preliminaries",
    "method", "methods", "methodology", "approach", "model", "our approach", "proposed method",
    "experiments", "experiment", "experimental setup", "experimental results", "evaluation",
    "results", "results and discussion", "discussion", "analysis", "ablation study",
    "limitations", "limitation", "conclusion", "conclusions", "conclusion and future work",
    "conclusions and future work", "future work", "references", "bibliography",
    "acknowledgements", "acknowledgments", "acknowledgement", "acknowledgment", "appendix",
    "appendices", "supplementary material", "ethics statement", "broader impact",
    "reproducibility statement", "materials and methods", "online methods", "patients and methods",
    "conflict of interest", "conflicts of interest", "competing interests", "declaration of interests",
    "funding", "author contributions", "authors' contributions", "authors’ contributions",
    "contributors", "data availability", "code availability", "availability of data and materials",
    "ethics approval", "abbreviations", "declarations", "supplementary information",
    "additional information", "author information", "literature cited", "works cited",
}
REFERENCE_HEADINGS = {"references", "bibliography", "literature cited", "works cited", "reference list"}
NUMBERED = re.compile(r"^(\d{1,2}(?:\.\d{1,2}){0,3})\.?\s+(\S.*)$")
_LETTERED = re.compile(r"^([A-H](?:\.\d{1,2}){0,3})\.?\s+([A-Z].*)$")
_NUMBER_PREFIX = re.compile(r"^(?:\d{1,2}(?:\.\d{1,2})*|[A-H](?:\.\d{1,2})*|[IVX]{1,4})\.?\s+")
_INLINE_ABSTRACT = re.compile(r"^abstract\s*[-—–:.]\s*(\S.*)$", re.I)
_ROMAN = re.compile(r"^[IVX]{1,5}\.\s+\S")
# A heading never starts with a bullet, a maths sign or a bracket, and has no code names.
_NOT_HEADING_START = set("•●▪◦○■□►▸–—-*∗+=<>≤≥±×∑∏∫√∂∇∈∀∃({|/\\^_~'\"")
_ABSTRACT_START = re.compile(r"\s*abstract", re.I).match
_SPACED_CAPS = re.compile(r"\b([A-Z]) (?=[A-Z]{2,}\b)")
_LETTERS = re.compile(r"[^\W\d_]")


def heading_name(text: str) -> str:
    return _NUMBER_PREFIX.sub("", text).strip(" :.").lower()


def heading_of(line: TextLine, body: float, after_references: bool) -> tuple[str, str] | None:
    """(heading, text after it on the same line) if the line is a section heading.

    A line smaller than the body text heads a section only under a known name (a journal
    sets "References" or "Competing interests" in its small back-matter font).
    """
    small = line.size < body - 0.6
    if small and line.size < body * 0.65:
        return None
    # Most lines are plain body text: only an inline "Abstract—" can make them a heading.
    plain = not line.bold and line.size < body * 1.12 and not line.paragraph_start
    if (plain or line.text.count(" ") > 16) and not _ABSTRACT_START(line.text):
        return None
    text = norm(line.text)
    if not text:
        return None
    inline = _INLINE_ABSTRACT.match(text)
    if inline and text[0] == "A":
        return "Abstract", inline.group(1)
    if text.isupper() or (_SPACED_CAPS.search(text) and text.upper() == text):
        text = _SPACED_CAPS.sub(r"\1", text)
    words = text.split()
    if len(words) > 12 or text[-1] in ",;" or text[0] in _NOT_HEADING_START:
        return None
    name = heading_name(text)
    if small:
        known = name in KNOWN_HEADINGS and (line.bold or line.paragraph_start or text.isupper())
        return (text.rstrip(" :."), "") if known else None
    big = line.size >= body * 1.12
    strong = line.bold or big
    if text[-1] == "." and not strong:
        return None
    heading = ((name in KNOWN_HEADINGS and (strong or line.paragraph_start))
               or (strong and (numbered := NUMBERED.match(text)) is not None and numbered.group(2)[0].isupper())
               # IEEE's "II. SYSTEM PARAMETERS": small capitals at the body size, not bold.
               or (line.paragraph_start and _ROMAN.match(text) is not None and text.upper() == text)
               or (after_references and strong and _LETTERED.match(text) is not None)
               or (big and not after_references and len(words) <= 10 and len(_LETTERS.findall(text)) >= 3))
    # Checked last as the dearest test: a run of digits and symbols is a table row, not a heading.
    if not heading or alpha_share(text) < 0.6 or "_" in text:
        return None
    return text.rstrip(" :."), ""
