"""The local library: every PDF under a folder, searchable by BM25 over title, abstract and
first pages. The index lives in a cache folder and follows the library incrementally."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Callable

from mlr_copilot.retrieval.corpus import Doc, FileCorpus, UpdateStats
from mlr_copilot.retrieval.errors import RetrievalError
from mlr_copilot.retrieval.model import Work
from mlr_copilot.retrieval.pdfhead import read_pdf_head

log = logging.getLogger(__name__)


def _read(key: str, path: Path) -> list[Doc]:
    head = read_pdf_head(path)
    # The title counts twice: a match there says more than one deep in the first pages.
    text = f"{head.title}\n{head.title}\n{head.text}"
    return [{"id": f"library:{key}", "text": text, "data": {"title": head.title, "abstract": head.abstract}}]


class Library:
    """PDFs under `folder`, indexed in `cache_dir` (one sub-folder per library folder)."""

    def __init__(self, folder: Path | str, cache_dir: Path | str):
        self.folder = Path(folder).expanduser().resolve()
        if not self.folder.is_dir():
            raise RetrievalError(f"library folder {self.folder} does not exist or is not a folder")
        digest = hashlib.sha256(str(self.folder).encode()).hexdigest()[:16]
        self._corpus = FileCorpus(Path(cache_dir) / digest, _read, tokenizer="text")
        self.notes: list[str] = []
        self.last_update: UpdateStats | None = None

    def pdfs(self) -> dict[str, Path]:
        """Every PDF below the folder, keyed by its path relative to the folder."""
        found: dict[str, Path] = {}
        for root, dirs, files in os.walk(self.folder):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in files:
                if name.lower().endswith(".pdf"):
                    path = Path(root) / name
                    found[path.relative_to(self.folder).as_posix()] = path
        return found

    def update(
        self,
        *,
        should_cancel: Callable[[], bool] | None = None,
        report: Callable[[str], None] | None = None,
    ) -> UpdateStats:
        stats = self._corpus.update(self.pdfs(), should_cancel=should_cancel, report=report)
        self.last_update = stats
        self.notes = [f"skipped {key} in the library: {reason}" for key, reason in sorted(stats.skipped.items())]
        if stats.read or stats.removed:
            log.info(
                "library %s: %d read, %d unchanged, %d removed",
                self.folder, len(stats.read), stats.reused, len(stats.removed),
            )
        return stats

    def search(
        self,
        query: str,
        k: int = 10,
        *,
        should_cancel: Callable[[], bool] | None = None,
        report: Callable[[str], None] | None = None,
    ) -> list[Work]:
        """The `k` best PDFs for `query`, after bringing the index up to date."""
        self.update(should_cancel=should_cancel, report=report)
        works = []
        for doc, score in self._corpus.search(query, k):
            key = doc["id"].removeprefix("library:")
            works.append(
                Work(
                    id=doc["id"],
                    title=doc["data"]["title"],
                    abstract=doc["data"]["abstract"],
                    url=(self.folder / key).as_uri(),
                    source="library",
                    score=score,
                )
            )
        return works
