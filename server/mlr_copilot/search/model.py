"""The search's typed record: nodes (each a commit and its run), the evidence of reflect steps,
and the seeded re-measurements, held in one `Journal` per session."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Literal

from pydantic import BaseModel, Field

from ..objective import Direction
from ..status import Spend
from .summary import JournalView
from .summary import (
    NodeStatus as NodeStatus,  # the types of the journal's fields, defined with its summary
)
from .summary import Operator as Operator
from .summary import SearchStatus as SearchStatus

# what a user asks of a node from the editor or the CLI (`Engine.search_act`)
NodeActionName = Literal["improve", "debug", "prune", "promote"]


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class Node(BaseModel):
    id: str
    parent: str | None = None
    operator: Operator
    hypothesis: str | None = None
    commit: str
    summary: str = Field(default="", description="the change, in a line")
    status: NodeStatus = "pending"
    runs: list[str] = Field(default_factory=list)
    value: float | None = None
    why: str = Field(default="", description="why its run failed, in a line")
    debug_depth: int = 0
    # the user's instruction an improve was asked with ("" when the policy chose it)
    instruction: str = ""
    # how many times a run of it was started: a node left running by a kill is re-run once
    attempts: int = 0
    llm_cost_usd: float = 0.0
    llm_tokens: int = 0
    compute_s: float = 0.0
    seconds: float = 0.0
    created_at: str = Field(default_factory=now)


class Evidence(BaseModel):
    after_nodes: int
    text: str
    # whether new hypotheses were proposed from it (search.ideasAfterReflect)
    proposed: bool = False
    created_at: str = Field(default_factory=now)


class SteerRequest(BaseModel):
    """A user's request to a live search, one line of `.mlr/search/<session>/steer.jsonl`:
    only the search's own process writes its journal, so another process queues instead."""

    id: str
    action: NodeActionName
    node: str
    instruction: str = ""
    created_at: str = Field(default_factory=now)


class NodeAction(BaseModel):
    """What a user's request of a node did (or will do, when `queued` for a live search)."""

    action: NodeActionName
    node: str
    child: str | None = Field(default=None, description="the new node's id (improve, debug)")
    queued: bool = False
    branch: str | None = Field(default=None, description="the branch a promote moved")
    message: str = ""


class Promotion(BaseModel):
    node: str
    branch: str
    commit: str
    # where the branch's old tip stays reachable when the move was not a fast-forward
    kept: str | None = None
    created_at: str = Field(default_factory=now)


class SeedRun(BaseModel):
    seed: int
    run: str
    commit: str | None
    value: float | None


class Measured(BaseModel):
    """A commit re-run with several seeds: the mean and its standard error."""

    label: str
    node: str | None
    commit: str
    runs: list[SeedRun] = Field(default_factory=list)
    mean: float | None = None
    se: float | None = None


class Journal(BaseModel, JournalView["Node"]):
    session: str
    metric: str
    direction: Direction
    base_branch: str
    base_commit: str
    branch: str = Field(description="the search's own branch, where nodes are checked out to run")
    hypotheses: list[str] = Field(default_factory=list)
    # the hypotheses a draft was started for (a draft that commits nothing makes no node)
    drafted: list[str] = Field(default_factory=list)
    # drafts owed to hypotheses proposed from a reflection's evidence, beyond the initial ones
    extra_drafts: int = 0
    baseline_run: str | None = None
    baseline_value: float | None = None
    nodes: list[Node] = Field(default_factory=list)
    evidence: list[Evidence] = Field(default_factory=list)
    measured: list[Measured] = Field(default_factory=list)
    final: SeedRun | None = None
    final_node: str | None = None
    promotions: list[Promotion] = Field(default_factory=list)
    # the ids of the steering requests taken (`SteerRequest`), so a resume takes none twice
    steered: list[str] = Field(default_factory=list)
    status: SearchStatus = "running"
    message: str = ""
    # the process running it (as in run records): a second search never runs beside it
    owner_host: str | None = None
    owner_pid: int | None = None
    owner_started: int | None = None
    elapsed_s: float = 0.0
    usage: Spend = Field(default_factory=Spend)
    started_at: str = Field(default_factory=now)

    def node(self, node_id: str) -> Node:
        found = next((n for n in self.nodes if n.id == node_id), None)
        if found is None:
            raise KeyError(node_id)
        return found

    def children(self, node_id: str) -> list[Node]:
        return [n for n in self.nodes if n.parent == node_id]

    def path_to(self, node: Node) -> list[Node]:
        path = [node]
        while path[-1].parent is not None:
            path.append(self.node(path[-1].parent))
        return path[::-1]

    def run_ids(self) -> set[str]:
        """Every run the journal holds: the nodes', the baseline's, the seeded and final ones."""
        held = {run for n in self.nodes for run in n.runs} | {r.run for m in self.measured for r in m.runs}
        return held | {run for run in (self.baseline_run, self.final.run if self.final else None) if run}

    def next_id(self) -> str:
        return f"n{len(self.nodes) + 1:03d}"
