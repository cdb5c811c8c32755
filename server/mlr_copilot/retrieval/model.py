"""What retrieval hands to the other phases: works found, candidate models and datasets, and
notes on what was not searched."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

MB = 1024 * 1024

WorkSource = Literal["library", "references", "arxiv", "semantic_scholar", "openalex"]


class RelatedWork(BaseModel):
    """A paper: from the local library, the paper's own references, or an online index."""

    id: str
    title: str
    abstract: str = ""
    authors: list[str] = Field(default_factory=list)
    year: int | None = None
    url: str | None = None
    source: WorkSource
    score: float = 0.0


class RetrievalResult(BaseModel):
    works: list[RelatedWork] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class Candidate(BaseModel):
    id: str
    kind: Literal["model", "dataset"]
    downloads: int | None = None
    size_mb: float | None = None
    local: bool = False
    tags: list[str] = Field(default_factory=list)
    score: float = 0.0


class HubResult(BaseModel):
    models: list[Candidate] = Field(default_factory=list)
    datasets: list[Candidate] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
