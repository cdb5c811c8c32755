"""A whole search on a real repository with the local runner and scripted replies: drafts,
a fix of a failed draft, an improvement of the best node, the seeded measurement, the refs that
keep the nodes, and the report naming node, commit and run of every number."""

from __future__ import annotations

import pytest

from mlr_copilot.search.report import render
from tests.gitutil import git

from .helpers import draft, engine_for, fix, improve, search, workspace


@pytest.fixture(autouse=True)
def no_hf_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))


def test_a_search_drafts_fixes_improves_the_best_and_measures_it_with_seeds(tmp_path):
    ws = workspace(tmp_path)
    records = [*draft("SCORE = 0.5", "SCORE = 0.6", "Raise to 0.6"),
               *draft("BROKEN = False", "BROKEN = True", "Break it"),
               fix("BROKEN = True", "BROKEN = False", "Unbreak it"),
               improve("SCORE = 0.6", "SCORE = 0.7", "Raise to 0.7", "draft of h1: Idea 1 (Raise to 0.6)", "score=0.6 (+20.0% vs baseline)"),
               improve("SCORE = 0.7", "SCORE = 0.65", "Lower to 0.65", "Raise to 0.7")]
    engine = engine_for(tmp_path, ws, records, maxNodes=5)
    journal = search(engine)
    assert engine.llm.provider.remaining() == {}
    assert [(n.id, n.operator, n.parent, n.status) for n in journal.nodes] == [
        ("n001", "draft", None, "passed"), ("n002", "draft", None, "failed"), ("n003", "debug", "n002", "passed"),
        ("n004", "improve", "n001", "passed"), ("n005", "improve", "n004", "passed")]
    assert [n.value for n in journal.nodes] == pytest.approx([0.6, None, 0.5, 0.7, 0.65])
    assert journal.status == "nodes" and journal.best() is journal.nodes[3]
    for node in journal.nodes:  # each node kept by its own ref, none by a new branch of the user
        assert git(ws, "rev-parse", f"refs/mlr/search/{journal.session}/{node.id}").strip() == node.commit
        assert len(node.runs) == 1
    baseline, best = journal.measured
    assert (baseline.label, best.label, best.node, best.commit) == ("baseline", "best", "n004", journal.nodes[3].commit)
    assert baseline.mean == pytest.approx(0.505) and best.mean == pytest.approx(0.705)
    assert best.se == pytest.approx(0.005) and [r.seed for r in best.runs] == [0, 1]
    assert all(r.commit == best.commit for r in best.runs)
    assert git(ws, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"
    assert "mlr-search" not in git(ws, "branch", "--list")  # the search's own branch is gone, its refs stay
    report = render(journal)
    assert "Best path: n001 (draft) -> n004 (improve)" in report
    assert f"best (node n004 at {best.commit[:8]}): score 0.705 ± 0.005 over 2 seed(s)" in report
    assert f"run {best.runs[0].run}" in report and "beats the baseline by 10%" in report


def test_an_improvement_whose_edit_never_applies_is_pruned_and_never_run(tmp_path):
    ws = workspace(tmp_path)
    bad = improve("SCORE = 0.9", "SCORE = 1.0", "Edit a line that is not there")
    records = [*draft("SCORE = 0.5", "SCORE = 0.6", "Raise to 0.6"), bad, bad, bad,
               improve("SCORE = 0.6", "SCORE = 0.7", "Raise to 0.7", "n002 (improve of n001)")]
    engine = engine_for(tmp_path, ws, records, hypotheses=1, initialDrafts=1, maxNodes=3, seeds=1)
    journal = search(engine)
    assert engine.llm.provider.remaining() == {}
    first, pruned, third = journal.nodes
    assert (pruned.status, pruned.runs, pruned.commit) == ("pruned", [], first.commit)
    assert pruned.summary.startswith("improve: the proposed edit could not be applied after 3 tries")
    assert (third.parent, third.status, third.value) == ("n001", "passed", pytest.approx(0.7))
