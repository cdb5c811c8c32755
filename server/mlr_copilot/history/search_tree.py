"""A search session as both faces show it: the baseline, then every node under its parent with
its metric, its change against the baseline, its status and what it cost (`SearchTree`); and
a node beside its parent (`NodeComparison`). Plain data built from the journal, so the editor's
tree, `history` and `history --json` read the same thing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from .compare import RunComparison

if TYPE_CHECKING:
    from ..engine import Engine
    from ..search.model import Journal, Node


class SearchTreeNode(BaseModel):
    model_config = ConfigDict(ser_json_inf_nan="constants")

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


class SearchTree(BaseModel):
    model_config = ConfigDict(ser_json_inf_nan="constants")

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


def latest_journal(engine: Engine, session: str | None = None) -> Journal | None:
    """Session `session`'s journal (an unknown one is refused), else the latest session's;
    None when the workspace has no search yet."""
    from ..errors import MlrError
    from ..search import store

    if session is None:
        try:
            session = store.latest_session(engine.workspace)
        except MlrError:
            return None
    return engine.search_journal(session)


def search_tree(journal: Journal) -> SearchTree:
    best = journal.best()
    nodes = [SearchTreeNode(id=n.id, parent=n.parent, operator=n.operator, hypothesis=n.hypothesis, status=n.status,
                            value=n.value, delta=journal.delta(n), cost_usd=n.llm_cost_usd, compute_s=n.compute_s,
                            commit=n.commit, runs=n.runs, summary=n.summary, why=n.why, best=n is best)
             for n in journal.nodes]
    return SearchTree(session=journal.session, metric=journal.metric, direction=journal.direction,
                      status=journal.status, message=journal.message, base_branch=journal.base_branch,
                      base_commit=journal.base_commit, baseline_run=journal.baseline_run,
                      baseline_value=journal.baseline_value, best=best.id if best else None,
                      cost_usd=journal.usage.cost_usd or 0.0, compute_s=journal.compute_s(),
                      elapsed_s=journal.elapsed_s, nodes=nodes)


class NodeComparison(BaseModel):
    """A node against its parent (the baseline for a draft): the metric's change, and the runs
    compared when both ran, else the diff between their commits."""

    model_config = ConfigDict(ser_json_inf_nan="constants")

    session: str
    node: str
    # None: the baseline
    parent: str | None
    commit: str
    parent_commit: str
    metric: str
    value: float | None
    parent_value: float | None
    # relative change from the parent's value, positive meaning better
    delta: float | None
    runs: RunComparison | None
    diff: str
    secret_files: list[str]
    notes: list[str]


def compare_with_parent(engine: Engine, journal: Journal, node_id: str) -> NodeComparison:
    from ..errors import MlrError

    try:
        node = journal.node(node_id)
    except KeyError:
        raise MlrError(f"search {journal.session} has no node {node_id!r} "
                       f"(its nodes: {', '.join(n.id for n in journal.nodes) or 'none yet'})") from None
    parent: Node | None = journal.node(node.parent) if node.parent else None
    parent_commit = parent.commit if parent else journal.base_commit
    parent_value = parent.value if parent else journal.baseline_value
    parent_run = (parent.runs[-1] if parent.runs else None) if parent else journal.baseline_run
    notes: list[str] = []
    runs = None
    if node.runs and parent_run:
        runs = engine.compare(parent_run, node.runs[-1])
        diff, secret_files = runs.diff, runs.secret_files
        notes += runs.diff_notes
    else:
        notes.append(f"{'node ' + node.id if not node.runs else 'its parent'} has no run: the metric as recorded, "
                     "and the diff of the commits")
        if node.commit == parent_commit:
            diff, secret_files = "", []
            notes.append("same commit as its parent: no code difference")
        else:
            diff, secret_files = engine.git.diff_between(parent_commit, node.commit)
    return NodeComparison(session=journal.session, node=node.id, parent=node.parent, commit=node.commit,
                          parent_commit=parent_commit, metric=journal.metric, value=node.value,
                          parent_value=parent_value, delta=journal.objective.delta(node.value, parent_value),
                          runs=runs, diff=diff, secret_files=secret_files, notes=notes)
