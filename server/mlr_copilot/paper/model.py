"""The `Paper` read from a PDF: the data handed from the paper phase to the idea phase."""

from __future__ import annotations

import re
import unicodedata

from pydantic import BaseModel, ConfigDict

_SLUG_MAX = 48
_NUMBERING = re.compile(r"^(?:\d{1,2}(?:\.\d{1,2})*|[A-Z](?:\.\d{1,2})*)\.?\s+")


class Section(BaseModel):
    """One headed part of the paper, its text in reading order; paragraphs end in a blank line."""

    model_config = ConfigDict(frozen=True)

    heading: str
    text: str

    @property
    def name(self) -> str:
        """The heading without its number: "3.1 Features" -> "Features"."""
        return _NUMBERING.sub("", self.heading).strip()


class Paper(BaseModel):
    """A research paper as text: metadata, sections in reading order and references."""

    model_config = ConfigDict(frozen=True)

    title: str
    authors: list[str]
    abstract: str
    sections: list[Section]
    references: list[str]
    pages: int
    path: str
    sha256: str

    @property
    def slug(self) -> str:
        """A short, filesystem-safe name from the title (falls back to the file's hash)."""
        ascii_title = unicodedata.normalize("NFKD", self.title).encode("ascii", "ignore").decode()
        words = re.findall(r"[a-z0-9]+", ascii_title.lower())
        slug = ""
        for word in words:
            candidate = f"{slug}-{word}" if slug else word
            if len(candidate) > _SLUG_MAX:
                break
            slug = candidate
        if not slug and words:
            slug = words[0][:_SLUG_MAX]
        return slug or f"paper-{self.sha256[:12]}"

    def section(self, name: str) -> Section | None:
        """The first section whose heading, without its number, is `name` (any case)."""
        wanted = name.strip().lower()
        return next((s for s in self.sections if s.name.lower() == wanted), None)

    def full_text(self) -> str:
        """Title, abstract, every section and the references as one plain-text document."""
        parts = [self.title]
        if self.authors:
            parts.append(", ".join(self.authors))
        if self.abstract:
            parts.append(f"Abstract\n\n{self.abstract}")
        parts += [f"{s.heading}\n\n{s.text}" if s.text else s.heading for s in self.sections]
        if self.references:
            parts.append("References\n\n" + "\n".join(self.references))
        return "\n\n".join(parts)
