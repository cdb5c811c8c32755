"""A local parse corrected by the paper's own record from an index (`retrieval/records.py`).

The record corrects only the paper it belongs to: its title must name the same work as the
parsed one (an identifier on page 1 may be a cited work's). Then its title and authors win;
its references replace the parsed list only when the parse found fewer than half as many
(a list the reader could not cut), since the printed list is the fuller text otherwise.
"""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING, Any

from mlr_copilot.paper.model import Paper

if TYPE_CHECKING:
    from mlr_copilot.retrieval.records import PaperRecord

# Share of the shorter title's words the other must hold for both to name one work.
_SAME_WORK = 0.8


def enrich(paper: Paper, record: PaperRecord) -> tuple[Paper, list[str]]:
    """The paper with the record's corrections, and notes saying what changed."""
    label = record.source.replace("_", " ").title()
    if not same_work(paper.title, record.title):
        return paper, [f"{label} knows this paper's identifier as '{record.title}'; the local parse is kept"]
    changes: dict[str, Any] = {}
    if record.title != paper.title:
        changes["title"] = record.title
    if record.authors and record.authors != paper.authors:
        changes["authors"] = list(record.authors)
    if record.references and len(paper.references) * 2 < len(record.references):
        changes["references"] = list(record.references)
    if not changes:
        return paper, []
    return dataclasses.replace(paper, **changes), [f"{', '.join(changes)} corrected from {label}"]


def same_work(a: str, b: str) -> bool:
    """Whether two titles name the same work: most words of the shorter are in the longer."""
    words_a, words_b = _words(a), _words(b)
    if not words_a or not words_b:
        return not words_a and not words_b
    shorter, longer = sorted((words_a, words_b), key=len)
    return len(shorter & longer) >= _SAME_WORK * len(shorter)


def _words(text: str) -> set[str]:
    return set(re.findall(r"[^\W_]+", text.lower()))
