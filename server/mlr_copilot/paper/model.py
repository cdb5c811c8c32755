"""The `Paper` read from a PDF: the data handed from the paper phase to the idea phase.

Frozen dataclasses rather than pydantic models: importing pydantic costs a fresh process
about as much as reading a ten-page paper does (see bench/bench_paper.py), and these types
need no more than a checked round trip to JSON. They answer to the same `model_dump` /
`model_validate` names as the project's pydantic models, so callers treat both alike.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from mlr_copilot.paper.errors import PaperError
from mlr_copilot.slugs import slugify

_SLUG_MAX = 48
_NUMBERING = re.compile(r"^(?:\d{1,2}(?:\.\d{1,2})*|[A-Z](?:\.\d{1,2})*)\.?\s+")


@dataclass(frozen=True)
class Section:
    """One headed part of the paper, its text in reading order; paragraphs end in a blank line."""

    heading: str
    text: str

    @property
    def name(self) -> str:
        """The heading without its number: "3.1 Features" -> "Features"."""
        return _NUMBERING.sub("", self.heading).strip()

    def to_dict(self) -> dict[str, str]:
        return {"heading": self.heading, "text": self.text}

    @classmethod
    def from_dict(cls, data: Any, where: str = "section") -> Section:
        if not isinstance(data, dict):
            raise PaperError(f"{where}: expected an object with heading and text")
        return cls(heading=_field(data, "heading", str, where), text=_field(data, "text", str, where))


@dataclass(frozen=True)
class Paper:
    """A research paper as text: metadata, sections in reading order and references."""

    title: str
    authors: list[str]
    abstract: str
    sections: list[Section]
    references: list[str]
    pages: int
    path: str
    sha256: str
    # What the paper prints of its own identifiers: {"arxiv": ..., "doi": ...}.
    identifiers: dict[str, str] = field(default_factory=dict)

    @property
    def slug(self) -> str:
        """A short, filesystem-safe name from the title (falls back to the file's hash)."""
        return slugify(self.title, _SLUG_MAX, fallback=f"paper-{self.sha256[:12]}")

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

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return {
            "title": self.title,
            "authors": list(self.authors),
            "abstract": self.abstract,
            "sections": [s.to_dict() for s in self.sections],
            "references": list(self.references),
            "pages": self.pages,
            "path": self.path,
            "sha256": self.sha256,
            "identifiers": dict(self.identifiers),
        }

    @classmethod
    def from_dict(cls, data: Any) -> Paper:
        """Rebuild a Paper from `to_dict` output; PaperError names the first bad field."""
        if not isinstance(data, dict):
            raise PaperError("paper data: expected a JSON object")
        where = f"paper data for {data.get('path')}" if isinstance(data.get("path"), str) else "paper data"
        sections = _field(data, "sections", list, where)
        return cls(
            title=_field(data, "title", str, where),
            authors=_strings(data, "authors", where),
            abstract=_field(data, "abstract", str, where),
            sections=[Section.from_dict(s, f"{where}: sections[{i}]") for i, s in enumerate(sections)],
            references=_strings(data, "references", where),
            pages=_field(data, "pages", int, where),
            path=_field(data, "path", str, where),
            sha256=_field(data, "sha256", str, where),
            identifiers=_identifiers(data, where),
        )

    def model_dump(self, *, mode: str = "python") -> dict[str, Any]:
        return self.to_dict()

    @classmethod
    def model_validate(cls, data: Any) -> Paper:
        return cls.from_dict(data)

    def model_dump_json(self, *, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    @classmethod
    def model_validate_json(cls, text: str | bytes) -> Paper:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise PaperError(f"paper data: not valid JSON ({exc})") from None
        return cls.from_dict(data)


def _field(data: dict[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in data:
        raise PaperError(f"{where}: missing field '{key}'")
    value = data[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise PaperError(f"{where}: field '{key}' must be {kind.__name__}, not {type(value).__name__}")
    return value


def _strings(data: dict[str, Any], key: str, where: str) -> list[str]:
    values = _field(data, key, list, where)
    if not all(isinstance(v, str) for v in values):
        raise PaperError(f"{where}: field '{key}' must be a list of strings")
    return list(values)


def _identifiers(data: dict[str, Any], where: str) -> dict[str, str]:
    """Optional: papers saved before identifiers were read have none."""
    value = data.get("identifiers", {})
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise PaperError(f"{where}: field 'identifiers' must be an object of strings")
    return dict(value)
