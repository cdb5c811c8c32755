"""Each budget, and the target, stops the search cleanly: the journal is saved with the reason,
the nodes made so far keep their runs, the best is still measured with seeds, and the report
is complete."""

from __future__ import annotations

import pytest

from mlr_copilot.llm.accounting import Ledger
from mlr_copilot.llm.base import Usage
from mlr_copilot.plain import from_json
from mlr_copilot.search import store
from mlr_copilot.search.model import Journal
from mlr_copilot.search.report import render
from mlr_copilot.status import Spend

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


def test_the_spent_line_says_the_cached_prompt_tokens_and_what_the_cache_saved():
    def spent(model: str, usage: Usage) -> str:
        ledger = Ledger()
        ledger.charge("search:improve", "anthropic", model, usage)
        journal = Journal(session="s", metric="score", direction="maximize", base_branch="main", base_commit="0" * 40,
                          branch="mlr-search", usage=from_json(Spend, ledger.snapshot()))
        return next(line for line in render(journal).splitlines() if line.startswith("Spent: "))

    # Sonnet 4.5: 8000 tokens read at $0.30 instead of $3, 1000 written at $3.75 instead of $3
    line = spent("claude-sonnet-4-5", Usage(10_000, 500, cached_input_tokens=8_000, cache_write_tokens=1_000))
    cost, saved = (1_000 * 3 + 8_000 * 0.3 + 1_000 * 3.75 + 500 * 15) / 1e6, (8_000 * 2.7 - 1_000 * 0.75) / 1e6
    assert line.startswith(f"Spent: 10000 input (8000 cached, 1000 written to the cache) + 500 output tokens, "
                           f"${cost:.4f} (the cache saved ${saved:.4f}); experiments ")
    # a model with no price: the tokens, no dollars
    assert spent("llama3.1", Usage(100, 5, cached_input_tokens=80)).startswith(
        "Spent: 100 input (80 cached) + 5 output tokens; experiments ")
    assert spent("claude-sonnet-4-5", Usage(100, 5)).startswith("Spent: 100 input + 5 output tokens, $0.0004; ")
