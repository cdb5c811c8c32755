"""The identifiers a paper prints of itself: its arXiv id (the stamp in the margin of page 1)
and its DOI (a journal's header or footer), read from page 1's text and the file's metadata."""

from __future__ import annotations

import re

_ARXIV = re.compile(r"\barXiv\s*:\s*(\d{4}\.\d{4,5}|[a-z][a-z.\-]*/\d{7})(?:v\d+)?", re.I)
_DOI = re.compile(r"\b(10\.\d{4,9}/[^\s\"'<>]+)")


def find_identifiers(*texts: str) -> dict[str, str]:
    """{"arxiv": id, "doi": doi} for the first of each found in the texts, in order."""
    found: dict[str, str] = {}
    for text in texts:
        if "arxiv" not in found and (match := _ARXIV.search(text)):
            found["arxiv"] = match.group(1)
        if "doi" not in found and (match := _DOI.search(text)):
            found["doi"] = match.group(1).rstrip(".,;:)]}").lower()
    return found
