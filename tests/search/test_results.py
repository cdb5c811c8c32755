"""Honest results and the loop back to the ideas: the task's final evaluation runs once, at the
end, on the winning node only (a resume does not run it again), and the evidence of a reflect
step reaches the prompt of the ideas phase, whose new hypothesis the search drafts next."""

from __future__ import annotations

import pytest

from mlr_copilot.engine import Engine
from mlr_copilot.ideas.agent import experiment_context
from mlr_copilot.search.report import render

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


def test_reflect_evidence_reaches_the_ideas_prompt_and_its_new_hypothesis_is_drafted(tmp_path):
    ws = workspace(tmp_path)
    idea = {"title": "Raise it further", "problem": "p", "method": "m", "rationale": "r", "related": [],
            "plan": {"dataset": "d", "model": "m", "baseline": "b", "metric": "score", "direction": "maximize",
                     "steps": ["s"], "expected_improvement": "+5%"}}
    assessment = {"index": 1, "closest_work": "none", "novelty_note": "n", "novelty": 5, "feasibility": 5,
                  "expected_gain": 5, "reasons": "r"}
    records = [*draft("SCORE = 0.5", "SCORE = 0.6", "Raise to 0.6"),
               {**reflect(REFLECTION), "expect": ["n001 (draft of baseline)", "score=0.6"]},
               {"call": "ideas.analyse", "response": {"task": "t", "gaps": ["g"], "keywords": ["k"]}},
               # the ideas phase sees what was measured in its prompt
               {"call": "ideas.generate", "response": {"hypotheses": [idea]}, "expect": [REFLECTION]},
               {"call": "ideas.assess", "response": {"assessments": [assessment]}},
               *draft("SCORE = 0.5", "SCORE = 0.65", "Raise to 0.65")]
    engine = engine_for(tmp_path, ws, records, hypotheses=1, maxNodes=2, seeds=1, reflectEvery=1, initialDrafts=1)
    engine.configure(engine.settings.model_copy(update={"ideas": engine.settings.ideas.model_copy(update={"hypotheses": 1})}))
    journal = search(engine)
    assert engine.llm.provider.remaining() == {}, journal.message
    assert [(e.after_nodes, e.text, e.proposed) for e in journal.evidence] == [(1, REFLECTION, True)]
    assert REFLECTION in experiment_context(ws)
    new = journal.hypotheses[1]
    assert journal.hypotheses[0] == "h1" and journal.extra_drafts == 1
    second = journal.nodes[1]
    assert (second.operator, second.hypothesis, second.status) == ("draft", new, "passed")
    assert second.value == pytest.approx(0.65) and "Raise it further" in second.summary
