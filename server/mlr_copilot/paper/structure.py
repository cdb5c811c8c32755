"""From lines in reading order to a paper's parts: title, authors, abstract, headed sections
and references. Pure text and geometry heuristics, tuned on the layouts of ML papers."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from mlr_copilot.paper.layout import TextLine

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
_REFERENCE_HEADINGS = {"references", "bibliography", "literature cited", "works cited", "reference list"}
_NUMBERED = re.compile(r"^(\d{1,2}(?:\.\d{1,2}){0,3})\.?\s+(\S.*)$")
_LETTERED = re.compile(r"^([A-H](?:\.\d{1,2}){0,3})\.?\s+([A-Z].*)$")
_NUMBER_PREFIX = re.compile(r"^(?:\d{1,2}(?:\.\d{1,2})*|[A-H](?:\.\d{1,2})*|[IVX]{1,4})\.?\s+")
_INLINE_ABSTRACT = re.compile(r"^abstract\s*[-—–:.]\s*(\S.*)$", re.I)
_ROMAN = re.compile(r"^[IVX]{1,5}\.\s+\S")
# A heading never starts with a bullet, a maths sign or a bracket, and has no code names.
_NOT_HEADING_START = set("•●▪◦○■□►▸–—-*∗+=<>≤≥±×∑∏∫√∂∇∈∀∃({|/\\^_~'\"")
_ABSTRACT_START = re.compile(r"\s*abstract", re.I).match
_SPACED_CAPS = re.compile(r"\b([A-Z]) (?=[A-Z]{2,}\b)")
_LETTERS = re.compile(r"[^\W\d_]")
_YEAR = re.compile(r"\b(?:19|20)\d{2}[a-z]?\b")
_BRACKET_REF = re.compile(r"^\[(\d{1,3})\]")
_DOTTED_REF = re.compile(r"^(\d{1,3})\.\s")
_AUTHOR_YEAR_START = re.compile(r"^(?:[A-Z][A-Za-z'’\-]+|[A-Z][a-z]+ [A-Z][A-Za-z'’\-]+),\s")
_AFFILIATION = re.compile(
    r"universit|institut|college|school|department|dept\.|laborator|\blab\b|research|inc\.|"
    r"corporation|company|centre|center|academy|faculty|google|microsoft|meta\b|deepmind|"
    r"openai|amazon|nvidia|ibm\b|hospital|@|https?://|\d",
    re.I,
)
_NAME_PARTICLES = {"de", "van", "von", "der", "den", "la", "le", "di", "da", "del", "bin", "al"}
_MARKED_HYPHEN = re.compile(r"(\S*?)[\ufffe\x02](?=[a-z])")
_HYPHENS = "-\u00ad\ufffe\x02\u2010"
_CLEAN = {
    "\ufffe": "-", "\x02": "-", "\u00ad": "-", "\u2010": "-",
    "\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl", "\ufb05": "st", "\ufb06": "st",
}
_BAD_METADATA_TITLE = re.compile(r"^(?:untitled|microsoft word|document\d*$)|\.(?:docx?|tex|dvi|pdf)$", re.I)


@dataclass
class Parts:
    title: str = ""
    authors: list[str] = field(default_factory=list)
    abstract: str = ""
    sections: list[tuple[str, str]] = field(default_factory=list)
    references: list[str] = field(default_factory=list)


def body_size(lines: list[TextLine]) -> float:
    """The font size that carries most of the text."""
    weights: dict[float, int] = {}
    for line in lines:
        size = line.size
        weights[size] = weights.get(size, 0) + len(line.text)
    halves: Counter[float] = Counter()
    for size, weight in weights.items():
        halves[round(size * 2) / 2] += weight
    return halves.most_common(1)[0][0] if halves else 10.0


def join_lines(lines: list[TextLine]) -> str:
    """Lines as running text: words split by a line-end hyphen joined, paragraphs apart."""
    out: list[str] = []
    for line in lines:
        text = " ".join(_unhyphenate(line.text).split())
        if not text:
            continue
        if not out:
            out.append(text)
        elif line.paragraph_start:
            out.append("\n\n" + text)
        elif out[-1][-1] in _HYPHENS:
            out.append(_continue(out, text))
        else:
            out.append(" " + text)
    return _clean("".join(out))


def _continue(out: list[str], text: str) -> str:
    """The separator and text that follow the line so far; may trim the previous hyphen."""
    prev = out[-1]
    if len(prev) >= 2 and prev[-1] in _HYPHENS and prev[-2].isalpha():
        last_word = prev.rsplit(None, 1)[-1]
        # "experi-" + "ment" is one word; "state-of-the-" + "art" keeps its hyphens.
        if text[0].islower() and not any(h in last_word[:-1] for h in _HYPHENS):
            out[-1] = prev[:-1]
            return text
        return text if prev[-1] != "-" or text[0].isalnum() else " " + text
    return " " + text


def _norm(text: str) -> str:
    return " ".join(_clean(_unhyphenate(text)).split())


def _clean(text: str) -> str:
    """Hyphen marks as plain hyphens and ligatures as their letters.

    Not `str.translate`: one character outside ASCII (a single PDFium hyphen mark will do)
    sends it to a dict lookup per character, some 5 ms for a 40,000-character section
    against 0.02 ms for these few scans.
    """
    for mark, plain in _CLEAN.items():
        if mark in text:
            text = text.replace(mark, plain)
    return text


def _unhyphenate(text: str) -> str:
    """Drop the hyphens PDFium marks inside a word it already joined across lines."""
    if "\ufffe" not in text and "\x02" not in text:
        return text
    return _MARKED_HYPHEN.sub(lambda m: m.group(1) + ("-" if "-" in m.group(1) else ""), text)


def _heading_name(text: str) -> str:
    return _NUMBER_PREFIX.sub("", text).strip(" :.").lower()


def _alpha_share(text: str) -> float:
    letters = len(_LETTERS.findall(text))
    return letters / max(1, len(text) - text.count(" "))


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
    text = _norm(line.text)
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
    name = _heading_name(text)
    if small:
        known = name in KNOWN_HEADINGS and (line.bold or line.paragraph_start or text.isupper())
        return (text.rstrip(" :."), "") if known else None
    big = line.size >= body * 1.12
    strong = line.bold or big
    if text[-1] == "." and not strong:
        return None
    heading = ((name in KNOWN_HEADINGS and (strong or line.paragraph_start))
               or (strong and (numbered := _NUMBERED.match(text)) is not None and numbered.group(2)[0].isupper())
               # IEEE's "II. SYSTEM PARAMETERS": small capitals at the body size, not bold.
               or (line.paragraph_start and _ROMAN.match(text) is not None and text.upper() == text)
               or (after_references and strong and _LETTERED.match(text) is not None)
               or (big and not after_references and len(words) <= 10 and len(_LETTERS.findall(text)) >= 3))
    # Checked last as the dearest test: a run of digits and symbols is a table row, not a heading.
    if not heading or _alpha_share(text) < 0.6 or "_" in text:
        return None
    return text.rstrip(" :."), ""


def split_references(lines: list[TextLine]) -> list[str]:
    """One string per reference entry, from the lines of the References section."""
    texts = [_norm(ln.text) for ln in lines]
    bracketed = sum(bool(_BRACKET_REF.match(t)) for t in texts)
    dotted = sum(bool(_DOTTED_REF.match(t)) for t in texts)
    entries: list[list[TextLine]] = []
    expected = 1
    for i, (line, text) in enumerate(zip(lines, texts)):
        if not text:
            continue
        if bracketed >= 2:
            starts = bool(_BRACKET_REF.match(text))
        elif dotted >= 2:
            match = _DOTTED_REF.match(text)
            starts = bool(match) and int(match.group(1)) == expected
        else:
            ahead = text + " " + (texts[i + 1] if i + 1 < len(texts) else "")
            starts = _starts_author_year(line, ahead, entries, lines[i - 1] if i else None)
        if starts or not entries:
            entries.append([])
            expected += 1
        entries[-1].append(line)
    result = []
    for entry in entries:
        for line in entry:
            line.paragraph_start = False
        joined = join_lines(entry).strip()
        if joined:
            result.append(joined)
    return result


def _starts_author_year(line: TextLine, ahead: str, entries: list[list[TextLine]], prev: TextLine | None) -> bool:
    """Whether the line opens a new author-year entry; `ahead` is its text and the next line's."""
    if prev is None or not entries:
        return True
    if line.paragraph_start:
        return True
    # A hanging indent: the entry's first line sits left of its continuation lines.
    if prev.page == line.page and line.x0 < prev.x0 - 3 and abs(line.bottom - prev.bottom) < 3 * line.size:
        return True
    so_far = " ".join(_norm(ln.text) for ln in entries[-1])
    # "Surname, Given ... 2019." right after an entry that is complete (has a year, ends in ".").
    return bool(_AUTHOR_YEAR_START.match(ahead) and _YEAR.search(so_far) and so_far.endswith(".")
                and _YEAR.search(ahead))


def _title(front: list[TextLine], body: float, metadata_title: str) -> tuple[str, int]:
    """The title and how many of the front lines it takes."""
    if front:
        biggest = max(ln.size for ln in front)
        if biggest >= body * 1.15:
            start = next(i for i, ln in enumerate(front) if ln.size == biggest)
            end = start + 1
            while end < len(front) and abs(front[end].size - biggest) < 0.6:
                end += 1
            return _norm(" ".join(ln.text for ln in front[start:end])), end
    meta = _norm(metadata_title or "")
    if len(meta) >= 3 and not _BAD_METADATA_TITLE.search(meta):
        if front and _norm(front[0].text).lower() == meta.lower():
            return meta, 1
        return meta, 0
    return (_norm(front[0].text), 1) if front else ("", 0)


def split_names(text: str) -> list[str]:
    names = []
    text = re.sub(r"\([^)]*\)|\S+@\S+", " ", text)
    for part in re.split(r",|;|\band\b|&|\s{3,}", text):
        part = re.sub(r"[\d*†‡§¶∗♠♣♦♥]+", " ", part).strip(" .")
        words = part.split()
        if not 2 <= len(words) <= 5 or _AFFILIATION.search(part):
            continue
        if all(w[0].isupper() or w.lower() in _NAME_PARTICLES for w in words):
            names.append(" ".join(words))
    return names


def build_parts(lines: list[TextLine], metadata_title: str = "") -> Parts:
    """Cut the document's lines (reading order, furniture removed) into a paper's parts."""
    parts = Parts()
    if not lines:
        parts.title = _norm(metadata_title)
        return parts
    body = body_size(lines)
    first_page = lines[0].page
    headings: list[tuple[str, str] | None] = []
    after_references = False
    for line in lines:
        found = heading_of(line, body, after_references)
        headings.append(found)
        if found and _heading_name(found[0]) in _REFERENCE_HEADINGS:
            after_references = True

    # The front matter runs to the first heading that is surely one (numbered or a known
    # name); a big title on the way is not a section.
    front_end = next((i for i, h in enumerate(headings)
                      if h and (_heading_name(h[0]) in KNOWN_HEADINGS or _NUMBERED.match(h[0]))), len(lines))
    front_end = min(front_end, 30)
    front = [ln for ln in lines[:front_end] if ln.page == first_page]
    parts.title, used = _title(front, body, metadata_title)
    # After the title: names, then affiliations and e-mails, until running text begins.
    preamble: list[TextLine] = []
    for line in front[used:]:
        text = _norm(line.text)
        if not preamble and len(text.split()) < 12:
            parts.authors += [n for n in split_names(text) if n not in parts.authors]
        else:
            preamble.append(line)
    for i in range(front_end):
        headings[i] = None
    first_heading = next((i for i, h in enumerate(headings) if h), len(lines))
    preamble += [ln for ln in lines[:front_end] if ln.page != first_page] + lines[front_end:first_heading]

    current: tuple[str, list[TextLine]] | None = None
    blocks: list[tuple[str, list[TextLine]]] = []
    for line, found in zip(lines[first_heading:], headings[first_heading:]):
        if found:
            heading, rest = found
            current = (heading, [])
            blocks.append(current)
            if rest:
                current[1].append(TextLine(line.page, rest, line.x0, line.x1, line.bottom, line.top,
                                           line.size, False, True))
        elif current is not None:
            current[1].append(line)
    for heading, block in blocks:
        name = _heading_name(heading)
        if name == "abstract" and not parts.abstract:
            parts.abstract = join_lines(block)
        elif name in _REFERENCE_HEADINGS:
            parts.references += split_references(block)
        else:
            parts.sections.append((heading, join_lines(block)))
    if not parts.abstract and preamble and len(join_lines(preamble).split()) >= 25:
        parts.abstract = join_lines(preamble)
    return parts
