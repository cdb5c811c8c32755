"""The policy on journals built by hand: drafts first, the oldest failed leaf fixed while its
branch is under the debug cap, then the best working node improved (a random one with
probability epsilon, drawn from a seeded generator), and a pruned node never expanded."""

from __future__ import annotations

from mlr_copilot.config import SearchSettings
from mlr_copilot.objective import Direction
from mlr_copilot.search.measure import mean_se
from mlr_copilot.search.model import Journal, Node, NodeStatus, Operator
from mlr_copilot.search.policy import Action, choose


def journal(*nodes: Node, hypotheses: list[str] | None = None, drafted: list[str] | None = None,
            direction: Direction = "maximize") -> Journal:
    return Journal(session="20260101-000000", metric="score", direction=direction, base_branch="main",
                   base_commit="0" * 40, branch="mlr-search/x", hypotheses=hypotheses or ["h1", "h2"],
                   drafted=drafted if drafted is not None else ["h1", "h2"], baseline_value=0.5, nodes=list(nodes))


def node(node_id: str, status: NodeStatus, value: float | None = None, parent: str | None = None,
         operator: Operator = "improve", depth: int = 0, runs: int = 1) -> Node:
    return Node(id=node_id, parent=parent, operator=operator, commit=node_id.ljust(40, "0"), status=status,
                value=value, debug_depth=depth, runs=[f"run-{node_id}-{n}" for n in range(runs)])


def settings(**values: object) -> SearchSettings:
    return SearchSettings.model_validate({"epsilon": 0.0, **values})


def test_drafts_come_first_then_the_best_working_node_is_improved():
    assert choose(journal(drafted=[]), settings()) == Action("draft", hypothesis="h1")
    one = node("n001", "passed", 0.6, operator="draft")
    # past the initial drafts, a working node is improved rather than another hypothesis drafted...
    assert choose(journal(one, drafted=["h1"]), settings(initialDrafts=1)) == Action("improve", parent="n001")
    # ...unless nothing works yet
    assert choose(journal(drafted=["h1"]), settings(initialDrafts=1)) == Action("draft", hypothesis="h2")
    tree = journal(node("n001", "passed", 0.6, operator="draft"), node("n002", "passed", 0.8, "n001"),
                   node("n003", "passed", 0.7, "n001"))
    assert choose(tree, settings()) == Action("improve", parent="n002")


def test_lower_is_better_picks_the_lowest_value():
    tree = journal(node("n001", "passed", 0.6, operator="draft"), node("n002", "passed", 0.4, "n001"), direction="minimize")
    assert choose(tree, settings()) == Action("improve", parent="n002")


def test_exploration_is_seeded_so_the_same_journal_gives_the_same_choice():
    tree = journal(*[node(f"n00{i}", "passed", 0.5 + i / 100, operator="draft") for i in range(1, 6)])
    picks = [choose(tree, settings(epsilon=1.0, rngSeed=seed)) for seed in range(8)]
    assert picks == [choose(tree, settings(epsilon=1.0, rngSeed=seed)) for seed in range(8)]
    assert len({p.parent for p in picks if p}) > 1  # it does explore
    assert choose(tree, settings(epsilon=0.0)) == Action("improve", parent="n005")


def test_debug_depth_is_capped_per_branch():
    failed = [node("n001", "failed", operator="draft"), node("n002", "failed", parent="n001", operator="debug", depth=1)]
    assert choose(journal(*failed), settings(debugDepth=2)) == Action("debug", parent="n002")
    capped = [*failed, node("n003", "failed", parent="n002", operator="debug", depth=2)]
    # the branch reached the cap: nothing works and every hypothesis is drafted, so the search ends
    assert choose(journal(*capped), settings(debugDepth=2)) is None
    assert choose(journal(*capped, drafted=["h1"]), settings(debugDepth=2, initialDrafts=1)) == Action("draft", hypothesis="h2")
    # a node whose run was interrupted twice failed without a run to read: nothing to fix from
    assert choose(journal(node("n001", "failed", operator="draft", runs=0)), settings()) is None


def test_a_pruned_node_is_never_expanded():
    tree = journal(node("n001", "passed", 0.6, operator="draft"), node("n002", "pruned", 0.9, "n001"),
                   node("n003", "pruned", operator="draft"))
    for seed in range(20):
        action = choose(tree, settings(epsilon=1.0, rngSeed=seed))
        assert action == Action("improve", parent="n001")
    assert choose(journal(node("n001", "pruned", 0.9, operator="draft")), settings()) is None


def test_mean_and_standard_error_of_seeded_values():
    mean, se = mean_se([0.5, 0.51])
    assert mean is not None and se is not None and abs(mean - 0.505) < 1e-12 and abs(se - 0.005) < 1e-12
    assert mean_se([0.7]) == (0.7, None)
    assert mean_se([None, float("nan")]) == (None, None)
    mean, se = mean_se([1.0, 2.0, 3.0, None])  # sd 1 over sqrt(3)
    assert mean == 2.0 and se is not None and abs(se - 1 / 3 ** 0.5) < 1e-12
