from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from mlr_copilot.retrieval.backoff import parse_retry_after
from mlr_copilot.retrieval.online import search_online

ARXIV_FEED = """<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <link href="http://arxiv.org/api/query?search_query%3Dall%3Aattention&amp;id_list%3D&amp;start%3D0&amp;max_results%3D2" rel="self" type="application/atom+xml"/>
  <title type="html">ArXiv Query: search_query=all:attention&amp;id_list=&amp;start=0&amp;max_results=2</title>
  <id>http://arxiv.org/api/cHxbiOdZaP56ODnBPIenZhzg5f8</id>
  <updated>2024-05-01T00:00:00-04:00</updated>
  <opensearch:totalResults xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">182034</opensearch:totalResults>
  <opensearch:startIndex xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">0</opensearch:startIndex>
  <opensearch:itemsPerPage xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">2</opensearch:itemsPerPage>
  <entry>
    <id>http://arxiv.org/abs/1706.03762v7</id>
    <updated>2023-08-02T00:41:18Z</updated>
    <published>2017-06-12T17:57:34Z</published>
    <title>Attention Is All You
  Need</title>
    <summary>  The dominant sequence transduction models are based on complex recurrent or
convolutional neural networks in an encoder-decoder configuration.
</summary>
    <author><name>Ashish Vaswani</name></author>
    <author><name>Noam Shazeer</name></author>
    <arxiv:comment xmlns:arxiv="http://arxiv.org/schemas/atom">15 pages, 5 figures</arxiv:comment>
    <link href="http://arxiv.org/abs/1706.03762v7" rel="alternate" type="text/html"/>
    <link title="pdf" href="http://arxiv.org/pdf/1706.03762v7" rel="related" type="application/pdf"/>
    <arxiv:primary_category xmlns:arxiv="http://arxiv.org/schemas/atom" term="cs.CL" scheme="http://arxiv.org/schemas/atom"/>
    <category term="cs.CL" scheme="http://arxiv.org/schemas/atom"/>
  </entry>
  <entry>
    <id>http://arxiv.org/abs/2004.05150v2</id>
    <updated>2020-12-02T18:38:10Z</updated>
    <published>2020-04-10T17:54:09Z</published>
    <title>Longformer: The Long-Document Transformer</title>
    <summary>Transformer-based models are unable to process long sequences due to their
self-attention operation, which scales quadratically with the sequence length.</summary>
    <author><name>Iz Beltagy</name></author>
    <link href="http://arxiv.org/abs/2004.05150v2" rel="alternate" type="text/html"/>
  </entry>
</feed>
"""

S2_JSON = {
    "total": 5123,
    "offset": 0,
    "next": 2,
    "data": [
        {
            "paperId": "204e3073870fae3d05bcbc2f6a8e263d9b72e776",
            "externalIds": {"ArXiv": "1706.03762", "DBLP": "conf/nips/VaswaniSPUJGKP17"},
            "url": "https://www.semanticscholar.org/paper/204e3073870fae3d05bcbc2f6a8e263d9b72e776",
            "title": "Attention is All you Need",
            "abstract": "The dominant sequence transduction models are based on complex recurrent networks.",
            "year": 2017,
            "authors": [{"authorId": "40348417", "name": "Ashish Vaswani"}, {"authorId": "1846258", "name": "Noam M. Shazeer"}],
        },
        {
            "paperId": "925ad2897d1b5decbea320d07e99afa9110e09b2",
            "externalIds": {"ArXiv": "2004.05150"},
            "url": "https://www.semanticscholar.org/paper/925ad2897d1b5decbea320d07e99afa9110e09b2",
            "title": "Longformer: The Long-Document Transformer",
            "abstract": None,
            "year": 2020,
            "authors": [{"authorId": "46181066", "name": "Iz Beltagy"}],
        },
    ],
}

OPENALEX_JSON = {
    "meta": {"count": 2, "db_response_time_ms": 41, "page": 1, "per_page": 2},
    "results": [
        {
            "id": "https://openalex.org/W2963403868",
            "doi": "https://doi.org/10.48550/arxiv.1706.03762",
            "display_name": "Attention Is All You Need",
            "publication_year": 2017,
            "authorships": [
                {"author_position": "first", "author": {"id": "https://openalex.org/A5065678346", "display_name": "Ashish Vaswani"}},
            ],
            "abstract_inverted_index": {"The": [0], "dominant": [1], "sequence": [2], "transduction": [3], "models": [4]},
        },
        {
            "id": "https://openalex.org/W3015468748",
            "doi": None,
            "display_name": "Reformer: The Efficient Transformer",
            "publication_year": 2020,
            "authorships": [],
            "abstract_inverted_index": None,
        },
    ],
}


class Service:
    """Canned answers per host; counts every request that reaches the transport."""

    def __init__(self, answers: dict[str, list[httpx.Response]] | None = None):
        self.answers = answers or {}
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        queue = self.answers[request.url.host]
        return queue.pop(0) if len(queue) > 1 else queue[0]

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self))


def healthy() -> Service:
    return Service(
        {
            "export.arxiv.org": [httpx.Response(200, text=ARXIV_FEED, headers={"Content-Type": "application/atom+xml"})],
            "api.semanticscholar.org": [httpx.Response(200, json=S2_JSON)],
            "api.openalex.org": [httpx.Response(200, json=OPENALEX_JSON)],
        }
    )


def test_parses_all_three_sources(tmp_path: Path):
    service = healthy()
    result = search_online("attention for long sequences", 2, cache_dir=tmp_path, client=service.client())
    assert result.notes == []
    by_id = {w.id: w for w in result.works}
    assert set(by_id) == {
        "arxiv:1706.03762", "arxiv:2004.05150",
        "s2:204e3073870fae3d05bcbc2f6a8e263d9b72e776", "s2:925ad2897d1b5decbea320d07e99afa9110e09b2",
        "openalex:W2963403868", "openalex:W3015468748",
    }
    paper = by_id["arxiv:1706.03762"]
    assert paper.title == "Attention Is All You Need"
    assert paper.abstract.startswith("The dominant sequence transduction models are based on complex recurrent or convolutional")
    assert paper.authors == ["Ashish Vaswani", "Noam Shazeer"]
    assert paper.year == 2017 and paper.url == "http://arxiv.org/abs/1706.03762v7" and paper.source == "arxiv"
    assert by_id["s2:925ad2897d1b5decbea320d07e99afa9110e09b2"].abstract == ""
    assert by_id["s2:204e3073870fae3d05bcbc2f6a8e263d9b72e776"].year == 2017
    assert by_id["openalex:W2963403868"].abstract == "The dominant sequence transduction models"
    assert by_id["openalex:W2963403868"].url == "https://doi.org/10.48550/arxiv.1706.03762"
    assert by_id["openalex:W3015468748"].url == "https://openalex.org/W3015468748"
    assert by_id["arxiv:1706.03762"].score > by_id["arxiv:2004.05150"].score

    arxiv_request = next(r for r in service.requests if r.url.host == "export.arxiv.org")
    assert arxiv_request.url.params["max_results"] == "2"
    assert "all:attention" in arxiv_request.url.params["search_query"]
    assert "all:for" not in arxiv_request.url.params["search_query"]


def test_second_call_is_answered_from_the_cache(tmp_path: Path):
    service = healthy()
    first = search_online("attention", 2, cache_dir=tmp_path, client=service.client())
    assert len(service.requests) == 3

    offline = Service()  # any request would fail with KeyError
    second = search_online("  Attention ", 2, cache_dir=tmp_path, client=offline.client())
    assert offline.requests == []
    assert [w.model_dump() for w in second.works] == [w.model_dump() for w in first.works]


def test_expired_cache_is_refreshed(tmp_path: Path):
    search_online("attention", 2, cache_dir=tmp_path, client=healthy().client(), sources=["openalex"])
    service = healthy()
    search_online("attention", 2, cache_dir=tmp_path, client=service.client(), sources=["openalex"], ttl=0)
    assert len(service.requests) == 1


def test_backoff_on_429_respects_retry_after_then_succeeds(tmp_path: Path):
    service = Service(
        {
            "api.semanticscholar.org": [
                httpx.Response(429, headers={"Retry-After": "3"}, json={"message": "Too Many Requests"}),
                httpx.Response(503, text="unavailable"),
                httpx.Response(200, json=S2_JSON),
            ]
        }
    )
    waits: list[float] = []
    result = search_online("attention", 2, cache_dir=tmp_path, client=service.client(),
                           sources=["semantic_scholar"], sleep=waits.append)
    assert len(service.requests) == 3
    assert waits[0] == 3.0
    assert 2.0 <= waits[1] <= 2.5  # exponential: 1 s * 2**1, plus jitter up to a quarter
    assert result.notes == [] and len(result.works) == 2


def test_persistent_rate_limit_becomes_a_note(tmp_path: Path):
    service = Service({"api.openalex.org": [httpx.Response(429)]})
    waits: list[float] = []
    result = search_online("attention", 2, cache_dir=tmp_path, client=service.client(),
                           sources=["openalex"], sleep=waits.append, attempts=3)
    assert len(service.requests) == 3 and len(waits) == 2
    assert result.works == []
    assert result.notes == ["OpenAlex kept refusing the search (HTTP 429, rate-limited or down)"]


def test_too_long_retry_after_gives_up_at_once(tmp_path: Path):
    service = Service({"api.openalex.org": [httpx.Response(429, headers={"Retry-After": "3600"})]})
    waits: list[float] = []
    result = search_online("attention", 2, cache_dir=tmp_path, client=service.client(),
                           sources=["openalex"], sleep=waits.append)
    assert len(service.requests) == 1 and waits == []
    assert "rate-limited" in result.notes[0]


def test_offline_gives_notes_not_exceptions(tmp_path: Path):
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno -3] Temporary failure in name resolution", request=request)

    client = httpx.Client(transport=httpx.MockTransport(refuse))
    result = search_online("attention", 2, cache_dir=tmp_path, client=client)
    assert result.works == []
    assert result.notes == [
        "arXiv was unreachable (offline)",
        "Semantic Scholar was unreachable (offline)",
        "OpenAlex was unreachable (offline)",
    ]


def test_offline_falls_back_to_an_expired_cached_answer(tmp_path: Path):
    search_online("attention", 2, cache_dir=tmp_path, client=healthy().client(), sources=["arxiv"])

    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    result = search_online("attention", 2, cache_dir=tmp_path, sources=["arxiv"], ttl=0,
                           client=httpx.Client(transport=httpx.MockTransport(timeout)))
    assert [w.id for w in result.works] == ["arxiv:1706.03762", "arxiv:2004.05150"]
    assert result.notes[0].startswith("arXiv was unreachable (timed out); used its answer cached on ")


def test_bad_answers_become_notes(tmp_path: Path):
    service = Service(
        {
            "export.arxiv.org": [httpx.Response(200, text="<html>maintenance</html")],
            "api.semanticscholar.org": [httpx.Response(400, json={"error": "Unrecognized or unsupported fields"})],
            "api.openalex.org": [httpx.Response(200, text="not json")],
        }
    )
    result = search_online("attention", 2, cache_dir=tmp_path, client=service.client())
    assert result.works == []
    assert result.notes[0].startswith("arXiv answer is not valid Atom XML")
    assert result.notes[1] == "Semantic Scholar answered HTTP 400"
    assert result.notes[2] == "OpenAlex answer is not JSON"
    assert not any(tmp_path.rglob("*.json")), "failures must not be cached"


def test_retry_after_as_http_date():
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == pytest.approx(10.0)
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-5") == 0.0
