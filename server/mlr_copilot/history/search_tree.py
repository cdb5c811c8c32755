"""A search session as both faces show it: the baseline, then every node under its parent with
its metric, its change against the baseline, its status and what it cost (`SearchTree`); and
a node beside its parent (`NodeComparison`). The tree is plain data built from the journal
(`tree.py`), so the editor's tree, `history` and `history --json` read the same thing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, RootModel

from .compare import RunComparison
from .tree import SearchTree, tree_of

if TYPE_CHECKING:
    from ..engine import Engine
    from ..search.model import Journal, Node


class SearchTreeModel(RootModel[SearchTree]):
    """`SearchTree`, dumped as its fields: the editor's (a diverged node's NaN sent as null,
    `lsp/results.to_json`)."""


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


def search_tree(journal: Journal) -> SearchTreeModel:
    return SearchTreeModel(tree_of(journal))


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
