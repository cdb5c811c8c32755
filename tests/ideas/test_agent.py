"""The IdeaAgent against recorded replies: a short list of drafts is reported, every hypothesis
gets its assessment or the call fails clearly, citations name only what was retrieved, and
retrieval stops when the work is cancelled."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mlr_copilot.engine import Engine
from mlr_copilot.ideas.agent import IdeaAgent
from mlr_copilot.ideas.model import Analysis
from mlr_copilot.llm.base import MalformedReplyError
from mlr_copilot.paper.model import Paper, Section
from mlr_copilot.retrieval.errors import RetrievalCancelled
from mlr_copilot.work import Work
from tests.pdfs import make_paper_pdf

ANALYSIS = {"task": "Classify short texts cheaply.", "gaps": ["word order is lost"], "keywords": ["text classification", "bigrams"]}
REFERENCES = [
    "[1] A. Joulin, E. Grave. Bag of tricks for efficient text classification. EACL, 2017.",
    "[2] S. Wang, C. Manning. Baselines and bigrams: simple, good sentiment and topic classification. ACL, 2012.",
]


@pytest.fixture(autouse=True)
def no_environment_settings(monkeypatch):
    for name in [n for n in os.environ if n.startswith("MLR_")]:
        monkeypatch.delenv(name)


def draft(title: str, related: list[dict] | None = None) -> dict:
    return {"title": title, "problem": "p", "method": "m", "rationale": "r",
            "plan": {"dataset": "d", "model": "m", "baseline": "b", "metric": "accuracy", "direction": "maximize",
                     "steps": ["s"], "expected_improvement": "+5%"},
            "related": related or []}


def assessment(index: int, novelty: float = 5) -> dict:
    return {"index": index, "closest_work": "none", "novelty_note": "n", "novelty": novelty, "feasibility": 5,
            "expected_gain": 5, "reasons": "r"}


def paper(tmp_path: Path) -> Paper:
    return Paper(title="Sparse baselines for text classification", authors=["A. Author"], abstract="Bigrams help.",
                 sections=[Section("1 Introduction", "Linear models over n-grams.")], references=REFERENCES,
                 pages=1, path=str(tmp_path / "paper.pdf"), sha256="0" * 64)


def engine(tmp_path: Path, records: list[dict], hypotheses: int) -> Engine:
    script = tmp_path / "script.jsonl"
    script.write_text("".join(json.dumps(r) + "\n" for r in records))
    workspace = tmp_path / "ws"
    workspace.mkdir()
    return Engine.load(workspace, {"llm": {"provider": "scripted", "script": str(script)},
                                   "ideas": {"hypotheses": hypotheses, "online": False}})


def replies(drafts: list[dict], *assessments: list[dict]) -> list[dict]:
    return ([{"call": "ideas.analyse", "response": ANALYSIS}, {"call": "ideas.generate", "response": {"hypotheses": drafts}}]
            + [{"call": "ideas.assess", "response": {"assessments": a}} for a in assessments])


async def test_fewer_drafts_than_asked_are_kept_and_the_shortfall_is_noted(tmp_path):
    eng = engine(tmp_path, replies([draft("one"), draft("two")], [assessment(1), assessment(2)]), hypotheses=3)
    run = await IdeaAgent(eng.context()).propose(paper(tmp_path), Work())
    assert [h.title for h in sorted(run.hypotheses, key=lambda h: h.rank)] == ["one", "two"]
    note = "asked the model for 3 hypotheses; it returned 2"
    assert note in run.notes
    assert f"- {note}" in Path(run.document).read_text()
    assert eng.llm.provider.remaining() == {}


async def test_an_assessment_missing_an_index_is_asked_for_again_with_the_problem(tmp_path):
    records = replies([draft("one"), draft("two")], [assessment(1)], [assessment(2, novelty=9), assessment(1, novelty=1)])
    records[-1]["expect"] = ["missing [2]"]  # the retry shows the model what was wrong
    eng = engine(tmp_path, records, hypotheses=2)
    run = await IdeaAgent(eng.context()).propose(paper(tmp_path), Work())
    scores = {h.title: h.scores["novelty"] for h in run.hypotheses}
    assert scores == {"one": 1, "two": 9}
    assert eng.llm.provider.remaining() == {}


async def test_assessments_still_incomplete_after_the_retry_are_a_clear_error(tmp_path):
    eng = engine(tmp_path, replies([draft("one"), draft("two")], [assessment(1)], [assessment(1), assessment(3)]), hypotheses=2)
    agent = IdeaAgent(eng.context())
    with pytest.raises(MalformedReplyError) as info:
        await agent.propose(paper(tmp_path), Work())
    assert "ideas.assess" in str(info.value) and "got indexes [1, 3], missing [2]" in str(info.value)
    assert all(not run.hypotheses for run in agent.store.runs())


async def test_citations_take_the_retrieved_record_and_unknown_ones_are_marked(tmp_path):
    cited = [
        {"work_id": "ref:1", "title": "A title the model misremembered", "source": "arxiv", "how": "n-grams"},
        {"work_id": "[ref:2]", "title": "Bigrams", "source": "references"},
        {"work_id": "arxiv:9999.0001", "title": "A paper nobody retrieved", "source": "arxiv", "how": "invented"},
    ]
    eng = engine(tmp_path, replies([draft("one", cited)], [assessment(1)]), hypotheses=1)
    run = await IdeaAgent(eng.context()).propose(paper(tmp_path), Work())
    related = [(c.work_id, c.title, c.source, c.retrieved) for c in run.hypotheses[0].related]
    assert related == [
        ("ref:1", "Bag of tricks for efficient text classification", "references", True),
        ("ref:2", "Baselines and bigrams: simple, good sentiment and topic classification", "references", True),
        ("arxiv:9999.0001", "A paper nobody retrieved", "arxiv", False),
    ]
    text = Path(run.document).read_text()
    assert "- Bag of tricks for efficient text classification [references: ref:1]: n-grams" in text
    assert "- A paper nobody retrieved [arxiv: arxiv:9999.0001] (not among the retrieved works): invented" in text
    assert "misremembered" not in text
    assert text.count("(not among the retrieved works)") == 1


def retrieval_engine(tmp_path: Path, **ideas) -> Engine:
    eng = engine(tmp_path, [], hypotheses=1)
    (eng.workspace / "library").mkdir()
    make_paper_pdf(eng.workspace / "library" / "one.pdf")
    eng.configure(eng.settings.model_copy(update={"ideas": eng.settings.ideas.model_copy(update=ideas)}))
    return eng


def related(eng: Engine, tmp_path: Path, work: Work) -> tuple[list[dict], list[str]]:
    works, notes = IdeaAgent(eng.context())._related(paper(tmp_path), Analysis.model_validate(ANALYSIS), work)
    return [w.model_dump(mode="json") for w in works], notes


def test_retrieval_reports_library_progress(tmp_path):
    eng = retrieval_engine(tmp_path, library="library")
    said: list[str] = []
    related(eng, tmp_path, Work(report=lambda message, percentage=None: said.append(message)))
    assert any(message.startswith("Reading one.pdf") for message in said)


def test_cancelled_work_stops_library_indexing(tmp_path):
    eng = retrieval_engine(tmp_path, library="library")
    work = Work()
    work.cancel.set()
    with pytest.raises(RetrievalCancelled):
        related(eng, tmp_path, work)


def test_cancelled_work_asks_no_online_source(tmp_path):
    eng = retrieval_engine(tmp_path, online=True)
    work = Work()
    work.cancel.set()
    works, notes = related(eng, tmp_path, work)
    assert "online search cancelled" in notes
    assert {w["source"] for w in works} == {"references"}


def test_research_gitignore_ignores_itself_and_leaves_a_users_own_file_alone(tmp_path):
    from mlr_copilot.ideas.document import IGNORE_HEADER, IGNORE_TEXT, _ignore_views

    ignore = tmp_path / ".gitignore"
    _ignore_views(ignore)
    assert ignore.read_text() == IGNORE_TEXT and "/.gitignore" in IGNORE_TEXT.splitlines()
    ignore.write_text(f"{IGNORE_HEADER}\n*/hypotheses.md\n")  # what an older version wrote
    _ignore_views(ignore)
    assert ignore.read_text().splitlines() == [IGNORE_HEADER, "*/hypotheses.md", "/.gitignore"]
    ignore.write_text("my-notes/\n")
    _ignore_views(ignore)
    assert ignore.read_text() == "my-notes/\n"
