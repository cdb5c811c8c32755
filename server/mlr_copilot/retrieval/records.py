"""One paper's own record, looked up by its arXiv id or DOI: title, authors and reference list
from Semantic Scholar, else title and authors from OpenAlex (DOI) or arXiv (arXiv id).

It corrects a local parse (see `paper/enrich.py`). As for search: every answer is cached on
disk, 429 and 5xx answers are retried with backoff, and a source that fails becomes a note
(an older cached answer is used when there is one), never an exception.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel, Field

from mlr_copilot.retrieval.backoff import (
    RETRYABLE_STATUS,
    RetryLater,
    parse_retry_after,
    with_backoff,
)
from mlr_copilot.retrieval.cache import DEFAULT_TTL, AnswerCache
from mlr_copilot.retrieval.online import (
    ARXIV_URL,
    OPENALEX_URL,
    TIMEOUT,
    _identity,
    _Unusable,
    parse_arxiv,
    source_problem,
)

S2_PAPER_URL = "https://api.semanticscholar.org/graph/v1/paper/"
_S2_FIELDS = "title,authors,year,references.title,references.authors,references.year,references.venue"


class PaperRecord(BaseModel):
    """What an index knows of one paper."""

    title: str
    authors: list[str] = Field(default_factory=list)
    year: int | None = None
    references: list[str] = Field(default_factory=list)
    source: str


def fetch_record(
    identifiers: dict[str, str],
    *,
    cache_dir: Path,
    client: httpx.Client | None = None,
    ttl: float = DEFAULT_TTL,
    attempts: int = 4,
    sleep: Callable[[float], None] = time.sleep,
    should_cancel: Callable[[], bool] | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[PaperRecord | None, list[str]]:
    """The first record found for the paper's `identifiers` ({"arxiv": ..., "doi": ...}), and
    notes on the sources that could not answer. `environ` (default: the process's) holds the
    keys and contact address the sources get."""
    environ = os.environ if environ is None else environ
    lookups = _lookups(identifiers)
    if not lookups:
        return None, []
    cache = AnswerCache(Path(cache_dir), ttl=ttl)
    own_client = client is None
    client = client or httpx.Client(timeout=TIMEOUT, follow_redirects=True)
    notes: list[str] = []
    try:
        for source, url, params in lookups:
            if should_cancel is not None and should_cancel():
                notes.append("paper lookup cancelled")
                break
            key = {"url": url, "params": params}
            cached = cache.get(f"record-{source}", key)
            if cached is not None and cached.fresh:
                record = _record(cached.value)
            else:
                try:
                    record = _ask(client, source, url, params, sleep, attempts, should_cancel, environ)
                except (httpx.TransportError, RetryLater, _Unusable) as exc:
                    record = _record(cached.value) if cached is not None else None
                    notes.append(source_problem(source, exc, "lookup") + ("; used its cached answer" if record else ""))
                else:
                    cache.put(f"record-{source}", key, record.model_dump(mode="json"))
            if record is not None:
                return record, notes
    finally:
        if own_client:
            client.close()
    return None, notes


def _lookups(identifiers: dict[str, str]) -> list[tuple[str, str, dict[str, Any]]]:
    """(source, url, query) to try in turn: Semantic Scholar by each id, then the metadata-only
    sources."""
    arxiv, doi = identifiers.get("arxiv"), identifiers.get("doi")
    s2: dict[str, Any] = {"fields": _S2_FIELDS}
    out: list[tuple[str, str, dict[str, Any]]] = [("semantic_scholar", S2_PAPER_URL + quote(f"{kind}:{value}", safe=":/"), s2)
           for kind, value in (("arXiv", arxiv), ("DOI", doi)) if value]
    if doi:
        out.append(("openalex", f"{OPENALEX_URL}/doi:{quote(doi, safe='/')}", {}))
    if arxiv:
        out.append(("arxiv", ARXIV_URL, {"id_list": arxiv, "max_results": 1}))
    return out


def _ask(client: httpx.Client, source: str, url: str, params: dict[str, Any], sleep: Callable[[float], None],
         attempts: int, should_cancel: Callable[[], bool] | None, environ: Mapping[str, str]) -> PaperRecord:
    headers, more = _identity(source, environ)

    def attempt() -> httpx.Response:
        response = client.get(url, params={**params, **more}, headers=headers)
        if response.status_code in RETRYABLE_STATUS:
            raise RetryLater(f"HTTP {response.status_code}", parse_retry_after(response.headers.get("Retry-After")))
        return response

    response = with_backoff(attempt, attempts=attempts, sleep=sleep, should_cancel=should_cancel)
    if response.status_code == 404:
        raise _Unusable("has no record of the paper")
    if response.status_code >= 400:
        raise _Unusable(f"answered HTTP {response.status_code}")
    if source == "arxiv":
        works = parse_arxiv(response.text)
        if not works:
            raise _Unusable("has no record of the paper")
        return PaperRecord(title=works[0].title, authors=works[0].authors, year=works[0].year, source=source)
    try:
        data = response.json()
    except ValueError as exc:
        raise _Unusable("answer is not JSON") from exc
    return _semantic_scholar(data) if source == "semantic_scholar" else _openalex(data)


def _semantic_scholar(data: Any) -> PaperRecord:
    if not isinstance(data, dict) or not isinstance(data.get("title"), str) or not data["title"].strip():
        raise _Unusable("answer has no title")
    references = [_reference(r) for r in data.get("references") or [] if isinstance(r, dict)]
    year = data.get("year")
    return PaperRecord(title=" ".join(data["title"].split()), authors=_names(data.get("authors")),
                       year=year if isinstance(year, int) else None,
                       references=[r for r in references if r], source="semantic_scholar")


def _openalex(data: Any) -> PaperRecord:
    title = data.get("display_name") if isinstance(data, dict) else None
    if not isinstance(title, str) or not title.strip():
        raise _Unusable("answer has no title")
    authors = [a["author"]["display_name"] for a in data.get("authorships") or []
               if isinstance(a, dict) and isinstance(a.get("author"), dict)
               and isinstance(a["author"].get("display_name"), str)]
    year = data.get("publication_year")
    return PaperRecord(title=" ".join(title.split()), authors=authors, year=year if isinstance(year, int) else None,
                       source="openalex")


def _names(authors: Any) -> list[str]:
    return [a["name"] for a in authors or [] if isinstance(a, dict) and isinstance(a.get("name"), str)]


def _reference(ref: dict[str, Any]) -> str:
    """A cited work as one line: "A. Author, B. Author. 2019. Title. Venue." """
    title = ref.get("title")
    if not isinstance(title, str) or not title.strip():
        return ""
    parts = [", ".join(_names(ref.get("authors"))), str(ref["year"]) if isinstance(ref.get("year"), int) else "",
             " ".join(title.split()), ref.get("venue") if isinstance(ref.get("venue"), str) else ""]
    return " ".join(f"{p.rstrip('.')}." for p in parts if p)


def _record(value: Any) -> PaperRecord | None:
    try:
        return PaperRecord.model_validate(value)
    except ValueError:
        return None
