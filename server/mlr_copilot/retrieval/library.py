"""The local library: every PDF under a folder, searchable by BM25 over title, abstract and
first pages. The index lives in a cache folder and follows the library incrementally.

Looking at every PDF costs a `stat` each, a fifth of a second or more for ten thousand
papers, so a `Library` searched again soon looks only at its folders' modification times:
adding, removing or renaming a PDF changes its folder's. A PDF rewritten in place changes
only its own, and is noticed by the full look taken again once `RESCAN_AFTER` seconds have
passed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from mlr_copilot.retrieval.corpus import Doc, FileCorpus, UpdateStats
from mlr_copilot.retrieval.errors import RetrievalError
from mlr_copilot.retrieval.model import RelatedWork
from mlr_copilot.retrieval.pdfhead import read_pdf_head

log = logging.getLogger(__name__)

# Seconds a search trusts folder times alone before it looks at every PDF again.
RESCAN_AFTER = 5.0
# A folder changed this close to a look may have changed again within the same tick of a
# coarse file-system clock (two seconds on FAT), so its time proves nothing.
_RACY_NS = 2_000_000_000


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
        # The modification time of each folder at the last full look, and when it was taken;
        # empty when those times cannot vouch for the folder (never looked, or too recent).
        self._folder_times: dict[str, int] = {}
        self._looked_at = 0.0

    def _walk(self) -> tuple[dict[str, Path], dict[str, int]]:
        """Every PDF below the folder, keyed by its path relative to the folder, and the
        modification time of each folder walked."""
        found: dict[str, Path] = {}
        times: dict[str, int] = {}
        for root, dirs, files in os.walk(self.folder):
            try:
                times[root] = os.stat(root).st_mtime_ns
            except OSError:  # removed while walking: so are its PDFs
                dirs.clear()
                continue
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            # Keys built per folder, not per file: pathlib costs microseconds a call.
            base = Path(root)
            prefix = base.relative_to(self.folder).as_posix() + "/" if base != self.folder else ""
            for name in files:
                if name.lower().endswith(".pdf"):
                    found[prefix + name] = base / name
        return found, times

    def _unchanged(self) -> bool:
        """Whether the last full look still holds, judged by its folders' times alone."""
        if not self._folder_times or time.monotonic() - self._looked_at > RESCAN_AFTER:
            return False
        for folder, mtime in self._folder_times.items():
            try:
                if os.stat(folder).st_mtime_ns != mtime:
                    return False
            except OSError:
                return False
        return True

    def update(
        self,
        *,
        should_cancel: Callable[[], bool] | None = None,
        report: Callable[[str], None] | None = None,
    ) -> UpdateStats:
        """Look at every PDF and bring the index in line: read new or changed ones, drop removed ones."""
        self._folder_times = {}
        started_ns, looked_at = time.time_ns(), time.monotonic()
        files, times = self._walk()
        stats = self._corpus.update(files, should_cancel=should_cancel, report=report)
        if all(mtime < started_ns - _RACY_NS for mtime in times.values()):
            self._folder_times, self._looked_at = times, looked_at
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
    ) -> list[RelatedWork]:
        """The `k` best PDFs for `query`, after bringing the index up to date."""
        if not self._unchanged():
            self.update(should_cancel=should_cancel, report=report)
        works = []
        for doc, score in self._corpus.search(query, k):
            key = doc["id"].removeprefix("library:")
            works.append(
                RelatedWork(
                    id=doc["id"],
                    title=doc["data"]["title"],
                    abstract=doc["data"]["abstract"],
                    url=(self.folder / key).as_uri(),
                    source="library",
                    score=score,
                )
            )
        return works
