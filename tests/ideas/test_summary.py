"""The hypotheses as the read-only commands read them (ideas/summary.py, without pydantic) are
the store's own: the same fields of the same types and defaults, the same values and order,
and a file the summaries cannot read is left to the store, which says what is wrong with it."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from mlr_copilot.engine import Engine
from mlr_copilot.ideas.model import ExperimentPlan, Hypothesis, IdeasRun
from mlr_copilot.ideas.store import IdeaStore
from mlr_copilot.ideas.summary import HypothesisSummary, PlanSummary, read_summaries
from mlr_copilot.state import StateDir
from tests.lightshape import assert_fields_are_the_models_own


@pytest.mark.parametrize("light, model", [(HypothesisSummary, Hypothesis), (PlanSummary, ExperimentPlan)])
def test_each_summary_field_is_the_models_own(light, model):
    assert_fields_are_the_models_own(light, model, loose=("plan",))  # plan: the nested summary


def proposal(slug: str, ranks: list[int], first: int) -> IdeasRun:
    plan = ExperimentPlan(dataset="d", model="m", baseline="b", metric="f1", direction="minimize",
                          steps=["s"], expected_improvement="e", command="python run.py")
    hypotheses = [Hypothesis(id=f"h{first + i}", paper=slug, rank=rank, title=f"Ünïcode title {rank} of {slug}",
                             problem="p", method="m", rationale="r", plan=plan, scores={"novelty": 2.5, "feasibility": rank})
                  for i, rank in enumerate(ranks)]
    return IdeasRun(paper_path="p.pdf", paper_slug=slug, paper_title="t", hypotheses=hypotheses)


def test_the_summaries_are_the_stores_hypotheses(tmp_path):
    store = IdeaStore(StateDir(tmp_path))
    store.save(proposal("b-paper", [2, 1], 1))
    store.save(proposal("a-paper", [1, 3, 2], 3))
    store.decide("h4", "accepted")
    full, light = store.hypotheses(), read_summaries(StateDir(tmp_path))
    assert [h.id for h in light] == [h.id for h in full]
    for h, s in zip(full, light, strict=True):
        assert (s.title, s.rank, s.status, s.scores, s.score, s.branch) == (h.title, h.rank, h.status, h.scores, h.score, h.branch)
        assert (s.plan.metric, s.plan.direction, s.plan.command) == (h.plan.metric, h.plan.direction, h.plan.command)
    assert Engine(tmp_path, None).hypothesis_summaries() == light


def test_a_file_the_summaries_refuse_is_the_stores_to_refuse(tmp_path):
    IdeaStore(StateDir(tmp_path)).save(proposal("paper", [1], 1))
    path = tmp_path / ".mlr" / "ideas" / "paper" / "run.json"
    data = json.loads(path.read_text())
    data["hypotheses"][0]["rank"] = "1"  # pydantic's lax mode reads it: so does the fallback
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError):
        read_summaries(StateDir(tmp_path))
    [summary] = Engine(tmp_path, None).hypothesis_summaries()
    assert summary.rank == 1
    data["hypotheses"][0]["rank"] = "first"
    path.write_text(json.dumps(data))
    with pytest.raises(ValidationError):
        Engine(tmp_path, None).hypothesis_summaries()
