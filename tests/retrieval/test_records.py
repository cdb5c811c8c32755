"""A paper's own record by its arXiv id or DOI, from recorded answers (no network): cached,
retried when rate-limited, a note when a source fails; and a parse corrected only by the
record of the same work."""

from __future__ import annotations

import asyncio

import httpx

from mlr_copilot.paper.enrich import enrich
from mlr_copilot.paper.identifiers import find_identifiers
from mlr_copilot.paper.model import Paper
from mlr_copilot.retrieval.records import PaperRecord, fetch_record
from tests.retrieval.test_online import Service

# Recorded from api.semanticscholar.org/graph/v1/paper/arXiv:2004.07180 (fields trimmed to
# those asked for, two of the references kept).
S2_SPECTER = {
    "paperId": "d4a8c1d8d4a4e2b0a7e2d6a1c4f3b1e8b0b0a1c2",
    "title": "SPECTER: Document-level Representation Learning using Citation-informed Transformers",
    "year": 2020,
    "authors": [{"authorId": "2527954", "name": "Arman Cohan"}, {"authorId": "46411828", "name": "Sergey Feldman"},
                {"authorId": "46181066", "name": "Iz Beltagy"}, {"authorId": "145612610", "name": "Doug Downey"},
                {"authorId": "1780531", "name": "Daniel S. Weld"}],
    "references": [
        {"paperId": "a1", "title": "SciBERT: A Pretrained Language Model for Scientific Text", "year": 2019,
         "venue": "EMNLP", "authors": [{"authorId": "46181066", "name": "Iz Beltagy"},
                                       {"authorId": "46258841", "name": "Kyle Lo"}]},
        {"paperId": "a2", "title": "Attention is All you Need", "year": 2017, "venue": "NIPS",
         "authors": [{"authorId": "40348417", "name": "Ashish Vaswani"}]},
        {"paperId": None, "title": None, "year": None, "venue": "", "authors": []},
    ],
}
# Recorded from api.openalex.org/works/doi:10.1017/s1041610213001804 (trimmed).
OPENALEX_WORK = {
    "id": "https://openalex.org/W2048271123",
    "doi": "https://doi.org/10.1017/s1041610213001804",
    "display_name": "Stressful life events are not associated with the development of dementia",
    "publication_year": 2013,
    "authorships": [{"author": {"id": "https://openalex.org/A1", "display_name": "Anna Sundström"}},
                    {"author": {"id": "https://openalex.org/A2", "display_name": "Michael Rönnlund"}}],
}


def _paper(title: str, references: list[str], identifiers: dict[str, str]) -> Paper:
    return Paper(title=title, authors=["Arman Cohan Sergey Feldman"], abstract="", sections=[],
                 references=references, pages=13, path="/p.pdf", sha256="0" * 64, identifiers=identifiers)


def test_identifiers_on_page_one():
    page = "arXiv:2004.07180v4 [cs.CL] 20 May 2020\nSPECTER ... doi:10.18653/v1/2020.acl-main.207."
    assert find_identifiers(page) == {"arxiv": "2004.07180", "doi": "10.18653/v1/2020.acl-main.207"}
    assert find_identifiers("arXiv:hep-th/9901001v2 and https://doi.org/10.1145/3544548.3580847)") == {
        "arxiv": "hep-th/9901001", "doi": "10.1145/3544548.3580847"}
    assert find_identifiers("no identifiers here, 10.5 percent") == {}


def test_a_paper_saved_before_identifiers_were_read_loads_with_none():
    saved = _paper("A Title", [], {"doi": "10.1/x"}).to_dict()
    assert Paper.from_dict(saved).identifiers == {"doi": "10.1/x"}
    del saved["identifiers"]
    assert Paper.from_dict(saved).identifiers == {}


def test_semantic_scholar_record_is_fetched_once_then_cached(tmp_path):
    service = Service({"api.semanticscholar.org": [httpx.Response(429, headers={"Retry-After": "1"}),
                                                   httpx.Response(200, json=S2_SPECTER)]})
    waits: list[float] = []
    record, notes = fetch_record({"arxiv": "2004.07180"}, cache_dir=tmp_path, client=service.client(),
                                 sleep=waits.append)
    assert notes == [] and waits == [1.0]
    assert record.title.startswith("SPECTER") and record.authors[0] == "Arman Cohan"
    assert record.references == ["Iz Beltagy, Kyle Lo. 2019. SciBERT: A Pretrained Language Model for Scientific "
                                 "Text. EMNLP.", "Ashish Vaswani. 2017. Attention is All you Need. NIPS."]
    assert str(service.requests[-1].url).startswith("https://api.semanticscholar.org/graph/v1/paper/arXiv:2004.07180")
    again, _ = fetch_record({"arxiv": "2004.07180"}, cache_dir=tmp_path, client=service.client())
    assert again == record and len(service.requests) == 2


def test_a_doi_unknown_to_semantic_scholar_falls_back_to_openalex(tmp_path):
    service = Service({"api.semanticscholar.org": [httpx.Response(404, json={"error": "Paper not found"})],
                       "api.openalex.org": [httpx.Response(200, json=OPENALEX_WORK)]})
    record, notes = fetch_record({"doi": "10.1017/s1041610213001804"}, cache_dir=tmp_path, client=service.client())
    assert record.source == "openalex" and record.authors == ["Anna Sundström", "Michael Rönnlund"]
    assert notes == ["Semantic Scholar has no record of the paper"]
    assert service.requests[-1].url.path == "/works/doi:10.1017/s1041610213001804"


def test_unreachable_sources_are_notes_and_no_identifier_asks_nothing(tmp_path):
    def offline(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("no route", request=request)

    record, notes = fetch_record({"arxiv": "2004.07180"}, cache_dir=tmp_path,
                                 client=httpx.Client(transport=httpx.MockTransport(offline)))
    assert record is None
    assert notes == ["Semantic Scholar was unreachable (offline)", "arXiv was unreachable (offline)"]
    assert fetch_record({}, cache_dir=tmp_path) == (None, [])


def test_the_record_corrects_only_the_same_work():
    record = PaperRecord(title=S2_SPECTER["title"], authors=["Arman Cohan", "Sergey Feldman"],
                         references=["a", "b", "c", "d", "e"], source="semantic_scholar")
    paper = _paper("SPECTER: Document-level Representation Learning using", [], {"arxiv": "2004.07180"})
    fixed, notes = enrich(paper, record)
    assert fixed.title == record.title and fixed.authors == ["Arman Cohan", "Sergey Feldman"]
    assert fixed.references == ["a", "b", "c", "d", "e"]
    assert notes == ["title, authors, references corrected from Semantic Scholar"]
    # A printed list the reader could cut is kept: it is the fuller text.
    kept, _ = enrich(_paper(record.title, ["1", "2", "3"], {}), record)
    assert kept.references == ["1", "2", "3"]
    # An identifier that names another work (a cited paper's DOI) corrects nothing.
    other = PaperRecord(title="Attention is All you Need", authors=["Ashish Vaswani"], source="semantic_scholar")
    same, notes = enrich(paper, other)
    assert same == paper and "the local parse is kept" in notes[0]


def test_engine_asks_for_the_record_only_online(tmp_path, monkeypatch):
    from mlr_copilot.engine import Engine
    from mlr_copilot.work import Work
    from tests.pdfs import SAMPLE_TITLE, make_paper_pdf

    pdf = make_paper_pdf(tmp_path / "p.pdf")
    monkeypatch.setattr("mlr_copilot.paper.pdf.find_identifiers", lambda *texts: {"arxiv": "2004.07180"})
    asked: list[dict] = []
    record = PaperRecord(title=SAMPLE_TITLE, authors=["Alice Martin", "Bruno Chen"], source="arxiv")
    monkeypatch.setattr("mlr_copilot.retrieval.records.fetch_record",
                        lambda identifiers, **options: asked.append(identifiers) or (record, []))

    offline = asyncio.run(Engine.load(tmp_path, {"ideas": {"online": False}}).read_paper(str(pdf), Work()))
    assert offline.identifiers == {"arxiv": "2004.07180"} and asked == []
    online = asyncio.run(Engine.load(tmp_path, {"ideas": {"online": True}}).read_paper("p.pdf", Work()))
    assert asked == [{"arxiv": "2004.07180"}] and online.authors == ["Alice Martin", "Bruno Chen"]
