"""The hypotheses as the read-only commands see them: the fields of `.mlr/ideas/*/run.json`
that `hypotheses` lists and `history` judges runs by (the plan's metric, the branch), read
without pydantic (`plain.py`), so both start within their 120 ms (bench/bench_startup.py).
`Hypothesis` (ideas/model.py) stays the definition: every field here is one of its fields (or
of its `ExperimentPlan`), of the same type (tests/ideas/test_summary.py holds them to it), and
its `slug`, `branch` and `score` are these functions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, NamedTuple

from ..errors import MlrError
from ..objective import Direction
from ..plain import EMPTY_DICT, from_json
from ..slugs import slugify
from ..state import StateDir, read_json

if TYPE_CHECKING:
    from .model import Hypothesis

Status = Literal["proposed", "accepted", "rejected"]
SCORED = ("novelty", "feasibility", "expected_gain")


def score(scores: dict[str, float]) -> float:
    return sum(scores.get(k, 0.0) for k in SCORED)


def slug(hypothesis_id: str, title: str) -> str:
    return f"{hypothesis_id}-{slugify(title, 40)}"


class UnknownHypothesisError(MlrError):
    pass


def unknown(wanted: str, hypotheses: list[HypothesisSummary] | list[Hypothesis]) -> UnknownHypothesisError:
    """The error for an id or slug that names none of the workspace's `hypotheses`."""
    known = ", ".join(h.id for h in hypotheses) or "none yet: propose hypotheses first"
    return UnknownHypothesisError(f"no hypothesis '{wanted}' in this workspace (known: {known})")


def branch(hypothesis_id: str, title: str) -> str:
    """The hypothesis's own branch, where its implementation is committed."""
    return f"mlr/{slug(hypothesis_id, title)}"


class PlanSummary(NamedTuple):
    metric: str
    direction: Direction
    command: str | None = None


class HypothesisSummary(NamedTuple):
    id: str
    title: str
    rank: int
    plan: PlanSummary
    status: Status = "proposed"
    scores: dict[str, float] = EMPTY_DICT

    @property
    def score(self) -> float:
        return score(self.scores)

    @property
    def slug(self) -> str:
        return slug(self.id, self.title)

    @property
    def branch(self) -> str:
        return branch(self.id, self.title)


def read_summaries(state: StateDir) -> list[HypothesisSummary]:
    """`IdeaStore.hypotheses`, as summaries: each paper's by rank, papers by their folder.
    ValueError for a file the store would refuse (or might: it is then the store's to say)."""
    found: list[HypothesisSummary] = []
    for path in sorted((state.root / "ideas").glob("*/run.json")):
        data = read_json(path)
        if not data:
            continue
        if not isinstance(data, dict) or not isinstance(data.get("hypotheses", []), list):
            raise ValueError(f"{path}: not a proposal")
        found += sorted((from_json(HypothesisSummary, h) for h in data.get("hypotheses", [])), key=lambda h: h.rank)
    return found
