"""Library search speed: a BM25 index over 10,000 synthetic paper abstracts.

Run by hand: `python bench/bench_retrieval.py [--docs 10000] [--queries 100]`.
Target: under 20 ms per query (median and p99 are printed), and the index build time.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from mlr_copilot.retrieval.bm25 import BM25Index

TARGET_MS = 20.0
TOPICS = [
    "protein structure prediction", "graph neural networks", "contrastive self-supervised learning",
    "speech recognition", "reinforcement learning", "diffusion models", "language model pretraining",
    "domain adaptation", "federated learning", "neural architecture search", "object detection",
    "time series forecasting", "causal inference", "few-shot classification", "knowledge distillation",
]


def vocabulary(rng: random.Random, size: int = 8000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = set()
    while len(words) < size:
        words.add("".join(rng.choice(letters) for _ in range(rng.randint(3, 11))))
    return sorted(words)


def abstract(rng: random.Random, words: list[str], weights: list[float]) -> str:
    topic = rng.choice(TOPICS)
    body = rng.choices(words, weights=weights, k=rng.randint(120, 260))
    return f"{topic.title()} with {' '.join(body[:6])}. We study {topic}. " + " ".join(body)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args()

    rng = random.Random(7)
    words = vocabulary(rng)
    weights = [1.0 / (rank + 1) for rank in range(len(words))]  # Zipf-like, as in real prose
    docs = [(f"paper-{i}", abstract(rng, words, weights)) for i in range(args.docs)]
    queries = [
        f"{rng.choice(TOPICS)} " + " ".join(rng.choices(words, weights=weights, k=rng.randint(3, 8)))
        for _ in range(args.queries)
    ]

    start = time.perf_counter()
    index = BM25Index.build(docs)
    build_s = time.perf_counter() - start

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        index.save(Path(tmp) / "index")
        save_s = time.perf_counter() - start
        start = time.perf_counter()
        loaded = BM25Index.load(Path(tmp) / "index")
        load_s = time.perf_counter() - start
    assert loaded is not None and len(loaded) == len(docs)

    index.search(queries[0], 10)  # warm-up: first call pays one-off allocations
    latencies = []
    for query in queries:
        start = time.perf_counter()
        hits = index.search(query, 10)
        latencies.append((time.perf_counter() - start) * 1000)
        assert hits, query
    latencies.sort()
    median = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, round(0.99 * (len(latencies) - 1)))]

    print(f"documents            {len(docs):>10,}")
    print(f"index build          {build_s * 1000:>10.0f} ms")
    print(f"index save / load    {save_s * 1000:>10.0f} ms / {load_s * 1000:.0f} ms")
    print(f"query latency median {median:>10.2f} ms  (over {len(queries)} queries, k=10)")
    print(f"query latency p99    {p99:>10.2f} ms  (target < {TARGET_MS:.0f} ms)")
    verdict = "PASS" if p99 < TARGET_MS and median < TARGET_MS else "FAIL"
    print(f"result               {verdict:>10}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
