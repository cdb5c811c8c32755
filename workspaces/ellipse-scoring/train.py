"""Baseline: linear regression of the six scores on a handful of surface features of the
essay (length, word length, vocabulary variety, sentence length, lower-case "i")."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
from sklearn.linear_model import LinearRegression

from evaluate import MEASURES, read_split, report, require_data

WORD = re.compile(r"[A-Za-z']+")
SENTENCE_END = re.compile(r"[.!?]+")


def features(text: str) -> list[float]:
    words = WORD.findall(text)
    count = max(len(words), 1)
    sentences = max(len(SENTENCE_END.findall(text)), 1)
    return [
        np.log1p(len(words)),
        sum(len(word) for word in words) / count,
        len({word.lower() for word in words}) / count,
        count / sentences,
        sum(word == "i" for word in words) / count,
    ]


def main() -> None:
    require_data()
    train, test = read_split("train"), read_split("test")
    model = LinearRegression()
    model.fit([features(essay["text"]) for essay in train], [[essay[m] for m in MEASURES] for essay in train])
    # Scores are given on a 1.0-5.0 scale in half steps.
    predicted = np.clip(model.predict([features(essay["text"]) for essay in test]), 1.0, 5.0)

    path = Path("predictions.csv")
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", *MEASURES])
        writer.writerows([essay["id"], *(f"{value:.4f}" for value in row)] for essay, row in zip(test, predicted))
    report(path)


if __name__ == "__main__":
    main()
