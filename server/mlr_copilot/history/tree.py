"""A search session's tree, as `history` prints it and the editor shows it
(`search_tree.SearchTreeModel`): the baseline, then every node under its parent with its metric,
its change against the baseline, its status and what it cost. Plain records (`plain.py`) built
from the journal or its summary (search/summary.py), so `history` starts without pydantic."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from ..plain import pydantic_schema
from ..search.summary import best_of, compute_of, delta_of

if TYPE_CHECKING:
    from ..search.model import Journal
    from ..search.summary import JournalSummary


class SearchTreeNode(NamedTuple):
    id: str
    # None: drafted from the base commit, so shown under the baseline
    parent: str | None
    operator: str
    hypothesis: str | None
    status: str
    value: float | None
    # relative change against the baseline's value, positive meaning better
    delta: float | None
    cost_usd: float
    compute_s: float
    commit: str
    runs: list[str]
    summary: str
    why: str
    best: bool


class SearchTree(NamedTuple):
    session: str
    metric: str
    direction: str
    status: str
    message: str
    base_branch: str
    base_commit: str
    baseline_run: str | None
    baseline_value: float | None
    best: str | None
    cost_usd: float
    compute_s: float
    elapsed_s: float
    nodes: list[SearchTreeNode]

    # the editor's tree (`search_tree.SearchTreeModel`) is sent as objects, not arrays
    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        return pydantic_schema(source, handler)


def tree_of(journal: Journal | JournalSummary) -> SearchTree:
    best = best_of(journal)
    nodes = [SearchTreeNode(id=n.id, parent=n.parent, operator=n.operator, hypothesis=n.hypothesis, status=n.status,
                            value=n.value, delta=delta_of(journal, n), cost_usd=n.llm_cost_usd, compute_s=n.compute_s,
                            commit=n.commit, runs=list(n.runs), summary=n.summary, why=n.why, best=n is best)
             for n in journal.nodes]
    return SearchTree(session=journal.session, metric=journal.metric, direction=journal.direction,
                      status=journal.status, message=journal.message, base_branch=journal.base_branch,
                      base_commit=journal.base_commit, baseline_run=journal.baseline_run,
                      baseline_value=journal.baseline_value, best=best.id if best else None,
                      cost_usd=journal.usage.cost_usd or 0.0, compute_s=compute_of(journal),
                      elapsed_s=journal.elapsed_s, nodes=nodes)
