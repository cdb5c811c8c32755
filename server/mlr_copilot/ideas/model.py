"""The data of the ideas phase: what the LLM extracts from a paper and the hypotheses it
proposes, each with its experiment plan. Saved under `.mlr/ideas/<paper-slug>/`."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import ClassVar

from pydantic import BaseModel, Field, field_validator

from ..objective import Direction
from ..retrieval.model import RelatedWork
from . import summary

Status = summary.Status


class Analysis(BaseModel):
    task: str = Field(description="the research task the paper addresses, in one or two sentences")
    gaps: list[str] = Field(min_length=1, description="open problems or limitations worth working on")
    keywords: list[str] = Field(min_length=1, max_length=15)
    datasets: list[str] = Field(default_factory=list)
    methods: list[str] = Field(default_factory=list)


class ExperimentPlan(BaseModel):
    dataset: str
    model: str
    baseline: str
    metric: str
    direction: Direction
    steps: list[str] = Field(min_length=1)
    expected_improvement: str
    command: str | None = Field(default=None, description="the command that runs the experiment, if not the workspace default")


class Citation(BaseModel):
    work_id: str
    title: str
    source: str = Field(description="where the work came from: library, references, arxiv, semantic_scholar, openalex")
    how: str = Field(default="", description="what the hypothesis takes from it")


class CitedWork(Citation):
    """A citation checked against the run's retrieved works: title and source are the retrieved
    record's, so the document never shows an invented work as one that was found."""

    retrieved: bool = False


class _Idea(BaseModel):
    title: str
    problem: str
    method: str
    rationale: str
    plan: ExperimentPlan


class Draft(_Idea):
    """A hypothesis as the LLM writes it."""

    related: list[Citation] = Field(default_factory=list)


class Drafts(BaseModel):
    hypotheses: list[Draft] = Field(min_length=1)


class Assessment(BaseModel):
    """The LLM's judgement of one hypothesis: novelty against the retrieved works and scores."""

    index: int = Field(ge=1, description="1-based position of the hypothesis in the list given")
    closest_work: str = Field(description="title of the retrieved work closest to the hypothesis, or 'none'")
    novelty_note: str
    novelty: float = Field(ge=0, le=10)
    feasibility: float = Field(ge=0, le=10)
    expected_gain: float = Field(ge=0, le=10)
    reasons: str


class Assessments(BaseModel):
    """Use `covering(n)`: a reply that skips or misnumbers a hypothesis must fail validation so
    the client asks again, rather than leave that hypothesis unscored."""

    count: ClassVar[int]
    assessments: list[Assessment] = Field(min_length=1)

    @field_validator("assessments")
    @classmethod
    def _one_per_hypothesis(cls, assessments: list[Assessment]) -> list[Assessment]:
        indexes = sorted(a.index for a in assessments)
        wanted = list(range(1, cls.count + 1))
        if indexes != wanted:
            missing = sorted(set(wanted) - set(indexes))
            raise ValueError(
                f"give exactly one assessment for each index 1 to {cls.count}; got indexes {indexes}"
                + (f", missing {missing}" if missing else "")
            )
        return sorted(assessments, key=lambda a: a.index)

    @classmethod
    def covering(cls, count: int) -> type[Assessments]:
        return type(cls.__name__, (cls,), {"count": count})


class Decision(BaseModel):
    status: Status
    at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    note: str = ""


class Hypothesis(_Idea):
    related: list[CitedWork] = Field(default_factory=list)
    id: str
    paper: str = Field(description="the slug of the paper it came from")
    rank: int
    closest_work: str = "none"
    novelty_note: str = ""
    scores: dict[str, float] = Field(default_factory=dict)
    reasons: str = ""
    status: Status = "proposed"
    history: list[Decision] = Field(default_factory=list)
    feedback: list[str] = Field(default_factory=list)

    @property
    def score(self) -> float:
        return summary.score(self.scores)

    @property
    def slug(self) -> str:
        return summary.slug(self.id, self.title)

    @property
    def branch(self) -> str:
        return summary.branch(self.id, self.title)


class IdeasRun(BaseModel):
    """Everything one proposal produced, so any step resumes after a crash."""

    paper_path: str
    paper_slug: str
    paper_title: str
    paper_sha256: str = ""
    analysis: Analysis | None = None
    related: list[RelatedWork] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    hypotheses: list[Hypothesis] = Field(default_factory=list)
    document: str | None = None
