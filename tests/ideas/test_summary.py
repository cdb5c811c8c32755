"""The hypotheses as the read-only commands read them (ideas/summary.py, without pydantic) are
the store's own: the same fields of the same types and defaults, the same values and order,
and a file the summaries cannot read is left to the store, which says what is wrong with it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from pydantic import ValidationError

from mlr_copilot.engine import Engine
from mlr_copilot.errors import MlrError
from mlr_copilot.ideas.model import CitedWork, Decision, ExperimentPlan, Hypothesis, IdeasRun
from mlr_copilot.ideas.store import IdeaStore
from mlr_copilot.ideas.summary import (
    CITED_WORK_FIELDS,
    CITED_WORK_TEXT,
    DECISION_FIELDS,
    DECISION_TEXT,
    HYPOTHESIS_FIELDS,
    HYPOTHESIS_TEXT,
    PLAN_FIELDS,
    PLAN_TEXT,
    RUN_FIELDS,
    RUN_TEXT,
    HypothesisSummary,
    PlanSummary,
    _time_as_dumped,
    read_dumps,
    read_summaries,
)
from mlr_copilot.retrieval.model import RelatedWork
from mlr_copilot.state import StateDir
from tests.cli.test_cli import cli
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
    with pytest.raises(MlrError, match=r"hypotheses\.0\.rank: input should be a valid integer"):
        Engine(tmp_path, None).hypothesis_summaries()


def fields_of_type(model, kind) -> tuple[str, ...]:
    return tuple(name for name, field in model.model_fields.items() if field.annotation is kind)


@pytest.mark.parametrize("names, text, model", [
    (HYPOTHESIS_FIELDS, HYPOTHESIS_TEXT, Hypothesis), (PLAN_FIELDS, PLAN_TEXT, ExperimentPlan),
    (CITED_WORK_FIELDS, CITED_WORK_TEXT, CitedWork), (DECISION_FIELDS, DECISION_TEXT, Decision),
    (RUN_FIELDS, RUN_TEXT, IdeasRun)])
def test_the_field_names_are_the_models_in_their_order(names, text, model):
    assert names == tuple(model.model_fields)
    assert text == fields_of_type(model, str)


def lived_in_store(root) -> IdeaStore:
    """Two papers, unicode titles, cited works, decisions with notes, scores of every float form."""
    store = IdeaStore(StateDir(root))
    b_paper = proposal("b-paper", [2, 1], 1)
    b_paper.related = [RelatedWork(id="w1", title="Prior wörk", source="arxiv", authors=["Ann"], year=2020, score=0.5)]
    b_paper.hypotheses[0].related = [CitedWork(work_id="w1", title="Prior wörk", source="arxiv", how="its loss", retrieved=True),
                                     CitedWork(work_id="x", title="Unfound 論文", source="references")]
    b_paper.hypotheses[0].scores = {"novelty": math.nan, "feasibility": math.inf, "expected_gain": -0.0, "odd": 1e-300}
    b_paper.hypotheses[1].feedback = ["sharper 🙂", "line\nbreak"]
    b_paper.hypotheses[1].plan.command = None
    store.save(b_paper)
    store.save(proposal("a-paper", [1, 3, 2], 3))
    store.decide("h4", "accepted", "looks good — ünïcode")
    store.decide("h2", "rejected")
    store.decide("h2", "accepted", "changed my mind")
    return store


def pydantic_dumps(store: IdeaStore) -> str:
    return json.dumps([h.model_dump(mode="json") for h in store.hypotheses()], indent=2)


def test_the_stored_hypotheses_are_printed_as_the_models_dump_them(tmp_path):
    store = lived_in_store(tmp_path)
    light = read_dumps(StateDir(tmp_path))
    assert light is not None  # read as stored: no models
    assert [h["id"] for h in light] == ["h3", "h5", "h4", "h2", "h1"]
    assert json.dumps(light, indent=2) == pydantic_dumps(store)
    assert "NaN" in pydantic_dumps(store) and "Infinity" in pydantic_dumps(store)
    result = cli("hypotheses", "--json", "-w", str(tmp_path))
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout == pydantic_dumps(store) + "\n"


def stored(root, slug: str = "b-paper") -> tuple[Path, dict]:
    path = root / ".mlr" / "ideas" / slug / "run.json"
    return path, json.loads(path.read_text(encoding="utf-8"))


def forget(data: dict, *keys: str) -> None:
    where = data
    for key in keys[:-1]:
        where = where[int(key)] if isinstance(where, list) else where[key]
    del where[keys[-1]]


@pytest.mark.parametrize("change", [
    lambda d: forget(d, "hypotheses", "0", "feedback"),  # written before the field was
    lambda d: forget(d, "hypotheses", "0", "related", "1", "retrieved"),
    lambda d: forget(d, "hypotheses", "0", "plan", "command"),
    lambda d: d["hypotheses"][1].update(scores={"novelty": 3}),  # an int: dumped as 3.0
    lambda d: d["hypotheses"][0]["related"][0].update(retrieved=1),  # dumped as true
    lambda d: d["hypotheses"][0]["history"][0].update(at="2026-01-02T03:04:05.500+00:00"),  # dumped as ...500000Z
    lambda d: d["hypotheses"][0]["history"][0].update(at="2026-01-02 03:04:05Z"),
    lambda d: d["hypotheses"][0].update(extra="ignored by the model"),
    lambda d: d["hypotheses"][0].update(title=d["hypotheses"][0].pop("title")),  # the keys in another order
    lambda d: d["hypotheses"][0]["plan"].update(direction=d["hypotheses"][0]["plan"].pop("direction")),
], ids=["no feedback", "no retrieved", "no command", "int score", "retrieved 1", "+00:00", "space", "extra key",
        "key order", "plan key order"])
def test_a_hypothesis_the_model_would_dump_otherwise_is_read_by_the_store(tmp_path, change):
    store = lived_in_store(tmp_path)
    path, data = stored(tmp_path)
    data["hypotheses"][0]["history"] = [{"status": "accepted", "at": "2026-01-02T03:04:05.500000Z", "note": ""}]
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")
    assert read_dumps(StateDir(tmp_path)) is None
    result = cli("hypotheses", "--json", "-w", str(tmp_path))
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout == pydantic_dumps(store) + "\n"  # the defaults filled, the values as the model has them


def test_an_old_file_is_printed_with_the_defaults_filled(tmp_path):
    lived_in_store(tmp_path)
    path, data = stored(tmp_path)
    for hypothesis in data["hypotheses"]:
        del hypothesis["feedback"], hypothesis["history"]
    path.write_text(json.dumps(data), encoding="utf-8")
    printed = json.loads(cli("hypotheses", "--json", "-w", str(tmp_path)).stdout)
    by_id = {h["id"]: h for h in printed}
    assert by_id["h1"]["feedback"] == [] and by_id["h1"]["history"] == []
    assert list(by_id["h1"]) == list(HYPOTHESIS_FIELDS)
    assert len(by_id["h4"]["history"]) == 1  # the other paper's file, read as stored


@pytest.mark.parametrize("content, problem, forms", [
    ("{not json", "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)", [["--json"], []]),
    (json.dumps({"paper_path": "p", "paper_slug": "p", "paper_title": "t", "hypotheses": [{"id": "h1"}]}),
     "hypotheses.0.title: field required", [["--json"], []]),
    # the table's summaries take the hypotheses alone; what it prints is the model's in full
    (json.dumps({"paper_path": "p", "paper_slug": "p", "hypotheses": []}), "paper_title: field required", [["--json"]]),
])
def test_a_proposal_that_cannot_be_read_is_one_line(tmp_path, content, problem, forms):
    lived_in_store(tmp_path)
    path, _ = stored(tmp_path)
    path.write_text(content, encoding="utf-8")
    for form in forms:
        result = cli("hypotheses", *form, "-w", str(tmp_path))
        assert (result.returncode, result.stdout) == (2, "")
        assert result.stderr == f"mlr-copilot hypotheses: the proposal {path} cannot be read ({problem})\n"


@pytest.mark.parametrize("at", ["2026-01-02T03:04:05Z", "2026-01-02T03:04:05.000001Z", "2026-01-02T03:04:05.500000Z",
                                "2026-01-02T03:04:05.5Z", "2026-01-02T03:04:05.000000Z", "2026-01-02T03:04:05+00:00",
                                "2026-01-02T03:04:05+01:00", "2026-01-02T03:04:05", "2026-01-02 03:04:05Z",
                                "20260102T030405Z", "2026-13-02T03:04:05Z", "0001-01-01T00:00:00Z", "", 5])
def test_a_time_is_taken_as_stored_only_when_the_model_dumps_it_as_it_is(at):
    try:
        dumped = Decision.model_validate({"status": "accepted", "at": at}).model_dump(mode="json")["at"]
    except ValidationError:
        dumped = None
    # taken as stored exactly when it is a UTC time the model dumps as it is (the only ones it writes)
    assert _time_as_dumped(at) == (dumped == at and at.endswith("Z"))
