"""A small BM25 index over (id, text) documents, saved to and loaded from a folder.

The library of PDFs, the paper's references and prototype code all rank with this one class;
only the tokenizer differs (prose or code).
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import bm25s
import numpy as np
from bm25s.stopwords import STOPWORDS_EN

# bm25s sets its own logger to DEBUG and reports every index build; only its warnings matter
logging.getLogger("bm25s").setLevel(logging.WARNING)

log = logging.getLogger(__name__)

_WORD = re.compile(r"[^\W_]{2,}|\d+")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_STOPWORDS = frozenset(STOPWORDS_EN) | {"we", "our", "using", "based", "via", "also", "can", "paper"}


def _singular(word: str) -> str:
    # Plural folding only: a full stemmer is not installed and over-stemming hurts code search.
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def text_tokens(text: str) -> list[str]:
    """Prose: lower-cased words, English stop words dropped, plurals folded."""
    return [_singular(w) for w in _WORD.findall(text.lower()) if w not in _STOPWORDS]


def code_tokens(text: str) -> list[str]:
    """Code: each identifier whole and split at snake_case and camelCase boundaries."""
    out: list[str] = []
    for ident in _IDENTIFIER.findall(text):
        lowered = ident.lower()
        parts = [p.lower() for piece in ident.split("_") for p in _CAMEL.findall(piece)]
        if len(lowered) > 1 and lowered not in _STOPWORDS:
            out.append(_singular(lowered))
        if len(parts) > 1:
            out.extend(_singular(p) for p in parts if len(p) > 1 and p not in _STOPWORDS)
    return out


TOKENIZERS: dict[str, Callable[[str], list[str]]] = {"text": text_tokens, "code": code_tokens}


class BM25Index:
    """Documents ranked by BM25 (bm25s). Build with `build`, query with `search`."""

    def __init__(self, ids: list[str], model: bm25s.BM25 | None, tokenizer: str = "text", tag: str = ""):
        if tokenizer not in TOKENIZERS:
            raise ValueError(f"unknown tokenizer {tokenizer!r}")
        self.ids = ids
        self.tokenizer = tokenizer
        # Saved with the index so an owner can check the files on disk belong together.
        self.tag = tag
        self._model = model

    @classmethod
    def build(cls, docs: Iterable[tuple[str, str]], tokenizer: str = "text") -> BM25Index:
        tokenize = TOKENIZERS[tokenizer]
        return cls.from_tokens(((doc_id, tokenize(text)) for doc_id, text in docs), tokenizer)

    @classmethod
    def from_tokens(cls, docs: Iterable[tuple[str, list[str]]], tokenizer: str = "text") -> BM25Index:
        """An index of documents already tokenized with `tokenizer` (a corpus keeps them)."""
        ids: list[str] = []
        corpus: list[list[str]] = []
        for doc_id, tokens in docs:
            ids.append(doc_id)
            corpus.append(tokens)
        if not ids:
            return cls([], None, tokenizer)
        model = bm25s.BM25()
        model.index(corpus, show_progress=False)
        return cls(ids, model, tokenizer)

    def __len__(self) -> int:
        return len(self.ids)

    def search(self, query: str, k: int = 10) -> list[tuple[str, float]]:
        """The top `k` (id, score) pairs with a positive score, best first."""
        if self._model is None or k <= 0:
            return []
        vocab = self._model.vocab_dict
        tokens = [t for t in TOKENIZERS[self.tokenizer](query) if t in vocab]
        if not tokens:
            return []
        scores = np.asarray(self._model.get_scores(tokens))
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.ids[i], float(scores[i])) for i in top if scores[i] > 0]

    def save(self, folder: Path) -> None:
        """Replace `folder` with this index; a crash mid-save leaves the previous one."""
        folder = Path(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
        try:
            if self._model is not None:
                self._model.save(str(staging / "bm25"), show_progress=False)
            meta = {"version": 1, "tokenizer": self.tokenizer, "tag": self.tag, "ids": self.ids}
            (staging / "ids.json").write_text(json.dumps(meta), encoding="utf-8")
            old = folder.with_name(f".{folder.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            if folder.exists():
                folder.rename(old)
            staging.rename(folder)
            shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    @classmethod
    def load(cls, folder: Path) -> BM25Index | None:
        """The index saved in `folder`, or None when it is missing or unreadable."""
        folder = Path(folder)
        try:
            meta = json.loads((folder / "ids.json").read_text(encoding="utf-8"))
            ids = list(meta["ids"])
            tokenizer = meta["tokenizer"]
            model = bm25s.BM25.load(str(folder / "bm25"), show_progress=False) if ids else None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.info("index in %s not usable (%s); it will be rebuilt", folder, exc)
            return None
        if tokenizer not in TOKENIZERS:
            return None
        return cls(ids, model, tokenizer, str(meta.get("tag", "")))
