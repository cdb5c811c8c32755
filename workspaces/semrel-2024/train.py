"""Baseline: cosine similarity of TF-IDF word vectors fitted on the training sentences.
It uses no gold scores at all; the training pairs are left for better models."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from evaluate import read_split, report, require_data


def main() -> None:
    require_data()
    train, test = read_split("train"), read_split("test")
    vectorizer = TfidfVectorizer(lowercase=True)
    vectorizer.fit([pair[side] for pair in train for side in ("sentence1", "sentence2")])
    first = vectorizer.transform([pair["sentence1"] for pair in test])
    second = vectorizer.transform([pair["sentence2"] for pair in test])
    # Rows are L2-normalised, so the row-wise dot product is the cosine.
    similarity = np.asarray(first.multiply(second).sum(axis=1)).ravel()

    path = Path("predictions.csv")
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "score"])
        writer.writerows((pair["id"], f"{value:.6f}") for pair, value in zip(test, similarity))
    report(path)


if __name__ == "__main__":
    main()
