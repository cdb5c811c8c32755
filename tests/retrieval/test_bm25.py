from __future__ import annotations

import json
import shutil
from pathlib import Path

from mlr_copilot.retrieval import bm25
from mlr_copilot.retrieval.bm25 import BM25Index, code_tokens, text_tokens
from mlr_copilot.retrieval.corpus import FileCorpus

DOCS = [
    ("a", "Graph neural networks for molecules"),
    ("b", "Protein structure prediction with attention"),
    ("c", "Attention mechanisms in speech recognition"),
]


def test_ranking_and_round_trip(tmp_path: Path):
    index = BM25Index.build(DOCS)
    assert [doc_id for doc_id, _ in index.search("protein attention", 10)] == ["b", "c"]
    assert index.search("unrelated words only", 10) == []
    assert index.search("attention", 1)[0][0] in {"b", "c"}

    index.save(tmp_path / "idx")
    index.save(tmp_path / "idx")  # replacing an existing index
    loaded = BM25Index.load(tmp_path / "idx")
    assert loaded is not None
    assert loaded.search("protein attention", 10) == index.search("protein attention", 10)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx"]


def test_empty_and_broken_indexes(tmp_path: Path):
    empty = BM25Index.build([])
    assert len(empty) == 0 and empty.search("anything", 5) == []
    empty.save(tmp_path / "empty")
    assert BM25Index.load(tmp_path / "empty").search("anything", 5) == []
    assert BM25Index.load(tmp_path / "missing") is None
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "ids.json").write_text("{not json")
    assert BM25Index.load(tmp_path / "bad") is None


def test_tokenizers():
    assert text_tokens("The Networks of proteins are learned") == ["network", "protein", "learned"]
    tokens = code_tokens("def buildOptimizer(model): return AdamW(lr_schedule)")
    assert {"buildoptimizer", "build", "optimizer", "adamw", "adam", "lr_schedule", "lr", "schedule"} <= set(tokens)


def test_corpus_rebuilds_a_deleted_index_without_rereading(tmp_path: Path):
    files = {}
    for name, text in [("one.txt", "alpha beta"), ("two.txt", "gamma delta")]:
        files[name] = tmp_path / name
        files[name].write_text(text)
    reads: list[str] = []

    def reader(key: str, path: Path):
        reads.append(key)
        return [{"id": key, "text": path.read_text(), "data": {}}]

    FileCorpus(tmp_path / "cache", reader).update(files)
    shutil.rmtree(tmp_path / "cache" / "index")
    corpus = FileCorpus(tmp_path / "cache", reader)
    corpus.update(files)
    assert reads == ["one.txt", "two.txt"]
    assert [doc["id"] for doc, _ in corpus.search("gamma", 5)] == ["two.txt"]


def _text_files(tmp_path: Path, texts: dict[str, str]) -> dict[str, Path]:
    files = {}
    for name, text in texts.items():
        files[name] = tmp_path / name
        files[name].write_text(text)
    return files


def _reader(key: str, path: Path):
    return [{"id": key, "text": path.read_text(), "data": {}}]


def test_corpus_tokenises_only_new_files_when_one_is_added_or_removed(tmp_path: Path, monkeypatch):
    tokenised: list[str] = []

    def counting(text: str) -> list[str]:
        tokenised.append(text)
        return text_tokens(text)

    monkeypatch.setitem(bm25.TOKENIZERS, "text", counting)
    files = _text_files(tmp_path, {"one.txt": "alpha beta", "two.txt": "gamma delta"})
    corpus = FileCorpus(tmp_path / "cache", _reader)
    corpus.update(files)
    assert tokenised == ["alpha beta", "gamma delta"]

    files.update(_text_files(tmp_path, {"three.txt": "epsilon gamma"}))
    corpus.update(files)
    assert tokenised[2:] == ["epsilon gamma"]
    assert [doc["id"] for doc, _ in corpus.search("gamma epsilon", 5)] == ["three.txt", "two.txt"]

    del files["two.txt"]
    reopened = FileCorpus(tmp_path / "cache", _reader)
    reopened.update(files)
    assert [doc["id"] for doc, _ in reopened.search("gamma", 5)] == ["three.txt"]
    # Only the queries were tokenised after the files: the rebuilds used the kept tokens.
    assert tokenised[3:] == ["gamma epsilon", "gamma"]


def test_corpus_converts_a_cache_that_kept_text_without_rereading(tmp_path: Path):
    files = _text_files(tmp_path, {"one.txt": "alpha beta", "two.txt": "gamma delta"})
    entries = {}
    for name, path in files.items():
        st = path.stat()
        entries[name] = {"signature": [st.st_size, st.st_mtime_ns], "docs": _reader(name, path)}
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "manifest.json").write_text(
        json.dumps({"version": 1, "tokenizer": "text", "index_tag": "old", "files": entries}))

    reads: list[str] = []
    corpus = FileCorpus(tmp_path / "cache", lambda key, path: reads.append(key) or _reader(key, path))
    corpus.update(files)
    assert reads == []
    assert [doc["id"] for doc, _ in corpus.search("delta", 5)] == ["two.txt"]
    saved = json.loads((tmp_path / "cache" / "manifest.json").read_text())
    assert saved["version"] == 2 and "text" not in saved["files"]["one.txt"]["docs"][0]
