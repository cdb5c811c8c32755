"""Documents read from a set of files and kept in an on-disk cache with their BM25 index.

A file is read again only when its size or modification time changed, so a library of
hundreds of PDFs or a large repository costs one `stat` per file after the first time.
Files that cannot be read are remembered too (with the reason), so they are not retried
until they change. Each file's tokens are kept instead of its text, so a file added or
removed rebuilds the index without tokenising the other files again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlr_copilot.retrieval.bm25 import TOKENIZERS, BM25Index
from mlr_copilot.retrieval.errors import RetrievalCancelled
from mlr_copilot.state import read_json, write_json

Doc = dict[str, Any]
"""A document: {"id": str, "text": str (what is indexed), "data": {...} (what is returned)}.

Documents come back from `FileCorpus.search` without their text, which the cache does not keep."""

Reader = Callable[[str, Path], list[Doc]]
# 2: entries keep their documents' tokens, not their text; a version 1 cache is converted.
_MANIFEST_VERSION = 2


class UnreadableFile(Exception):
    """Raised by a reader for a file it cannot use; the message says why."""


@dataclass
class UpdateStats:
    read: list[str] = field(default_factory=list)
    reused: int = 0
    removed: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


class FileCorpus:
    """The documents of `files` (key -> path) as read by `reader`, cached under `folder`."""

    def __init__(self, folder: Path, reader: Reader, tokenizer: str = "text"):
        self.folder = Path(folder)
        self.reader = reader
        self.tokenizer = tokenizer
        self._manifest_path = self.folder / "manifest.json"
        self._index_dir = self.folder / "index"
        self._files: dict[str, dict[str, Any]] | None = None
        self._index: BM25Index | None = None
        self._by_id: dict[str, Doc] = {}
        self._index_tag = ""

    def _load_manifest(self) -> tuple[dict[str, dict[str, Any]], str]:
        try:
            data = read_json(self._manifest_path, default=None)
        except ValueError:
            data = None
        if (
            not isinstance(data, dict)
            or data.get("version") not in (1, _MANIFEST_VERSION)
            or data.get("tokenizer") != self.tokenizer
            or not isinstance(data.get("files"), dict)
        ):
            return {}, ""
        if data["version"] == 1:
            # Tokenising the stored text once is far cheaper than reading every file again.
            files = {key: self._entry(entry["signature"], entry["docs"], entry.get("error"))
                     for key, entry in data["files"].items()}
            return files, ""
        return data["files"], str(data.get("index_tag", ""))

    def _entry(self, signature: list[int], docs: list[Doc], error: str | None = None) -> dict[str, Any]:
        """A manifest entry: the documents without their text, and the text's tokens instead.

        Tokens are kept space-joined (no tokenizer yields a space), which JSON reads far
        faster than nested lists.
        """
        tokenize = TOKENIZERS[self.tokenizer]
        entry: dict[str, Any] = {
            "signature": signature,
            "docs": [{k: v for k, v in doc.items() if k != "text"} for doc in docs],
            "tokens": [" ".join(tokenize(doc["text"])) for doc in docs],
        }
        if error is not None:
            entry["error"] = error
        return entry

    def _save_manifest(self) -> None:
        write_json(
            self._manifest_path,
            {"version": _MANIFEST_VERSION, "tokenizer": self.tokenizer, "index_tag": self._index_tag, "files": self._files},
        )

    def update(
        self,
        files: Mapping[str, Path],
        *,
        should_cancel: Callable[[], bool] | None = None,
        report: Callable[[str], None] | None = None,
    ) -> UpdateStats:
        """Bring the cache in line with `files`: read new or changed ones, drop removed ones."""
        stats = UpdateStats()
        if self._files is None:
            self._files, self._index_tag = self._load_manifest()
        entries = self._files

        to_read: list[tuple[str, Path, list[int]]] = []
        present: set[str] = set()
        for key, path in files.items():
            try:
                st = path.stat()
            except OSError:
                continue
            present.add(key)
            signature = [st.st_size, st.st_mtime_ns]
            entry = entries.get(key)
            if entry is not None and entry.get("signature") == signature:
                stats.reused += 1
                if entry.get("error"):
                    stats.skipped[key] = entry["error"]
            else:
                to_read.append((key, path, signature))

        for key in [k for k in entries if k not in present]:
            del entries[key]
            stats.removed.append(key)

        for number, (key, path, signature) in enumerate(to_read, start=1):
            if should_cancel is not None and should_cancel():
                # Keep what was read; the index no longer matches it.
                self._index, self._index_tag = None, ""
                self._save_manifest()
                raise RetrievalCancelled(f"indexing cancelled after {number - 1} of {len(to_read)} new files")
            if report is not None:
                report(f"Reading {key} ({number}/{len(to_read)})")
            try:
                entries[key] = self._entry(signature, self.reader(key, path))
            except UnreadableFile as exc:
                entries[key] = self._entry(signature, [], str(exc))
                stats.skipped[key] = str(exc)
            stats.read.append(key)

        changed = bool(stats.read or stats.removed)
        if not changed and self._index is None and self._index_tag:
            loaded = BM25Index.load(self._index_dir)
            if loaded is not None and loaded.tag == self._index_tag and loaded.tokenizer == self.tokenizer:
                self._index = loaded
        if changed or self._index is None:
            self._rebuild()
        if not self._by_id or changed:
            self._by_id = {doc["id"]: doc for entry in entries.values() for doc in entry["docs"]}
        return stats

    def _rebuild(self) -> None:
        assert self._files is not None
        self._index = BM25Index.from_tokens(
            (
                (doc["id"], tokens.split())
                for entry in self._files.values()
                for doc, tokens in zip(entry["docs"], entry["tokens"])
            ),
            self.tokenizer,
        )
        # A fresh tag in both files: after a crash between the two writes they disagree
        # and the next update rebuilds instead of trusting a mismatched index.
        self._index_tag = self._index.tag = uuid.uuid4().hex
        self._index.save(self._index_dir)
        self._save_manifest()

    def search(self, query: str, k: int) -> list[tuple[Doc, float]]:
        """Best documents for `query`; call `update` first."""
        if self._index is None:
            return []
        return [(self._by_id[i], s) for i, s in self._index.search(query, k) if i in self._by_id]

    def __len__(self) -> int:
        return len(self._by_id)
