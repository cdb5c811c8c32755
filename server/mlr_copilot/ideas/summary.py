"""The hypotheses as the read-only commands see them: the fields of `.mlr/ideas/*/run.json`
that `hypotheses` lists and `history` judges runs by (the plan's metric, the branch), read
without pydantic (`plain.py`), so both start within their 120 ms (bench/bench_startup.py).
`Hypothesis` (ideas/model.py) stays the definition: every field here is one of its fields (or
of its `ExperimentPlan`), of the same type (tests/ideas/test_summary.py holds them to it), and
its `slug`, `branch` and `score` are these functions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, get_args

from ..errors import MlrError
from ..objective import Direction
from ..plain import EMPTY_DICT, from_json
from ..slugs import slugify
from ..state import StateDir, read_json

if TYPE_CHECKING:
    from .model import Hypothesis

Status = Literal["proposed", "accepted", "rejected"]
SCORED = ("novelty", "feasibility", "expected_gain")

# The fields of `Hypothesis` and of its parts, in the models' order, and those of them that are
# text (tests/ideas/test_summary.py holds them to the models): a stored hypothesis of exactly
# these keys and types is what `model_dump(mode="json")` makes of it, so `hypotheses --json`
# prints it as stored, without the models.
HYPOTHESIS_FIELDS = ("title", "problem", "method", "rationale", "plan", "related", "id", "paper", "rank",
                     "closest_work", "novelty_note", "scores", "reasons", "status", "history", "feedback")
HYPOTHESIS_TEXT = ("title", "problem", "method", "rationale", "id", "paper", "closest_work", "novelty_note", "reasons")
PLAN_FIELDS = ("dataset", "model", "baseline", "metric", "direction", "steps", "expected_improvement", "command")
PLAN_TEXT = ("dataset", "model", "baseline", "metric", "expected_improvement")
CITED_WORK_FIELDS = ("work_id", "title", "source", "how", "retrieved")
CITED_WORK_TEXT = ("work_id", "title", "source", "how")
DECISION_FIELDS = ("status", "at", "note")
DECISION_TEXT = ("note",)
# a proposal's own fields: its hypotheses are printed only if it is complete
RUN_FIELDS = ("paper_path", "paper_slug", "paper_title", "paper_sha256", "analysis", "related", "notes",
              "hypotheses", "document")
RUN_TEXT = ("paper_path", "paper_slug", "paper_title", "paper_sha256")


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


def _read(state: StateDir) -> Iterator[tuple[dict[str, Any], list[tuple[HypothesisSummary, Any]]]]:
    """Each stored proposal, and its hypotheses as their summaries and as stored, in
    `IdeaStore.hypotheses`' order: each paper's by rank, papers by their folder. ValueError for
    a file the store would refuse (or might: it is then the store's to say)."""
    for path in sorted((state.root / "ideas").glob("*/run.json")):
        data = read_json(path)
        if not data:
            continue
        if not isinstance(data, dict) or not isinstance(data.get("hypotheses", []), list):
            raise ValueError(f"{path}: not a proposal")
        yield data, sorted(((from_json(HypothesisSummary, h), h) for h in data.get("hypotheses", [])),
                           key=lambda pair: pair[0].rank)


def read_summaries(state: StateDir) -> list[HypothesisSummary]:
    """`IdeaStore.hypotheses`, as summaries."""
    return [summary for _, hypotheses in _read(state) for summary, _ in hypotheses]


def read_dumps(state: StateDir) -> list[dict[str, Any]] | None:
    """`IdeaStore.hypotheses` as `model_dump(mode="json")` gives them, read without the models;
    None unless every proposal is complete and each of its hypotheses exactly what the model
    dumps (`_as_dumped`): a file written before a field was added, or edited, is the store's to
    read, filling defaults or saying what is wrong with it."""
    found = []
    try:
        for run, hypotheses in _read(state):
            if not _run_complete(run) or not all(_as_dumped(h) for _, h in hypotheses):
                return None
            found += [h for _, h in hypotheses]
    except ValueError:  # corrupt JSON too
        return None
    return found


def _run_complete(run: dict[str, Any]) -> bool:
    """The proposal's own fields, as far as the store's refusing it goes (its analysis and
    works are not printed, and only their kind is checked)."""
    return (tuple(run) == RUN_FIELDS and all(isinstance(run[name], str) for name in RUN_TEXT)
            and (run["analysis"] is None or isinstance(run["analysis"], dict)) and isinstance(run["related"], list)
            and _texts(run["notes"]) and (run["document"] is None or isinstance(run["document"], str)))


def _texts(values: Any, at_least: int = 0) -> bool:
    return isinstance(values, list) and len(values) >= at_least and all(isinstance(v, str) for v in values)


def _as_dumped(h: dict[str, Any]) -> bool:
    """Whether the model would dump stored hypothesis `h` (whose summary `read_summaries` read)
    as it is: the same keys in the same order at every level, and no value the model would
    convert (an int score to a float, 1 to true, a time to its own form) or refuse."""
    plan = h["plan"]
    return (tuple(h) == HYPOTHESIS_FIELDS and tuple(plan) == PLAN_FIELDS
            and all(isinstance(h[name], str) for name in HYPOTHESIS_TEXT)
            and all(isinstance(plan[name], str) for name in PLAN_TEXT)
            and _texts(plan["steps"], at_least=1) and _texts(h["feedback"])
            and all(type(value) is float for value in h["scores"].values())
            and isinstance(h["related"], list) and all(_cited_as_dumped(c) for c in h["related"])
            and isinstance(h["history"], list) and all(_decision_as_dumped(d) for d in h["history"]))


def _cited_as_dumped(cited: Any) -> bool:
    return (isinstance(cited, dict) and tuple(cited) == CITED_WORK_FIELDS
            and all(isinstance(cited[name], str) for name in CITED_WORK_TEXT) and isinstance(cited["retrieved"], bool))


def _decision_as_dumped(decision: Any) -> bool:
    return (isinstance(decision, dict) and tuple(decision) == DECISION_FIELDS
            and decision["status"] in get_args(Status) and all(isinstance(decision[name], str) for name in DECISION_TEXT)
            and _time_as_dumped(decision["at"]))


def _time_as_dumped(at: Any) -> bool:
    """Whether `at` is a UTC time as pydantic writes the decisions' (`Decision.at`): ISO 8601
    with a "T", microseconds when there are any, and "Z"."""
    from datetime import datetime  # only for a hypothesis decided on

    if not isinstance(at, str) or not at.endswith("Z"):
        return False
    try:
        return datetime.fromisoformat(at).isoformat() == f"{at[:-1]}+00:00"
    except ValueError:
        return False
