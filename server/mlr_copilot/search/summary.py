"""A search's journal as `history` reads it: the fields of `.mlr/search/<session>/journal.json`
its tree shows, read without pydantic (`plain.py`), so `history` starts within its 120 ms
(bench/bench_startup.py). `Journal` (search/model.py) stays the definition: every field here is
one of its fields (or of its `Node`), of the same type (tests/search/test_journal_summary.py
holds them to it), and what both compute from them is the functions here (`best_of`...)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Generic, Literal, NamedTuple, Protocol, TypeVar

from ..objective import Direction, Objective
from ..plain import EMPTY_LIST, from_json
from ..status import Spend

Operator = Literal["draft", "debug", "improve"]
NodeStatus = Literal["pending", "running", "passed", "failed", "pruned"]
SearchStatus = Literal["running", "done", "target", "nodes", "hours", "compute", "budget", "exhausted",
                       "cancelled", "failed"]


class _Node(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def value(self) -> float | None: ...
    @property
    def compute_s(self) -> float: ...


N = TypeVar("N", bound=_Node)
N_co = TypeVar("N_co", bound=_Node, covariant=True)


class _Journal(Protocol[N_co]):
    """The fields of a journal (or its summary) that tell what it found."""

    @property
    def metric(self) -> str: ...
    @property
    def direction(self) -> Direction: ...
    @property
    def baseline_value(self) -> float | None: ...
    @property
    def nodes(self) -> Sequence[N_co]: ...


# What a journal's fields tell, the same for the journal and its summary: functions, as the
# summary (a NamedTuple) can have no base class to take methods from.
def objective_of(journal: _Journal[_Node]) -> Objective:
    return Objective(journal.metric, journal.direction)


def best_of(journal: _Journal[N]) -> N | None:
    return objective_of(journal).best([n for n in journal.nodes if n.status == "passed"], lambda n: n.value)


def delta_of(journal: _Journal[_Node], node: _Node | None) -> float | None:
    return objective_of(journal).delta(node.value if node else None, journal.baseline_value)


def compute_of(journal: _Journal[_Node]) -> float:
    return sum(n.compute_s for n in journal.nodes)


class JournalView(Generic[N]):
    """`Journal`'s methods of the functions above."""

    if TYPE_CHECKING:  # each class's own fields: none here for pydantic to take
        metric: str
        direction: Direction
        baseline_value: float | None
        nodes: list[N]

    @property
    def objective(self) -> Objective:
        return objective_of(self)

    def best(self) -> N | None:
        return best_of(self)

    def delta(self, node: _Node | None) -> float | None:
        return delta_of(self, node)

    def compute_s(self) -> float:
        return compute_of(self)


class NodeSummary(NamedTuple):
    id: str
    operator: Operator
    commit: str
    parent: str | None = None
    hypothesis: str | None = None
    summary: str = ""
    status: NodeStatus = "pending"
    runs: list[str] = EMPTY_LIST
    value: float | None = None
    why: str = ""
    llm_cost_usd: float = 0.0
    compute_s: float = 0.0


class JournalSummary(NamedTuple):
    session: str
    metric: str
    direction: Direction
    base_branch: str
    base_commit: str
    baseline_run: str | None = None
    baseline_value: float | None = None
    nodes: list[NodeSummary] = EMPTY_LIST
    status: SearchStatus = "running"
    message: str = ""
    elapsed_s: float = 0.0
    usage: Spend = Spend()


def read_summary(workspace: Path, session: str) -> JournalSummary:
    """Session `session`'s journal (`store.journal_data`); MlrError when there is none,
    ValueError when it cannot be read as one."""
    from .store import journal_data

    _path, data = journal_data(workspace, session)
    return from_json(JournalSummary, data)
