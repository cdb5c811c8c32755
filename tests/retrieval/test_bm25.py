from __future__ import annotations

import shutil
from pathlib import Path

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
