"""Honest results and the loop back to the ideas: the task's final evaluation runs once, at the
end, on the winning node only (a resume does not run it again), and the evidence of a reflect
step reaches the next prompt of the ideas phase."""

from __future__ import annotations

import asyncio

import pytest

from mlr_copilot.engine import Engine
from mlr_copilot.ideas.agent import experiment_context
from mlr_copilot.search.report import render
from mlr_copilot.work import Work

from .helpers import draft, engine_for, improve, reflect, search, settings, workspace, write_script

REFLECTION = "- Raising SCORE from 0.5 to 0.6 gained 20%; breaking the code did not help."


@pytest.fixture(autouse=True)
def no_hf_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))


def test_the_final_evaluation_runs_once_on_the_winner_only(tmp_path):
    ws = workspace(tmp_path, final_command="python train.py --final")
    engine = engine_for(tmp_path, ws, [*draft("SCORE = 0.5", "SCORE = 0.6", "Raise to 0.6"),
                                       improve("SCORE = 0.6", "SCORE = 0.4", "Lower to 0.4")],
                        hypotheses=1, maxNodes=2, seeds=1, initialDrafts=1)
    journal = search(engine)
    finals = [r for r in engine.runs() if "--final" in r.command]
    winner = journal.best()
    assert winner is not None and winner.id == "n001"
    assert len(finals) == 1 and finals[0].commit == winner.commit
    assert journal.final is not None and journal.final.run == finals[0].id and journal.final_node == "n001"
    assert journal.final.value == pytest.approx(0.55)
    assert f"Final evaluation (once, node n001 at {winner.commit[:8]}, run {finals[0].id}): score=0.55" in render(journal)
    # the search selected on the validation metric: the final one is in no node's runs
    assert all(finals[0].id not in n.runs for n in journal.nodes)
    again = search(Engine.load(ws, settings(write_script(tmp_path, []), maxNodes=2, seeds=1, initialDrafts=1)), resume=True)
    assert again.final == journal.final
    assert len([r for r in engine.runs() if "--final" in r.command]) == 1


def test_reflect_evidence_reaches_the_next_ideas_prompt(tmp_path):
    ws = workspace(tmp_path)
    engine = engine_for(tmp_path, ws, [*draft("SCORE = 0.5", "SCORE = 0.6", "Raise to 0.6"),
                                       {**reflect(REFLECTION), "expect": ["n001 (draft of baseline)", "score=0.6"]}],
                        hypotheses=1, maxNodes=1, seeds=1, reflectEvery=1, initialDrafts=1)
    journal = search(engine)
    assert engine.llm.provider.remaining() == {}
    assert [(e.after_nodes, e.text) for e in journal.evidence] == [(1, REFLECTION)]
    assert REFLECTION in experiment_context(ws)
    # the ideas phase, asked again, sees it in its prompt (the scripted reply expects it)
    from mlr_copilot.autonomous.tasks import paper_from_task
    from mlr_copilot.tasks import load_task

    draft_idea = {"title": "t", "problem": "p", "method": "m", "rationale": "r", "related": [],
                  "plan": {"dataset": "d", "model": "m", "baseline": "b", "metric": "score", "direction": "maximize",
                           "steps": ["s"], "expected_improvement": "+5%"}}
    replies = [{"call": "ideas.analyse", "response": {"task": "t", "gaps": ["g"], "keywords": ["k"]}},
               {"call": "ideas.generate", "response": {"hypotheses": [draft_idea]}, "expect": [REFLECTION]},
               {"call": "ideas.assess", "response": {"assessments": [
                   {"index": 1, "closest_work": "none", "novelty_note": "n", "novelty": 5, "feasibility": 5,
                    "expected_gain": 5, "reasons": "r"}]}}]
    ideas = Engine.load(ws, {**settings(write_script(tmp_path, replies)), "ideas": {"online": False, "hypotheses": 1}})
    asyncio.run(ideas.propose_hypotheses(paper_from_task(load_task(ws)), Work()))
    assert ideas.llm.provider.remaining() == {}
