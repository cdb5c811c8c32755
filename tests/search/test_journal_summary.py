"""The journal as `history` reads it (search/summary.py, without pydantic) is the journal's
own: the same fields of the same types and defaults, and the same tree built from either."""

from __future__ import annotations

import json
import math

import pytest

from mlr_copilot.history.search_tree import search_tree
from mlr_copilot.history.tree import tree_of
from mlr_copilot.lsp.results import to_json
from mlr_copilot.plain import jsonable
from mlr_copilot.search import store
from mlr_copilot.search.model import Journal, Node
from mlr_copilot.search.summary import JournalSummary, NodeSummary, read_summary
from mlr_copilot.status import Spend
from tests.lightshape import assert_fields_are_the_models_own


@pytest.mark.parametrize("light, model", [(JournalSummary, Journal), (NodeSummary, Node)])
def test_each_summary_field_is_the_journals_own(light, model):
    assert_fields_are_the_models_own(light, model, loose=("nodes",))  # nodes: the nested summary


def test_the_tree_of_the_summary_is_the_tree_of_the_journal(tmp_path):
    nodes = [Node(id="n001", operator="draft", hypothesis="h1", commit="a" * 40, status="passed", runs=["r1"],
                  value=0.8, llm_cost_usd=0.25, compute_s=3.5, summary="first"),
             Node(id="n002", parent="n001", operator="improve", commit="b" * 40, status="failed", why="oom",
                  value=float("nan"), compute_s=1),
             Node(id="n003", parent="n001", operator="debug", commit="c" * 40, status="passed", value=0.9)]
    journal = Journal(session="20260101-120000", metric="f1", direction="maximize", base_branch="main",
                      base_commit="d" * 40, branch="mlr/search", baseline_run="r0", baseline_value=0.5, nodes=nodes,
                      status="done", message="target", elapsed_s=12.5, usage=Spend(cost_usd=0.75))
    store.save(tmp_path, journal)
    summary = read_summary(tmp_path, journal.session)
    light, full = tree_of(summary), tree_of(store.load(tmp_path, journal.session))
    assert json.dumps(jsonable(light)) == json.dumps(jsonable(full))
    assert light.best == "n003" and light.cost_usd == 0.75 and light.compute_s == 4.5
    assert math.isnan(light.nodes[1].value)
    # the editor's: the same fields, a NaN sent as null
    sent = to_json(search_tree(journal))
    assert sent["nodes"][1]["value"] is None and sent["best"] == "n003" and set(sent) == set(light._fields)
