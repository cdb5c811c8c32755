"""A search's journal as `history` reads it: the fields of `.mlr/search/<session>/journal.json`
its tree shows, read without pydantic (`plain.py`), so `history` starts within its 120 ms
(bench/bench_startup.py). `Journal` (search/model.py) stays the definition: every field here is
one of its fields (or of its `Node`), of the same type (tests/search/test_journal_summary.py
holds them to it), and what both compute from them is `JournalView`'s."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Generic, Literal, Protocol, TypeVar

from ..objective import Direction, Objective
from ..plain import from_json
from ..status import Spend

Operator = Literal["draft", "debug", "improve"]
NodeStatus = Literal["pending", "running", "passed", "failed", "pruned"]
SearchStatus = Literal["running", "done", "target", "nodes", "hours", "compute", "budget", "exhausted",
                       "cancelled", "failed"]


class _Node(Protocol):
    @property
    def status(self) -> str: ...
    @property
    def value(self) -> float | None: ...
    @property
    def compute_s(self) -> float: ...


N = TypeVar("N", bound=_Node)


class JournalView(Generic[N]):
    """What a journal's fields tell, the same for the journal and its summary."""

    if TYPE_CHECKING:  # each class's own fields: none here for pydantic to take
        metric: str
        direction: Direction
        baseline_value: float | None
        nodes: list[N]

    @property
    def objective(self) -> Objective:
        return Objective(self.metric, self.direction)

    def best(self) -> N | None:
        return self.objective.best([n for n in self.nodes if n.status == "passed"], lambda n: n.value)

    def delta(self, node: _Node | None) -> float | None:
        return self.objective.delta(node.value if node else None, self.baseline_value)

    def compute_s(self) -> float:
        return sum(n.compute_s for n in self.nodes)


@dataclass(frozen=True, kw_only=True)
class NodeSummary:
    id: str
    parent: str | None = None
    operator: Operator
    hypothesis: str | None = None
    commit: str
    summary: str = ""
    status: NodeStatus = "pending"
    runs: list[str] = field(default_factory=list)
    value: float | None = None
    why: str = ""
    llm_cost_usd: float = 0.0
    compute_s: float = 0.0


@dataclass(frozen=True, kw_only=True)
class JournalSummary(JournalView[NodeSummary]):
    session: str
    metric: str
    direction: Direction
    base_branch: str
    base_commit: str
    baseline_run: str | None = None
    baseline_value: float | None = None
    nodes: list[NodeSummary] = field(default_factory=list)
    status: SearchStatus = "running"
    message: str = ""
    elapsed_s: float = 0.0
    usage: Spend = field(default_factory=Spend)


def read_summary(workspace: Path, session: str) -> JournalSummary:
    """Session `session`'s journal (`store.journal_data`); MlrError when there is none,
    ValueError when it cannot be read as one."""
    from .store import journal_data

    _path, data = journal_data(workspace, session)
    return from_json(JournalSummary, data)
