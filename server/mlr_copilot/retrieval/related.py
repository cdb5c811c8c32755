"""Related work for a query: the local library, the paper's own references and online indexes,
merged into one ranked, de-duplicated list with notes on every source that was skipped."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx

from mlr_copilot.retrieval.bm25 import BM25Index
from mlr_copilot.retrieval.errors import RetrievalError
from mlr_copilot.retrieval.library import Library
from mlr_copilot.retrieval.model import RelatedWork, RetrievalResult
from mlr_copilot.retrieval.online import search_online

# When one work comes from several places, the record kept is the first in this order: being
# cited by the paper matters for novelty, a local copy can be opened, and the indexes follow.
_PRECEDENCE = ("references", "library", "arxiv", "semantic_scholar", "openalex")
_MIN_CONTAINED_TITLE = 20

_MARKER = re.compile(r"^\s*(\[\d+\]|\d+\.|\(\d+\))\s*")
_QUOTED = re.compile(r"[\"\u201c\u201d]([^\"\u201c\u201d]{10,})[\"\u201c\u201d]")
# A sentence end that is not an initial ("A. Vaswani").
_SENTENCE_END = re.compile(r"(?<!\b[A-Z])[.?!]\s+")
_YEAR = re.compile(r"\b(19[5-9]\d|20\d\d)\b")


def normalise_title(title: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9]+", " ", title.lower()).split())


def reference_title(reference: str) -> str:
    """The title inside a citation string, or the whole string when its shape is unclear."""
    text = _MARKER.sub("", " ".join(reference.split()))
    quoted = _QUOTED.search(text)
    if quoted:
        return quoted.group(1).strip(" ,.")
    parts = [p.strip() for p in _SENTENCE_END.split(text) if p.strip()]
    if len(parts) >= 2 and len(parts[1].split()) >= 3:
        return parts[1].rstrip(".")
    return text


def reference_works(query: str, references: list[str]) -> list[RelatedWork]:
    """The references that match `query`, best first, as works with source "references"."""
    cleaned = [" ".join(r.split()) for r in references]
    index = BM25Index.build((str(i), text) for i, text in enumerate(cleaned) if text)
    works = []
    for doc_id, score in index.search(query, len(index)):
        text = cleaned[int(doc_id)]
        years = _YEAR.findall(text)
        works.append(
            RelatedWork(
                id=f"ref:{int(doc_id) + 1}",
                title=reference_title(text),
                year=int(years[-1]) if years else None,
                source="references",
                score=score,
            )
        )
    return works


def _normalised_scores(works: list[RelatedWork]) -> list[RelatedWork]:
    """Scale each source's scores so its best is 1: BM25 values and rank scores do not compare."""
    best: dict[str, float] = {}
    for work in works:
        best[work.source] = max(best.get(work.source, 0.0), work.score)
    return [w.model_copy(update={"score": w.score / best[w.source] if best[w.source] > 0 else 0.0}) for w in works]


def _same(a: str, b: str) -> bool:
    if a == b:
        return True
    shorter, longer = sorted((a, b), key=len)
    return len(shorter) >= _MIN_CONTAINED_TITLE and shorter in longer


def _combine(kept: RelatedWork, other: RelatedWork) -> RelatedWork:
    return kept.model_copy(
        update={
            "abstract": kept.abstract or other.abstract,
            "authors": kept.authors or other.authors,
            "year": kept.year or other.year,
            "url": kept.url or other.url,
            "score": max(kept.score, other.score),
        }
    )


def merge_works(works: list[RelatedWork], k: int) -> list[RelatedWork]:
    """One work per title (exact after normalising, or one title inside a longer one), best `k`."""
    ordered = sorted(_normalised_scores(works), key=lambda w: (_PRECEDENCE.index(w.source), -w.score))
    merged: list[tuple[str, RelatedWork]] = []
    for work in ordered:
        key = normalise_title(work.title)
        for position, (seen_key, seen) in enumerate(merged):
            if _same(key, seen_key):
                merged[position] = (seen_key, _combine(seen, work))
                break
        else:
            merged.append((key, work))
    return sorted((w for _, w in merged), key=lambda w: -w.score)[:k]


_libraries: dict[tuple[Path, Path], Library] = {}
# a Library updates its index as it searches: one search at a time in the process
_libraries_lock = threading.Lock()


def _library(folder: Path, cache_dir: Path) -> Library:
    """One `Library` per folder for the life of the process (call with the lock held): it
    remembers what it has looked at, so a later proposal searches at once instead of
    reloading and re-checking the index."""
    key = (folder.expanduser().resolve(), cache_dir.resolve())
    if key not in _libraries:
        _libraries[key] = Library(folder, cache_dir)
    return _libraries[key]


def related_work(
    query: str,
    *,
    references: list[str],
    library_dir: str | Path | None,
    cache_dir: Path,
    online: bool,
    k: int = 10,
    client: httpx.Client | None = None,
    should_cancel: Callable[[], bool] | None = None,
    report: Callable[[str], None] | None = None,
    environ: Mapping[str, str] | None = None,
) -> RetrievalResult:
    """Related works for `query`; the cache folder holds `library/` and `online/` sub-folders.
    `environ` (default: the process's) holds the online sources' keys."""
    cache_dir = Path(cache_dir)
    found: list[RelatedWork] = []
    notes: list[str] = []

    if library_dir:
        try:
            with _libraries_lock:
                library = _library(Path(library_dir), cache_dir / "library")
                found.extend(library.search(query, k, should_cancel=should_cancel, report=report))
                notes.extend(library.notes)
        except RetrievalError as exc:
            notes.append(f"local library skipped: {exc}")
    else:
        notes.append("local library skipped: no library folder is set")

    found.extend(reference_works(query, references)[:k])

    if online:
        result = search_online(
            query, k, cache_dir=cache_dir / "online", client=client, should_cancel=should_cancel, report=report,
            environ=environ,
        )
        found.extend(result.works)
        notes.extend(result.notes)
        if not result.works and result.notes:
            notes.append("no online source answered; used the local library and the paper's references")
    else:
        notes.append("online sources skipped: offline mode")

    return RetrievalResult(works=merge_works(found, k), notes=notes)
