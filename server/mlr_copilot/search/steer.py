"""A user's requests of a search's nodes (`Engine.search_act`): improve (with an instruction),
debug, prune, promote. Only the process running a search writes its journal, so a request to a
live search is queued in `.mlr/search/<session>/steer.jsonl` and its loop takes it before the
policy's next choice; the journal's `steered` lists the requests taken, so none is taken twice.

Promote points the node's hypothesis branch at the node's commit. No commit is lost: when the
branch's old tip is not an ancestor of the node, a ref under `refs/mlr/promoted/` keeps it."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from ..errors import MlrError
from ..state import append_jsonl
from ..workspace.commits import head_info
from ..workspace.gitsafe import run_text
from ..workspace.refs import check_branch_name, commit_of
from . import store
from .model import Journal, Node, NodeActionName, Promotion, SteerRequest

if TYPE_CHECKING:
    from ..engine import Engine

log = logging.getLogger(__name__)
PROMOTED_ROOT = "refs/mlr/promoted"
ENDED = ("passed", "failed")


def steer_path(workspace: Path, session: str) -> Path:
    return store.journal_path(workspace, session).parent / "steer.jsonl"


def check(journal: Journal, node_id: str, action: NodeActionName) -> Node:
    """The node `action` may be taken on now; one line (MlrError) why not otherwise."""
    try:
        node = journal.node(node_id)
    except KeyError:
        raise MlrError(f"search {journal.session} has no node {node_id!r}") from None
    if action == "debug" and not (node.status == "failed" and node.runs):
        raise MlrError(f"node {node.id} is {node.status}: only a failed node with a run to read can be debugged")
    if action == "improve" and node.status not in ENDED:
        raise MlrError(f"node {node.id} is {node.status}: only a node whose run ended can be improved")
    if action == "prune" and node.status == "pruned":
        raise MlrError(f"node {node.id} is already pruned: the search never expands it again")
    return node


def queue(workspace: Path, journal: Journal, action: NodeActionName, node: str, instruction: str) -> SteerRequest:
    request = SteerRequest(id=uuid.uuid4().hex[:12], action=action, node=node, instruction=instruction)
    append_jsonl(steer_path(workspace, journal.session), request.model_dump(mode="json"))
    return request


def pending(workspace: Path, journal: Journal) -> list[SteerRequest]:
    """The queued requests not taken yet, oldest first. A line being appended right now reads
    as broken: it is left for the next look."""
    try:
        lines = steer_path(workspace, journal.session).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    taken, found = set(journal.steered), []
    for line in lines:
        try:
            request = SteerRequest.model_validate(json.loads(line))
        except (ValueError, ValidationError):
            continue
        if request.id not in taken:
            found.append(request)
            taken.add(request.id)
    return found


def promote(engine: Engine, journal: Journal, node: Node) -> Promotion:
    """Point `node`'s hypothesis branch at its commit; refused (one line) when that branch is
    checked out with uncommitted changes, or is checked out in another worktree, or when this
    node's promotion is already where the branch points (a second one would change nothing)."""
    workspace = engine.workspace
    hypothesis = next((h for h in engine.hypotheses() if h.id == node.hypothesis), None)
    if hypothesis is None:
        raise MlrError(f"node {node.id} belongs to no known hypothesis: there is no branch to promote it to")
    branch = check_branch_name(hypothesis.branch)
    head = head_info(workspace)
    here = head is not None and head.branch == branch
    if here and head is not None and head.dirty:
        raise MlrError(f"{branch} is checked out with uncommitted changes: commit or stash them, then promote {node.id}")
    found = run_text(workspace, "rev-parse", "-q", "--verify", f"refs/heads/{branch}^{{commit}}")
    old = found.stdout.strip() if found.returncode == 0 else None
    sha = commit_of(workspace, node.commit)
    if old == sha and any(p.node == node.id and p.commit == sha for p in journal.promotions):
        raise MlrError(f"node {node.id} is already promoted: {branch} points at its commit {sha[:12]}")
    kept = None
    if old and old != sha and run_text(workspace, "merge-base", "--is-ancestor", old, sha).returncode != 0:
        kept = f"{PROMOTED_ROOT}/{branch}/{old}"
        _git(workspace, f"could not keep the old tip {old[:12]} of {branch}", "update-ref", kept, old)
    if old != sha:
        moved = ("checkout", "-q", "-B", branch, sha, "--") if here else ("branch", "-q", "-f", branch, sha)
        _git(workspace, f"could not point {branch} at node {node.id} ({sha[:12]})", *moved)
    promotion = Promotion(node=node.id, branch=branch, commit=sha, kept=kept)
    journal.promotions.append(promotion)
    return promotion


def said(promotion: Promotion) -> str:
    kept = f"; its old tip stays at {promotion.kept}" if promotion.kept else ""
    return f"{promotion.branch} now points at node {promotion.node} ({promotion.commit[:12]}){kept}"


def _git(workspace: Path, failed: str, *args: str) -> None:
    out = run_text(workspace, *args)
    if out.returncode != 0:
        raise MlrError(f"{failed}: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else 'git failed'}")
