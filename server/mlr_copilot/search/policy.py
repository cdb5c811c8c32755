"""Which node to expand next, and how (AIDE's search policy, with the tree's depth of debugging
capped per branch): the initial drafts first (and the drafts of hypotheses proposed from a
reflection's evidence, as soon as they are proposed); then a fix of the oldest failed leaf whose branch
has not reached the debug cap; then one improvement of the best working node, or with
probability `epsilon` of a random working node so a lucky early node does not hold the search.
A pruned node is never expanded. The random draw is seeded by the setting and the node count,
so a search and its resumption choose alike, and tests are deterministic."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import SearchSettings
    from .model import Journal, Operator


@dataclass(frozen=True)
class Action:
    operator: Operator
    parent: str | None = None
    hypothesis: str | None = None
    # for a user's request (`steer.py`): its instruction to the improve prompt, and its id
    instruction: str = ""
    request: str | None = None


def rng_for(settings: SearchSettings, journal: Journal) -> random.Random:
    return random.Random(f"{settings.rng_seed}:{len(journal.nodes)}")


def choose(journal: Journal, settings: SearchSettings) -> Action | None:
    """The next step, or None when nothing is left to expand."""
    undrafted = [h for h in journal.hypotheses if h not in journal.drafted]
    if undrafted and len(journal.drafted) < settings.initial_drafts + journal.extra_drafts:
        return Action("draft", hypothesis=undrafted[0])
    parents = {n.parent for n in journal.nodes}
    # a fix needs a failed run to read (a node interrupted twice has none)
    broken = [n for n in journal.nodes if n.status == "failed" and n.runs and n.id not in parents
              and n.debug_depth < settings.debug_depth]
    if broken:
        return Action("debug", parent=broken[0].id, hypothesis=broken[0].hypothesis)
    working = [n for n in journal.nodes if n.status == "passed"]
    if not working:
        return Action("draft", hypothesis=undrafted[0]) if undrafted else None
    rng = rng_for(settings, journal)
    best = journal.best()
    chosen = rng.choice(working) if len(working) > 1 and rng.random() < settings.epsilon else best
    assert chosen is not None  # a passed node has a value (see loop.finish_run)
    return Action("improve", parent=chosen.id, hypothesis=chosen.hypothesis)
