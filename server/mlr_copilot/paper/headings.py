"""Which lines head a section: the document's outline when it has one, else font, numbering
and layout rules."""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import Counter

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
    "keywords", "key words", "index terms", "ccs concepts", "acm reference format", "general terms",
}
REFERENCE_HEADINGS = {"references", "bibliography", "literature cited", "works cited", "reference list"}
NUMBERED = re.compile(r"^(\d{1,2}(?:\.\d{1,2}){0,3})\.?\s+(\S.*)$")
_LETTERED = re.compile(r"^([A-H](?:\.\d{1,2}){0,3})\.?\s+([A-Z].*)$")
_NUMBER_PREFIX = re.compile(r"^(?:\d{1,2}(?:\.\d{1,2})*|[A-H](?:\.\d{1,2})*|[IVX]{1,4})\.?\s+")
_INLINE_ABSTRACT = re.compile(r"^abstract\s*[-—–:.]\s*(\S.*)$", re.I)
# "Index Terms—storage, video" or "Keywords: spectroscopy": the end of an abstract.
_INLINE_KEYWORDS = re.compile(r"^(index\s+terms|key\s*words)\s*[-—–:.]\s*(\S.*)$", re.I)
_ROMAN = re.compile(r"^[IVX]{1,5}\.\s+\S")
# A heading never starts with a bullet, a maths sign or a bracket, and has no code names.
_NOT_HEADING_START = set("•●▪◦○■□►▸–—-*∗+=<>≤≥±×∑∏∫√∂∇∈∀∃({|/\\^_~'\"")
_CAPTION = re.compile(r"^(?:fig(?:ure)?|table|tab|algorithm|listing|box|scheme|chart|plate|eq(?:uation)?)\.?\s*[\dIVX]", re.I)
# Bold run-in labels of a paragraph, not headings of a section.
_RUN_IN = re.compile(r"^(?:theorem|lemma|proof|definition|corollary|proposition|remark|example|assumption|claim|"
                     r"conjecture|step|case|note)\b", re.I)
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
    keywords = _INLINE_KEYWORDS.match(text)
    if keywords and text[0].isupper():
        return " ".join(keywords.group(1).split()).title(), keywords.group(2)
    if text[0] == "A" and text.replace(" ", "").lower() == "abstract":
        # The word alone on its line heads the abstract whatever its type.
        return "Abstract", ""
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
               or (big and not after_references and len(words) <= 10 and len(_LETTERS.findall(text)) >= 3)
               # An unnumbered bold heading at the body size (Nature's, a Word paper's).
               or (line.bold and line.paragraph_start and not after_references and len(words) <= 8
                   and text[0].isupper() and text[-1] not in ".:" and _CAPTION.match(text) is None
                   and _RUN_IN.match(text) is None))
    # Checked last as the dearest test: a run of digits and symbols is a table row, not a heading.
    if not heading or alpha_share(_NUMBER_PREFIX.sub("", text)) < 0.6 or "_" in text:
        return None
    return text.rstrip(" :."), ""


# The mark of a line that goes on with the heading on the line before it.
CONTINUED: tuple[str, str] = ("", "")


def find_headings(lines: list[TextLine], body: float, outline: list[str] | None = None
                  ) -> list[tuple[str, str] | None]:
    """Each line's heading (or None). A heading wrapped onto more lines is one heading on its
    first line; the lines after it are marked `CONTINUED`.

    The document's outline (bookmarks), when its titles are found on the lines, says which
    lines are headings; the rules then add only the known names (Abstract, References...),
    which outlines often leave out. Without a usable outline the rules decide alone.
    """
    found: list[tuple[str, str] | None] = []
    after_references = False
    for line in lines:
        heading = heading_of(line, body, after_references)
        found.append(heading)
        if heading and heading_name(heading[0]) in REFERENCE_HEADINGS:
            after_references = True
    marked = _outline_marks(lines, outline or [], body)
    headings: list[tuple[str, str] | None] = []
    skip = 0
    for i, (line, heading) in enumerate(zip(lines, found)):
        if skip:
            skip -= 1
            headings.append(CONTINUED)
            continue
        if heading is None and marked is None:  # most lines: body text, no outline to check
            headings.append(None)
            continue
        known = heading is not None and (heading[1] or heading_name(heading[0]) in KNOWN_HEADINGS)
        if marked is not None:
            span = marked.get(i)
            if span is not None:
                heading, skip = (" ".join(norm(ln.text) for ln in lines[i:i + span]).rstrip(" :."), ""), span - 1
            elif not known:
                heading = None
        elif heading is not None and not known:
            if _in_a_row(lines, i) or not _opens_block(lines, i):
                heading = None
            elif i + 1 < len(lines) and not _sure(found[i + 1]) and _continues(line, lines[i + 1], heading[0]):
                heading, skip = (f"{heading[0]} {norm(lines[i + 1].text)}".rstrip(" :."), ""), 1
            if heading is not None and not _text_follows(lines, found, i + 1 + skip, body):
                heading, skip = None, 0
        headings.append(heading)
    return headings


def _key(text: str) -> str:
    return re.sub(r"[\W_]+", "", _NUMBER_PREFIX.sub("", norm(text)).lower())


def _outline_marks(lines: list[TextLine], outline: list[str], body: float) -> dict[int, int] | None:
    """{index of a heading's first line: how many lines it takes} for the outline's titles
    found on the lines, each title once; None when fewer than half of them are found (an
    outline of page labels or one that does not match the text is no guide)."""
    keys = [k for k in map(_key, outline) if len(k) >= 2]
    if len(keys) < 2:
        return None
    remaining = Counter(keys)
    ordered = sorted(remaining)

    def extends(prefix: str) -> bool:
        at = bisect_left(ordered, prefix)
        return at < len(ordered) and ordered[at].startswith(prefix)

    marks: dict[int, int] = {}
    for i, line in enumerate(lines):
        # A heading is set apart from the body: bold, bigger, or after a gap.
        if not (line.bold or line.paragraph_start or line.size >= body * 1.12):
            continue
        joined, span = _key(line.text), 1
        if not joined or not extends(joined):
            continue
        # A title wrapped over up to three lines.
        while not remaining[joined] and span < 3 and i + span < len(lines):
            joined += _key(lines[i + span].text)
            span += 1
            if not extends(joined):
                break
        if remaining[joined]:
            remaining[joined] -= 1
            marks[i] = span
    return marks if len(marks) * 2 >= len(keys) else None


def _in_a_row(lines: list[TextLine], i: int) -> bool:
    """Whether the line shares its row with other text beside it: plot labels, legends and
    table cells do; a heading stands alone."""
    line = lines[i]
    for j in (i - 1, i + 1):
        if 0 <= j < len(lines):
            other = lines[j]
            if (other.page == line.page and abs(other.middle - line.middle) < 0.5 * line.size
                    and (other.x0 >= line.x1 - 1 or other.x1 <= line.x0 + 1)):
                return True
    return False


def _opens_block(lines: list[TextLine], i: int) -> bool:
    """Whether the line starts a block: a gap above it, or the top of a page or column."""
    line = lines[i]
    if i == 0 or line.paragraph_start:
        return True
    prev = lines[i - 1]
    return prev.page != line.page or prev.bottom < line.bottom


def _text_follows(lines: list[TextLine], found: list[tuple[str, str] | None], j: int, body: float) -> bool:
    """Whether what follows a heading is body text or a sure heading, as after a real one;
    a figure's labels are followed by more labels in the figure's big type."""
    if j >= len(lines):
        return True
    nxt, line = lines[j], lines[j - 1]
    if _sure(found[j]) or nxt.size > body * 1.15:
        return _sure(found[j])
    if line.size >= body * 1.12 or NUMBERED.match(line.text) or _ROMAN.match(line.text):
        return True
    # A bold line at the body size heads what follows when the body is not bold and runs
    # wider than it; a full line starting in bold is a run-in heading inside a paragraph.
    return not nxt.bold and line.x1 - line.x0 < 0.8 * (nxt.x1 - nxt.x0)


def _sure(heading: tuple[str, str] | None) -> bool:
    """Whether a rule heading is numbered or has a known name."""
    return heading is not None and bool(heading_name(heading[0]) in KNOWN_HEADINGS or NUMBERED.match(heading[0]))


def _continues(line: TextLine, nxt: TextLine, heading: str) -> bool:
    """Whether `nxt` is the second line of a heading wrapped after `line`."""
    return (nxt.page == line.page and not nxt.paragraph_start and heading[-1] not in ".:?!"
            and abs(nxt.size - line.size) < 0.3 and nxt.bold == line.bold
            and 0 < line.bottom - nxt.bottom < 1.6 * line.size and len(nxt.text.split()) <= 8
            and NUMBERED.match(nxt.text) is None and alpha_share(nxt.text) >= 0.6)
