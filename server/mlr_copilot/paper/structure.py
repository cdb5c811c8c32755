"""From lines in reading order to a paper's parts: title, authors, abstract, headed sections
and references. Pure text and geometry heuristics, tuned on the layouts of ML papers."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from mlr_copilot.paper.headings import (
    CONTINUED,
    KNOWN_HEADINGS,
    NUMBERED,
    REFERENCE_HEADINGS,
    find_headings,
    heading_name,
)
from mlr_copilot.paper.layout import TextLine
from mlr_copilot.paper.references import split_references, unheaded_list
from mlr_copilot.paper.text import join_lines, norm

_AFFILIATION = re.compile(
    r"universit|institut|college|school|department|dept\.|laborator|\blab\b|research|inc\.|"
    r"corporation|company|centre|center|academy|faculty|google|microsoft|meta\b|deepmind|"
    r"openai|amazon|nvidia|ibm\b|hospital|scien|engineering|technolog|medicine|journal|proceedings|"
    r"@|https?://|\d",
    re.I,
)
_NAME_PARTICLES = {"de", "van", "von", "der", "den", "la", "le", "di", "da", "del", "bin", "al"}
# A journal's name or issue line set big at the top of page 1.
_MASTHEAD = re.compile(
    r"^(?:the\s+)?(?:international\s+|american\s+|european\s+)?(?:journal|proceedings|transactions|annals|bulletin)\b"
    r"|\bjournal\s+of\b|\bvol(?:ume)?\.?\s*\d|\bissue\s+\d|^(?:original\s+)?(?:research\s+)?(?:article|paper|letter)$",
    re.I)
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


def _title(front: list[TextLine], body: float, metadata_title: str) -> tuple[str, int]:
    """The title and how many of the front lines it takes (up to the end of the title).

    The file's own title wins when page 1 prints it; else the biggest type on page 1, leaving
    out a journal's masthead ("Journal of Statistical Software" set bigger than the title).
    """
    meta = norm(metadata_title or "")
    good_meta = len(meta) >= 3 and not _BAD_METADATA_TITLE.search(meta)
    if good_meta and (found := _printed(front, meta)) is not None:
        return found
    candidates = [ln for ln in front if not _MASTHEAD.search(norm(ln.text))]
    if candidates:
        biggest = max(ln.size for ln in candidates)
        if biggest >= body * 1.15:
            start = next(i for i, ln in enumerate(front) if ln.size == biggest and ln in candidates)
            # A title's lines may differ a little in size (a first line set from another font).
            while start > 0 and abs(front[start - 1].size - biggest) < 0.6 and front[start - 1] in candidates:
                start -= 1
            end = start + 1
            while end < len(front) and abs(front[end].size - biggest) < 0.6:
                end += 1
            return norm(" ".join(ln.text for ln in front[start:end])), end
    if good_meta:
        return meta, 0
    return (norm(front[0].text), 1) if front else ("", 0)


def _printed(front: list[TextLine], title: str) -> tuple[str, int] | None:
    """The title as printed on up to four consecutive front lines, and where it ends."""
    wanted = _letters(title)
    if len(wanted) < 8:
        return None
    for start in range(len(front)):
        so_far = ""
        for end in range(start, min(start + 4, len(front))):
            so_far += _letters(front[end].text)
            if so_far == wanted:
                return norm(" ".join(ln.text for ln in front[start:end + 1])), end + 1
            if not wanted.startswith(so_far):
                break
    return None


def _letters(text: str) -> str:
    return "".join(ch for ch in norm(text).lower() if ch.isalnum())


def split_names(text: str) -> list[str]:
    names = []
    text = re.sub(r"\([^)]*\)|\S+@\S+", " ", text)
    # Footnote marks part names as commas do ("Arman Cohan†∗ Sergey Feldman†∗").
    for part in re.split(r",|;|\band\b|&|\s{3,}|(?<=\w)[*†‡§¶∗♠♣♦♥]+", text):
        part = re.sub(r"[\d*†‡§¶∗♠♣♦♥]+", " ", part).strip(" .")
        words = part.split()
        if not 2 <= len(words) <= 5 or _AFFILIATION.search(part) or part.lower() in KNOWN_HEADINGS:
            continue
        if all(w[0].isupper() or w.lower() in _NAME_PARTICLES for w in words):
            names.append(" ".join(words))
    return names


def build_parts(lines: list[TextLine], metadata_title: str = "", outline: list[str] | None = None) -> Parts:
    """Cut the document's lines (reading order, furniture removed) into a paper's parts."""
    parts = Parts()
    if not lines:
        parts.title = norm(metadata_title)
        return parts
    body = body_size(lines)
    first_page = lines[0].page
    headings = find_headings(lines, body, outline)
    if not any(h and heading_name(h[0]) in REFERENCE_HEADINGS for h in headings):
        start = unheaded_list(lines, body)
        if start is not None and headings[start] is None:
            headings[start] = ("References", lines[start].text)

    # The front matter runs to the first heading that is surely one (numbered or a known
    # name); a big title on the way is not a section.
    front_end = next((i for i, h in enumerate(headings)
                      if h and (heading_name(h[0]) in KNOWN_HEADINGS or NUMBERED.match(h[0]))), len(lines))
    front_end = min(front_end, 30)
    front = [ln for ln in lines[:front_end] if ln.page == first_page]
    parts.title, used = _title(front, body, metadata_title)
    parts.authors, preamble = _authors(front[used:])
    for i in range(front_end):
        headings[i] = None
    first_heading = next((i for i, h in enumerate(headings) if h), len(lines))
    preamble += [ln for ln in lines[:front_end] if ln.page != first_page] + lines[front_end:first_heading]
    blocks = _blocks(lines[first_heading:], headings[first_heading:])
    for heading, block in blocks:
        name = heading_name(heading)
        if name == "abstract" and not parts.abstract:
            block, rest = _abstract_lines(block)
            parts.abstract = join_lines(block)
            if rest and _is_body(rest, body):
                parts.sections.append(("", join_lines(rest)))
        elif name in REFERENCE_HEADINGS:
            entries, rest = split_references(block)
            parts.references += entries
            if rest:
                parts.sections.append(("", join_lines(rest)))
        else:
            parts.sections.append((heading, join_lines(block)))
    if not parts.abstract and preamble:
        block, rest = _abstract_lines(preamble)
        if len(join_lines(block).split()) >= 25:
            parts.abstract = join_lines(block)
            if rest and _is_body(rest, body):
                parts.sections.insert(0, ("", join_lines(rest)))
    return parts


def _authors(lines: list[TextLine]) -> tuple[list[str], list[TextLine]]:
    """The names after the title, and the front lines that are not names (affiliations,
    e-mails, running text)."""
    authors: list[str] = []
    rest: list[TextLine] = []
    author_style: tuple[float, bool] | None = None
    for line in lines:
        text = norm(line.text)
        names = split_names(text) if len(text.split()) < 40 and author_style in (None, _style(line)) else []
        # Names come before the running text, in the style of the first (a sidebar's lines
        # are not names), or in that style beside it (a second column of authors read after
        # the abstract); a long line of names is still names.
        if (not rest and (len(text.split()) < 12 or len(names) >= 3)) or (names and _style(line) == author_style):
            authors += [n for n in names if n not in authors]
            if names and author_style is None:
                author_style = _style(line)
        else:
            rest.append(line)
    return authors, rest


def _blocks(lines: list[TextLine], headings: list[tuple[str, str] | None]) -> list[tuple[str, list[TextLine]]]:
    """(heading, the lines under it) for each heading, in order; text on a heading's own line
    after it ("Abstract—We study...") opens its block."""
    blocks: list[tuple[str, list[TextLine]]] = []
    for line, found in zip(lines, headings):
        if found is CONTINUED:
            continue
        if found:
            heading, rest = found
            blocks.append((heading, []))
            if rest:
                blocks[-1][1].append(TextLine(line.page, rest, line.x0, line.x1, line.bottom, line.top,
                                              line.size, False, True))
        elif blocks:
            blocks[-1][1].append(line)
    return blocks


def _style(line: TextLine) -> tuple[float, bool]:
    return round(line.size * 2) / 2, line.bold


def _abstract_lines(block: list[TextLine]) -> tuple[list[TextLine], list[TextLine]]:
    """The abstract's lines, and the lines after it that are not the abstract.

    An abstract is set in one style. It ends at a paragraph whose first two lines are in
    another style (an untitled introduction, a permission block, keywords): two lines, since a
    structured abstract opens each paragraph with a bold "Methods:". Lines beside it in a
    smaller or larger type (an affiliations sidebar) are left out.
    """
    if not block:
        return [], []
    # The style of most of the text of its first paragraph (a sidebar's short lines beside it
    # may be many).
    first = next((i for i in range(1, min(len(block), 12)) if block[i].paragraph_start), min(len(block), 12))
    weights: Counter[tuple[float, bool]] = Counter()
    for line in block[:first]:
        weights[_style(line)] += len(line.text)
    main = weights.most_common(1)[0][0]
    left = min(ln.x0 for ln in block[:first] if _style(ln) == main)
    right = max(ln.x1 for ln in block[:first] if _style(ln) == main)
    kept: list[TextLine] = []
    for i, line in enumerate(block):
        style = _style(line)
        if (i and line.paragraph_start and style != main
                and (i + 1 == len(block) or _style(block[i + 1]) != main)):
            return kept, block[i:]
        beside = line.x1 <= left or line.x0 >= right
        if not (beside and abs(style[0] - main[0]) > 0.5):
            kept.append(line)
    return kept, []


def _is_body(lines: list[TextLine], body: float) -> bool:
    """Whether the lines are running text of the body (an untitled introduction) rather than
    front matter (keywords, a licence notice): a few sentences, mostly at the body size."""
    at_body = [ln for ln in lines if abs(ln.size - body) < 0.6]
    return len(at_body) * 2 >= len(lines) and sum(len(ln.text.split()) for ln in at_body) >= 40
