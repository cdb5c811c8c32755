"""Scores predictions for the review task against the test labels of corpus.py.

    python evaluate.py [predictions.csv]   -> writes results.json, prints METRIC macro_f1=...
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from sklearn.metrics import f1_score

from corpus import LABELS, load_split

METRIC = "macro_f1"


class EvaluationError(Exception):
    """Predictions that cannot be scored."""


def read_predictions(path: Path, count: int) -> list[str]:
    if not path.is_file():
        raise EvaluationError(f"{path}: no such predictions file")
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    if not rows or [cell.strip() for cell in rows[0]] != ["id", "label"]:
        raise EvaluationError(f"{path}: the first line must be the header 'id,label'")
    predicted: dict[int, str] = {}
    for line, row in enumerate(rows[1:], start=2):
        try:
            key, label = int(row[0]), row[1].strip()
        except (IndexError, ValueError):
            raise EvaluationError(f"{path}: line {line}: expected an integer id and a label, got {row}") from None
        if label not in LABELS:
            raise EvaluationError(f"{path}: line {line}: label '{label}' is not one of {', '.join(LABELS)}")
        if not 0 <= key < count:
            raise EvaluationError(f"{path}: line {line}: id {key} is outside 0..{count - 1}")
        if key in predicted:
            raise EvaluationError(f"{path}: line {line}: id {key} appears twice")
        predicted[key] = label
    if len(predicted) != count:
        missing = sorted(set(range(count)) - predicted.keys())
        raise EvaluationError(f"{path}: {len(missing)} of {count} test ids have no prediction (first: {missing[0]})")
    return [predicted[key] for key in range(count)]


def score(path: Path) -> float:
    _, test = load_split()
    predicted = read_predictions(Path(path), len(test))
    return float(f1_score([review.label for review in test], predicted, labels=list(LABELS), average="macro"))


def report(path: Path, results: Path = Path("results.json")) -> float:
    value = score(path)
    results.write_text(json.dumps({METRIC: value}, indent=2) + "\n", encoding="utf-8")
    print(f"METRIC {METRIC}={value:.6f}")
    return value


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else Path("predictions.csv")
    try:
        report(path)
    except EvaluationError as exc:
        print(f"evaluate.py: cannot score: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
