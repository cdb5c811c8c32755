"""Each budget, and the target, stops the search cleanly: the journal is saved with the reason,
the nodes made so far keep their runs, the best is still measured with seeds, and the report
is complete."""

from __future__ import annotations

import pytest

from mlr_copilot.search import store
from mlr_copilot.search.report import render

from .helpers import draft, engine_for, improve, search, workspace

REPLIES = [*draft("SCORE = 0.5", "SCORE = 0.6", "Raise to 0.6"), *draft("SCORE = 0.5", "SCORE = 0.55", "Raise to 0.55"),
           improve("SCORE = 0.6", "SCORE = 0.7", "Raise to 0.7"), improve("SCORE = 0.7", "SCORE = 0.8", "Raise to 0.8")]


@pytest.fixture(autouse=True)
def no_hf_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))


@pytest.mark.parametrize(("search_settings", "llm", "status", "nodes"), [
    ({"maxNodes": 3}, {}, "nodes", 3),
    ({"computeSeconds": 0.001}, {}, "compute", 1),
    ({"hours": 1e-9}, {}, "hours", 0),
    ({"targetImprovement": 0.3}, {}, "target", 3),
    ({}, {"budgetTokens": 1500}, "budget", 1),
])
def test_a_budget_stops_the_search_with_a_complete_report(tmp_path, search_settings, llm, status, nodes):
    ws = workspace(tmp_path)
    engine = engine_for(tmp_path, ws, REPLIES, **search_settings)
    if llm:
        engine.configure(engine.settings.model_copy(update={"llm": engine.settings.llm.model_copy(
            update={"budget_tokens": llm["budgetTokens"]})}))
    journal = search(engine)
    assert journal.status == status and len(journal.nodes) == nodes, (journal.status, journal.message)
    saved = store.load(ws, journal.session)
    assert saved.model_dump(exclude={"elapsed_s", "usage"}) == journal.model_dump(exclude={"elapsed_s", "usage"})
    assert all(n.runs for n in journal.nodes if n.status in ("passed", "failed"))
    report = render(journal)
    assert f"Status: {status} (" in report and f"Tree ({nodes} nodes):" in report and "Spent: " in report
    if journal.best() is not None:
        assert [m.label for m in journal.measured] == ["baseline", "best"]
        assert "Seeded means: " in report
    else:
        assert "Not measured with seeds." in report
