"""Literature search online: arXiv, Semantic Scholar and OpenAlex.

Every answer is cached on disk; 429 and 5xx answers are retried with backoff (Retry-After
first); a source that cannot be reached becomes a note in the result, never an exception,
and an older cached answer is used when there is one.
"""

from __future__ import annotations

import logging
import os
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

from mlr_copilot import __version__
from mlr_copilot.retrieval.backoff import (
    RETRYABLE_STATUS,
    RetryLater,
    parse_retry_after,
    with_backoff,
)
from mlr_copilot.retrieval.bm25 import text_tokens
from mlr_copilot.retrieval.cache import DEFAULT_TTL, AnswerCache
from mlr_copilot.retrieval.model import RelatedWork, RetrievalResult

log = logging.getLogger(__name__)

SOURCES = ("arxiv", "semantic_scholar", "openalex")
LABELS = {"arxiv": "arXiv", "semantic_scholar": "Semantic Scholar", "openalex": "OpenAlex"}
ARXIV_URL = "https://export.arxiv.org/api/query"
S2_URL = "https://api.semanticscholar.org/graph/v1/paper/search"
OPENALEX_URL = "https://api.openalex.org/works"
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
_ATOM = "{http://www.w3.org/2005/Atom}"
_MAX_QUERY_WORDS = 10


class _Unusable(Exception):
    """A source answered, but not with something usable; the message is the note."""


def _rank_score(rank: int) -> float:
    # These services give no comparable relevance value; their order is what they know.
    return 1.0 / (1.0 + rank)


def _squash(text: str | None) -> str:
    return re.sub(r"\s+", " ", text or "").strip()


def _keywords(query: str) -> list[str]:
    seen: dict[str, None] = {}
    for word in text_tokens(query):
        seen.setdefault(word, None)
    return list(seen)[:_MAX_QUERY_WORDS]


def _arxiv_request(query: str, k: int) -> tuple[str, dict[str, Any]]:
    words = _keywords(query) or [query.strip()]
    # OR with relevance sorting: papers matching more of the words come first, and a long
    # query still finds something (AND of ten words usually finds nothing).
    search = " OR ".join(f"all:{w}" for w in words)
    return ARXIV_URL, {"search_query": search, "start": 0, "max_results": k, "sortBy": "relevance"}


def parse_arxiv(body: str) -> list[RelatedWork]:
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise _Unusable(f"answer is not valid Atom XML ({exc})") from exc
    works: list[RelatedWork] = []
    for entry in root.iter(f"{_ATOM}entry"):
        entry_id = (entry.findtext(f"{_ATOM}id") or "").strip()
        if "/api/errors" in entry_id:
            raise _Unusable(f"rejected the query ({_squash(entry.findtext(f'{_ATOM}summary'))})")
        title = _squash(entry.findtext(f"{_ATOM}title"))
        if not entry_id or not title:
            continue
        arxiv_id = re.sub(r"v\d+$", "", entry_id.rsplit("/abs/", 1)[-1])
        published = entry.findtext(f"{_ATOM}published") or ""
        url = entry_id
        for link in entry.findall(f"{_ATOM}link"):
            href = link.get("rel") == "alternate" and link.get("href")
            if href:
                url = href
        works.append(
            RelatedWork(
                id=f"arxiv:{arxiv_id}",
                title=title,
                abstract=_squash(entry.findtext(f"{_ATOM}summary")),
                authors=[_squash(a.findtext(f"{_ATOM}name")) for a in entry.findall(f"{_ATOM}author")],
                year=int(published[:4]) if published[:4].isdigit() else None,
                url=url,
                source="arxiv",
                score=_rank_score(len(works)),
            )
        )
    return works


def _s2_request(query: str, k: int) -> tuple[str, dict[str, Any]]:
    return S2_URL, {"query": query[:300], "limit": k, "fields": "title,abstract,authors,year,url,externalIds"}


def parse_semantic_scholar(data: Any) -> list[RelatedWork]:
    if not isinstance(data, dict) or not isinstance(data.get("data", []), list):
        raise _Unusable("answer has no list of papers")
    works: list[RelatedWork] = []
    for paper in data.get("data") or []:
        if not isinstance(paper, dict) or not paper.get("paperId") or not paper.get("title"):
            continue
        works.append(
            RelatedWork(
                id=f"s2:{paper['paperId']}",
                title=_squash(paper["title"]),
                abstract=_squash(paper.get("abstract")),
                authors=[a["name"] for a in paper.get("authors") or [] if isinstance(a, dict) and a.get("name")],
                year=paper.get("year") if isinstance(paper.get("year"), int) else None,
                url=paper.get("url"),
                source="semantic_scholar",
                score=_rank_score(len(works)),
            )
        )
    return works


def _openalex_request(query: str, k: int) -> tuple[str, dict[str, Any]]:
    params: dict[str, Any] = {
        "search": query[:300],
        "per-page": k,
        "select": "id,doi,display_name,publication_year,authorships,abstract_inverted_index",
    }
    return OPENALEX_URL, params


def _uninvert(index: Any) -> str:
    """OpenAlex ships abstracts as word -> positions; put the words back in order."""
    if not isinstance(index, dict):
        return ""
    slots: dict[int, str] = {}
    for word, positions in index.items():
        for position in positions if isinstance(positions, list) else []:
            if isinstance(position, int):
                slots[position] = word
    return " ".join(slots[i] for i in sorted(slots))


def parse_openalex(data: Any) -> list[RelatedWork]:
    if not isinstance(data, dict) or not isinstance(data.get("results", []), list):
        raise _Unusable("answer has no list of works")
    works: list[RelatedWork] = []
    for item in data.get("results") or []:
        if not isinstance(item, dict):
            continue
        title = _squash(item.get("display_name") or item.get("title"))
        if not item.get("id") or not title:
            continue
        authors = [
            a["author"]["display_name"]
            for a in item.get("authorships") or []
            if isinstance(a, dict) and isinstance(a.get("author"), dict) and a["author"].get("display_name")
        ]
        year = item.get("publication_year")
        works.append(
            RelatedWork(
                id=f"openalex:{str(item['id']).rsplit('/', 1)[-1]}",
                title=title,
                abstract=_uninvert(item.get("abstract_inverted_index")),
                authors=authors,
                year=year if isinstance(year, int) else None,
                url=item.get("doi") or item.get("id"),
                source="openalex",
                score=_rank_score(len(works)),
            )
        )
    return works


_REQUESTS: dict[str, Callable[[str, int], tuple[str, dict[str, Any]]]] = {
    "arxiv": _arxiv_request,
    "semantic_scholar": _s2_request,
    "openalex": _openalex_request,
}


def _parse(source: str, response: httpx.Response) -> list[RelatedWork]:
    if source == "arxiv":
        return parse_arxiv(response.text)
    try:
        data = response.json()
    except ValueError as exc:
        raise _Unusable("answer is not JSON") from exc
    return parse_semantic_scholar(data) if source == "semantic_scholar" else parse_openalex(data)


def _identity(source: str, environ: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(headers, query parameters) that say who asks: the Semantic Scholar key, the OpenAlex
    contact address, from the engine's environment."""
    headers = {"User-Agent": f"mlr-copilot/{__version__}"}
    params = {}
    if source == "semantic_scholar" and environ.get("SEMANTIC_SCHOLAR_API_KEY"):
        headers["x-api-key"] = environ["SEMANTIC_SCHOLAR_API_KEY"]
    if source == "openalex" and environ.get("OPENALEX_MAILTO"):
        params["mailto"] = environ["OPENALEX_MAILTO"]
    return headers, params


def _fetch(
    client: httpx.Client, source: str, query: str, k: int, sleep: Callable[[float], None], attempts: int,
    should_cancel: Callable[[], bool] | None, environ: Mapping[str, str],
) -> list[RelatedWork]:
    url, params = _REQUESTS[source](query, k)
    headers, more = _identity(source, environ)
    params = {**params, **more}

    def attempt() -> httpx.Response:
        response = client.get(url, params=params, headers=headers)
        if response.status_code in RETRYABLE_STATUS:
            raise RetryLater(f"HTTP {response.status_code}", parse_retry_after(response.headers.get("Retry-After")))
        return response

    response = with_backoff(attempt, attempts=attempts, sleep=sleep, should_cancel=should_cancel)
    if response.status_code >= 400:
        raise _Unusable(f"answered HTTP {response.status_code}")
    return _parse(source, response)


def _unreachable_reason(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.ConnectError):
        return "offline"
    return f"network error: {type(exc).__name__}"


def source_problem(source: str, exc: Exception, what: str) -> str:
    """The note for a source that failed a request (`what`: "search", "lookup")."""
    label = LABELS[source]
    if isinstance(exc, httpx.TransportError):
        return f"{label} was unreachable ({_unreachable_reason(exc)})"
    if isinstance(exc, RetryLater):
        return f"{label} kept refusing the {what} ({exc.reason}, rate-limited or down)"
    return f"{label} {exc}"


def _day(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).strftime("%Y-%m-%d")


def search_online(
    query: str,
    k: int,
    *,
    cache_dir: Path,
    sources: Iterable[str] = SOURCES,
    client: httpx.Client | None = None,
    ttl: float = DEFAULT_TTL,
    attempts: int = 4,
    sleep: Callable[[float], None] = time.sleep,
    should_cancel: Callable[[], bool] | None = None,
    report: Callable[[str], None] | None = None,
    environ: Mapping[str, str] | None = None,
) -> RetrievalResult:
    """Up to `k` works from each source, in each source's order; notes say what went wrong.
    `environ` (default: the process's) holds the keys and contact address the sources get."""
    environ = os.environ if environ is None else environ
    cache = AnswerCache(Path(cache_dir), ttl=ttl)
    own_client = client is None
    client = client or httpx.Client(timeout=TIMEOUT, follow_redirects=True)
    works: list[RelatedWork] = []
    notes: list[str] = []
    key_query = " ".join(query.lower().split())
    try:
        for source in sources:
            if source not in _REQUESTS:
                notes.append(f"unknown literature source '{source}' ignored")
                continue
            if should_cancel is not None and should_cancel():
                notes.append("online search cancelled")
                break
            label = LABELS[source]
            key = {"query": key_query, "k": k}
            cached = cache.get(source, key)
            if cached is not None and cached.fresh:
                works.extend(RelatedWork.model_validate(w) for w in cached.value)
                continue
            if report is not None:
                report(f"Searching {label}")
            try:
                found = _fetch(client, source, query, k, sleep, attempts, should_cancel, environ)
            except (httpx.TransportError, RetryLater, _Unusable) as exc:
                problem = source_problem(source, exc, "search")
                log.info("%s: %s", problem, exc)
                if cached is not None:
                    works.extend(RelatedWork.model_validate(w) for w in cached.value)
                    notes.append(f"{problem}; used its answer cached on {_day(cached.saved_at)}")
                else:
                    notes.append(problem)
                continue
            cache.put(source, key, [w.model_dump(mode="json") for w in found])
            works.extend(found)
    finally:
        if own_client:
            client.close()
    return RetrievalResult(works=works, notes=notes)
