"""Scoring and ranking of hypotheses: a hypothesis's score is the sum of its novelty,
feasibility and expected gain; the ranks follow the scores, decided hypotheses included."""

from __future__ import annotations

from mlr_copilot.ideas.agent import _hypothesis, _ranked
from mlr_copilot.ideas.model import Assessment, Citation, Draft, ExperimentPlan, IdeasRun
from mlr_copilot.retrieval.model import RelatedWork

PLAN = ExperimentPlan(dataset="d", model="m", baseline="b", metric="f1", direction="maximize", steps=["s"],
                      expected_improvement="+1%")
RUN = IdeasRun(paper_path="p.pdf", paper_slug="p", paper_title="P",
               related=[RelatedWork(id="ref:1", title="Retrieved", source="references")])


def draft(title: str, *cited: str) -> Draft:
    return Draft(title=title, problem="p", method="m", rationale="r", plan=PLAN,
                 related=[Citation(work_id=c, title="as the model wrote it", source="arxiv") for c in cited])


def assessment(novelty: float, feasibility: float, gain: float) -> Assessment:
    return Assessment(index=1, closest_work="none", novelty_note="n", novelty=novelty, feasibility=feasibility,
                      expected_gain=gain, reasons="r")


def test_the_score_is_the_sum_of_the_three_judgements():
    hypothesis = _hypothesis(draft("one"), "h1", RUN, assessment(7, 5, 2.5))
    assert hypothesis.scores == {"novelty": 7, "feasibility": 5, "expected_gain": 2.5}
    assert hypothesis.score == 14.5


def test_ranks_follow_the_scores_best_first_and_equal_scores_keep_their_order():
    low, high, tie = (_hypothesis(draft(t), f"h{n}", RUN, assessment(*s))
                      for n, (t, s) in enumerate([("low", (1, 1, 1)), ("high", (9, 9, 9)), ("tie", (1, 1, 1))], 1))
    ranked = _ranked([low, high, tie])
    assert [(h.title, h.rank) for h in ranked] == [("high", 1), ("low", 2), ("tie", 3)]


def test_a_decided_hypothesis_is_ranked_again_among_new_ones():
    kept = _hypothesis(draft("kept"), "h1", RUN, assessment(5, 5, 5))
    kept.status = "accepted"
    new = _hypothesis(draft("new"), "h2", RUN, assessment(6, 6, 6))
    assert [(h.id, h.rank, h.status) for h in _ranked([kept, new])] == [("h2", 1, "proposed"), ("h1", 2, "accepted")]


def test_a_citation_takes_the_retrieved_record_and_an_unknown_one_is_marked():
    hypothesis = _hypothesis(draft("one", "[ref:1]", "arxiv:0000.0000"), "h1", RUN, assessment(1, 1, 1))
    assert [(c.work_id, c.title, c.retrieved) for c in hypothesis.related] == [
        ("ref:1", "Retrieved", True), ("arxiv:0000.0000", "as the model wrote it", False)]
